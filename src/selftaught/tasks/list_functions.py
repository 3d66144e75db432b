"""List functions: find a Python expression in ``x`` that maps the shown input lists to the shown output lists.

A problem hides a composition of ``difficulty`` list primitives (reverse, sort, add k to each element, keep the
even / odd / greater-than-k elements, take or drop the first k) and shows four input/output examples::

    L:[3,1,2]>[1,2] [5,0,4]>[0,4] [7,7]>[7] [9,2,6,1]>[1,2]=

Any expression that maps every input to its output is right (``sorted(x)[:2]``, ``sorted(x)[0:2]``, ...), so the
``target`` is only one canonical expression. ``meta["tests"]`` holds the shown examples as asserts (what the ``tests``
verifier checks: the self-labelling signal, visible in the prompt); ``meta["hidden"]`` holds 16 more inputs, which
``check``, the oracle, runs as well (for the record and the evaluation only). Each primitive of a composition is
needed: leaving any one out changes at least one shown output; and each is pinned down: no other primitive or
constant in its place fits the shown examples but not the hidden tests (so a learner can get every problem right).
Attempts run in the sandbox, never here.
"""

from __future__ import annotations

import ast
import random
import re
import zlib
from collections.abc import Callable, Sequence
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.sandbox.jobs import run_jobs
from selftaught.tasks.base import Fix, Task, printable
from selftaught.tasks.list_compositions import (
    FILTERS,
    KINDS,
    MAX_DEPTH,
    Op,
    apply,
    expression,
    kind_of,
    known,
    minimal,
    ops_of,
    pinned,
)
from selftaught.tasks.properties import PropertySpec
from selftaught.types import Problem

_SHOWN = 4
_HIDDEN = 16
_PROMPT_CHARS = 120
_MARKER = "L:"
# Names an answer may use besides ``x`` and the variables its comprehensions and lambdas bind.
ALLOWED_NAMES = frozenset(
    "sorted reversed list len sum min max abs range filter map enumerate zip all any set tuple int bool".split()
)
_EXAMPLE = re.compile(r"(\[[0-9,]*\])>(\[[0-9,]*\])")
# The tests verifier's feedback on a wrong output: "failed: f([6,3,1]) == [1,3]: got [3, 1] == [1, 3]".
_GOT = re.compile(r"f\((\[[0-9, ]*\])\) == \[[0-9, ]*\]: got (.*?) == \[")
_ERROR = re.compile(r"\b([A-Z][A-Za-z]*Error)\b")


def _show(xs: list[int]) -> str:
    return "[" + ",".join(map(str, xs)) + "]"


def _assert(xs: list[int], ys: list[int]) -> str:
    return f"f({_show(xs)}) == {_show(ys)}"


def _hidden_inputs(prompt: str) -> list[list[int]]:
    """16 inputs drawn from the prompt's own hash, so that a problem rebuilt from its prompt has the same ones."""
    rng = random.Random(zlib.crc32(prompt.encode()))
    inputs = [[]]
    while len(inputs) < _HIDDEN:
        inputs.append([rng.randrange(10) for _ in range(rng.randint(1, 8))])
    return inputs


class ListFunctions(Task):
    """Infer a composition of ``difficulty`` list primitives (1..6) from four examples; answer with an expression."""

    name = "list-functions"
    description = "an expression in x for the examples: L:[3,1,2]>[1,2,3] [5,0]>[0,5]=sorted(x)"
    example_difficulty = 3
    unique_answer = False  # many expressions compute one function

    # An expression over a list of at most 8 digits takes microseconds; a run that takes seconds is stuck.
    limits = Limits(time_s=2.0, cpu_s=2.0)

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox

    # ------------------------------------------------------------------------------------------------ problems
    def _compose(self, rng: random.Random, depth: int) -> list[Op]:
        kinds = rng.sample(KINDS, depth)
        ops: list[Op] = []
        for kind in kinds:
            if kind == "add":
                ops.append(("add", rng.randint(1, 3)))
            elif kind == "filter":
                f = rng.choice(FILTERS)
                ops.append(("gt", rng.randint(1, 6)) if f == "gt" else (f,))
            elif kind in ("take", "drop"):
                ops.append((kind, rng.randint(1, 3)))
            else:
                ops.append((kind,))
        return ops

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        depth = self.validate_difficulty(difficulty)
        if depth > MAX_DEPTH:
            raise ValueError(
                f"difficulty {depth} out of range for task {self.name} (1..{MAX_DEPTH}): "
                f"keep task.high + eval.ahead <= {MAX_DEPTH}"
            )
        for _ in range(10_000):
            ops = self._compose(rng, depth)
            inputs = [[rng.randrange(10) for _ in range(rng.randint(2, 5))] for _ in range(_SHOWN)]
            outputs = [apply(ops, xs) for xs in inputs]
            needed = all(
                any(apply(ops[:i] + ops[i + 1 :], xs) != ys for xs, ys in zip(inputs, outputs, strict=True))
                for i in range(depth)
            )
            prompt = _MARKER + " ".join(f"{_show(a)}>{_show(b)}" for a, b in zip(inputs, outputs, strict=True)) + "="
            if (
                needed
                and len(set(map(tuple, inputs))) == _SHOWN
                and len(prompt) <= _PROMPT_CHARS
                and pinned(ops, inputs, _hidden_inputs(prompt))
            ):
                target = expression(ops)
                return Problem(self.name, depth, prompt, target, 0, meta=self._meta(prompt, ops))
        raise RuntimeError(f"no list-functions problem of depth {depth} found")  # not reached in practice

    def _examples(self, prompt: str) -> list[tuple[list[int], list[int]]]:
        body = prompt[len(_MARKER) : -1]
        parts = body.split(" ")
        matches = [_EXAMPLE.fullmatch(p) for p in parts]
        if not (prompt.startswith(_MARKER) and prompt.endswith("=") and parts and all(matches)):
            raise self._bad_prompt(prompt)
        parse = lambda s: [int(v) for v in s[1:-1].split(",") if v]  # noqa: E731
        return [(parse(m.group(1)), parse(m.group(2))) for m in matches]

    def _meta(self, prompt: str, ops: Sequence[Sequence[Any]]) -> dict:
        return {
            "tests": [_assert(xs, ys) for xs, ys in self._examples(prompt)],
            "hidden": [_assert(xs, apply(ops, xs)) for xs in _hidden_inputs(prompt)],
            "ops": [list(op) for op in ops],
        }

    def meta_of(self, problem: Problem) -> dict:
        """The problem's meta, rebuilt from its prompt and canonical target when it was not kept."""
        if problem.meta and "ops" in problem.meta:
            return problem.meta
        if problem.target is None:
            raise SelftaughtError(f"list-functions problem {problem.prompt!r} has neither meta nor target")
        return self._meta(problem.prompt, ops_of(problem.target))

    def _ops(self, problem: Problem) -> list[Op]:
        return [tuple(op) for op in self.meta_of(problem)["ops"]]

    # ------------------------------------------------------------------------------------------------ answers
    def answer(self, problem: Problem) -> str:
        """The canonical expression (one of many right answers; ``check`` accepts any)."""
        return expression(self._ops(problem))

    def program(self, problem: Problem, answer: str) -> str:
        """The source the sandbox runs for an answer: a function ``f`` of ``x`` returning it."""
        return f"def f(x):\n    return {answer}\n"

    def extract(self, completion: str) -> str:
        """The expression inside a completion: fences, ``return``, ``f(x) =`` and surrounding space removed."""
        text = completion.strip()
        fenced = re.search(r"```[a-zA-Z]*\n?(.*?)(```|$)", text, re.S)
        if fenced:
            text = fenced.group(1).strip()
        text = text.splitlines()[0].strip() if text else ""
        for prefix in ("return ", "f(x) = ", "f(x)=", "lambda x:"):
            if text.startswith(prefix):
                text = text[len(prefix) :].strip()
        return text

    def check(self, problem: Problem, answer: str) -> float:
        return self.check_many([(problem, answer)])[0]

    def check_many(self, items: Sequence[tuple[Problem, str]]) -> list[float]:
        """The share of shown and hidden tests passed, run in the sandbox (all items in parallel)."""
        jobs = []
        for problem, answer in items:
            meta = self.meta_of(problem)
            jobs.append((self.program(problem, answer), list(meta["tests"]) + list(meta["hidden"]), None))
        return [r.reward for r in run_jobs(jobs, self.sandbox, self.limits)]

    def plausible(self, problem: Problem, answer: str) -> bool:
        """One Python expression of printable ASCII, no longer than a depth's answer can be, that uses ``x`` and
        otherwise only ``ALLOWED_NAMES``, the variables it binds itself, and attributes not starting with '_'."""
        self._examples(problem.prompt)  # a prompt of another task is an error, not an implausible answer
        if not answer or len(answer) > self.max_answer_len(problem.difficulty):
            return False
        if not all(32 <= ord(ch) <= 126 for ch in answer):
            return False
        return uses_only_allowed(answer)

    def max_answer_len(self, difficulty: int) -> int:
        """Enough for every canonical expression of ``difficulty`` primitives (24 at 1, 40 at 3), with room for
        equivalent answers that spell a step longer."""
        difficulty = self.validate_difficulty(difficulty)
        return 16 + 8 * difficulty

    def refine_prompt(
        self,
        problem: Problem,
        attempt: str | None,
        feedback: str,
        memory: Sequence[Fix] = (),
        feedback_chars: int = 80,
    ) -> str:
        """The refine prompt in the task's own notation: earlier fixes as ``~failed=>fixed``, the previous attempt
        as ``!attempt:[input]>[what it gave]`` (the first failing example, written like the prompt's examples) or
        ``!attempt:SomeError``, then the problem's prompt::

            ~x[::-1]=>sorted(x)[::-1] !sorted(x):[6,3,1]>[1,3,6] L:[6,3,1]>[6,3,1] [2,5]>[5,2]=
        """
        head = [f"~{printable(m.failed)}=>{printable(m.fixed)}" for m in memory]
        if attempt is not None:
            head.append(f"!{printable(attempt)}:{self._brief(feedback, feedback_chars)}")
        return " ".join([*head, problem.prompt]) if head else problem.prompt

    @staticmethod
    def _brief(feedback: str, limit: int) -> str:
        """The tests verifier's feedback, short: ``[input]>[output]`` for a wrong output, else the error's name,
        else the feedback itself on one line; at most ``limit`` characters."""
        got, error = _GOT.search(feedback), _ERROR.search(feedback)
        if got:
            brief = f"{got.group(1)}>{got.group(2)}".replace(" ", "")
        elif error:
            brief = error.group(1)
        else:
            brief = printable(feedback)
        return printable(brief, limit)

    # ------------------------------------------------------------------------------------------------ hindsight
    def _inputs(self, problem: Problem) -> list[list[int]]:
        """The shown inputs, then the hidden ones (as the problem's meta has them, else drawn from its prompt)."""
        shown = [xs for xs, _ in self._examples(problem.prompt)]
        meta = problem.meta or {}
        if "hidden_inputs" in meta:
            return shown + [list(xs) for xs in meta["hidden_inputs"]]
        return shown + _hidden_inputs(problem.prompt)

    def probe(self, problem: Problem) -> list[str]:
        """``f(xs)`` for each shown input, then each hidden one: what ``relabel`` needs an attempt's values of."""
        return [f"f({_show(xs)})" for xs in self._inputs(problem)]

    def compose(self, inner: str, outer: str) -> str | None:
        """``outer`` applied to ``inner``'s result, as one canonical expression (the two compositions end to end);
        None unless both are compositions of this task's primitives with no kind repeated."""
        try:
            ops = [tuple(op) for op in (*ops_of(inner), *ops_of(outer))]
        except SelftaughtError:
            return None
        kinds = [kind_of(op) for op in ops]
        if not ops or any(not known(op) for op in ops) or len(set(kinds)) != len(kinds):
            return None
        return expression(ops)

    def relabel(self, problem: Problem, answer: str, outputs: Sequence[Any]) -> Problem | None:
        """The problem ``answer`` does solve: the same inputs with its own outputs as the shown examples and the
        hidden tests, at the depth of the composition it is; None where that problem is degenerate.

        Refused: a call that gave no list of digits-sized ints (an error, a value of another type or a negative
        number), a constant output, the identity, an answer that is not a composition of the task's primitives
        (each kind at most once, as problems are drawn), a composition whose steps the shown examples do not each
        need and pin down (the rule ``sample`` applies), and a prompt longer than the task's."""
        inputs = self._inputs(problem)
        if len(outputs) != len(inputs) or not all(_digit_list(v) for v in outputs):
            return None
        outputs = [list(v) for v in outputs]
        if all(v == outputs[0] for v in outputs) or all(v == xs for v, xs in zip(outputs, inputs, strict=True)):
            return None
        try:
            ops = [tuple(op) for op in ops_of(answer)]
        except SelftaughtError:
            return None
        if any(not known(op) for op in ops) or any(apply(ops, xs) != ys for xs, ys in zip(inputs, outputs)):
            return None  # a step this task does not have, or (a bug elsewhere) outputs the program cannot give
        ops = minimal(ops, inputs)
        shown_in, hidden_in = inputs[:_SHOWN], inputs[_SHOWN:]
        kinds = [kind_of(op) for op in ops]
        if not ops or len(set(kinds)) != len(kinds) or len(ops) > MAX_DEPTH:
            return None
        shown_out = outputs[:_SHOWN]
        needed = all(
            any(apply(ops[:i] + ops[i + 1 :], xs) != ys for xs, ys in zip(shown_in, shown_out, strict=True))
            for i in range(len(ops))
        )
        if not needed or not pinned(ops, shown_in, hidden_in):
            return None
        prompt = _MARKER + " ".join(f"{_show(a)}>{_show(b)}" for a, b in zip(shown_in, shown_out, strict=True)) + "="
        if len(prompt) > _PROMPT_CHARS or prompt == problem.prompt:
            return None
        meta = {
            "tests": [_assert(xs, ys) for xs, ys in zip(shown_in, shown_out, strict=True)],
            "hidden": [_assert(xs, apply(ops, xs)) for xs in hidden_in],
            "hidden_inputs": hidden_in,
            "ops": [list(op) for op in ops],
        }
        return Problem(problem.task, len(ops), prompt, expression(ops), 0, meta=meta)

    # ------------------------------------------------------------------------------------------------ properties
    def properties(self, problem: Problem) -> Any:
        """For the property verifier: inputs are lists of 0..9 (up to 8 long); the output must equal the hidden
        composition's (the task's own code) and have the properties the composition guarantees."""
        from hypothesis import strategies as st  # an optional dependency (the dev extra)

        ops = self._ops(problem)
        names = {op[0] for op in ops}
        checks: list[str] = ["list"]
        if "add" not in names:
            checks.append("elements")
            if names <= {"rev", "sort"}:
                checks.append("permutation")
            else:
                checks.append("no-longer")
        if ops[-1][0] == "sort":
            checks.append("sorted")
        reference: Callable[[list[int]], list[int]] = lambda xs: apply(ops, xs)  # noqa: E731
        return PropertySpec(
            strategy=st.lists(st.integers(0, 9), max_size=8),
            checks=tuple(checks),
            reference=reference,
            program=lambda answer: self.program(problem, answer),
            entry_point="f",
            arg_names=("x",),
            assume=lambda xs: isinstance(xs, list) and len(xs) <= 8 and all(0 <= v <= 9 for v in xs),
        )


def _digit_list(value: Any) -> bool:
    """A list of ints from 0 to 99 (what the prompt's notation writes), of exactly those types."""
    return type(value) is list and all(type(v) is int and 0 <= v <= 99 for v in value)


def uses_only_allowed(answer: str, allowed: frozenset[str] = ALLOWED_NAMES) -> bool:
    """Whether ``answer`` parses as one expression using ``x``, ``allowed`` names, names it binds (comprehension and
    lambda variables) and attributes that do not start with '_'."""
    try:
        tree = ast.parse(answer, mode="eval")
    except (SyntaxError, ValueError):
        return False
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension):
            bound |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.Lambda):
            bound |= {a.arg for a in node.args.args}
        elif isinstance(node, ast.NamedExpr) and isinstance(node.target, ast.Name):
            bound.add(node.target.id)
    used_x = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id == "x":
                used_x = True
            elif node.id not in allowed and node.id not in bound:
                return False
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            return False
    return used_x
