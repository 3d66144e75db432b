"""Code problems read from a JSON-lines file in the HumanEval or MBPP format.

Each line is one problem::

    {"task_id": "HumanEval/0", "prompt": "def add(a, b):\\n    \\"\\"\\"...\\"\\"\\"\\n", "entry_point": "add",
     "test": "def check(candidate):\\n    assert candidate(1, 2) == 3\\n", "canonical_solution": "    return a + b\\n"}

Fields: ``prompt`` (code the answer continues: a function header and docstring), or MBPP's ``text`` (a description;
the answer is then the whole program); the tests, either ``test`` (a program defining ``check(candidate)``) with
``entry_point``, or ``test_list`` / ``tests`` (assert statements); optional ``canonical_solution`` (or MBPP's
``code``), the reference answer; optional ``task_id`` and ``difficulty`` (an int, default 1). Optional, for the
property verifier: ``properties`` (names from ``selftaught.tasks.properties.PROPERTIES``) and ``inputs``, the type of
the entry point's argument (``"list[int]"``) or a list of types, one per argument (``["str", "int"]``); the canonical
solution, when present, is the reference, run in the sandbox like any candidate.

Prompts: a HumanEval row's ``prompt`` as it is (the answer continues it); an MBPP row's ``text`` followed by the
function to write (its signature, from ``code`` when given) and its tests, the way MBPP is evaluated::

    Write a python function to remove first and last occurrence of a given character from the string.
    Your code should define remove_Occ(s, ch) and pass these tests:
    assert remove_Occ("hello","l") == "heo"
    assert remove_Occ("abcda","a") == "bcd"
    assert remove_Occ("PHP","P") == "H"

(the answer is then the whole program).

A file is split into training and held-out problems, as a benchmark is: ``held_out`` problems of each difficulty (a
share in (0, 1), at least one problem; or a whole number, a count per difficulty; default 0.2) are kept back for
evaluation, chosen at random from ``split_seed`` (default: the run's seed). ``sample`` (round 0's labelled problems,
every later round's self-labelled ones) draws from the training part only; ``held_out(d)`` gives the held-out
problems, and the run's evaluation problems (the store's ``eval`` problems, each with its ``task_id`` in its meta)
are exactly those, each once. A split that leaves no training problem at some difficulty is a one-line error.
``held_out = 0`` turns the split off: evaluation then measures problems trained on (memorisation), which is for
checking a file, not for measuring a model. A run refuses to draw more labelled problems (``loop.labelled_problems``)
than the training part holds unless ``repeat = true`` lets it draw them over and over.

Hindsight relabelling (``probe`` / ``relabel``): a problem whose tests are all shown in its prompt and are all data
tests, ``assert CALL == LITERAL``, is re-posed with a failed attempt's own values of the calls as the expected ones.

In a config: ``[task] name = "jsonl"`` with ``params = { path = "problems.jsonl" }`` (and optionally ``time_s``, the
wall-clock and CPU seconds a program gets for all its tests, default 5; ``held_out``, ``split_seed``, ``repeat``).
Prompts are code with newlines, so this task is for a student whose tokenizer has them (``students/hf.py``), not the
character GPT (a run refuses a task whose text its student cannot encode).
"""

from __future__ import annotations

import ast
import builtins
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.sandbox import Limits, Sandbox
from selftaught.sandbox.jobs import problem_tests, run_jobs
from selftaught.seeding import rng_for
from selftaught.tasks.base import Task
from selftaught.types import NO_VALUE, Problem

_STOP = ("if __name__", "print(", "assert ", "```", "# Test", "# test")
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:```|\Z)", re.S)
_TYPE = re.compile(r"\s*(int|bool|str|list\[(.+)\]|tuple\[(.+)\])\s*")
HINDSIGHT = "+hindsight"  # the mark on a relabelled problem's task_id


def strategy_for(spec: str, where: str) -> Any:
    """A Hypothesis strategy for a type written as ``int``, ``bool``, ``str``, ``list[T]`` or ``tuple[T, ...]``."""
    from hypothesis import strategies as st

    m = _TYPE.fullmatch(spec)
    if m is None:
        raise SelftaughtError(f"{where}: input type {spec!r} is not int, bool, str, list[T] or tuple[T, U, ...]")
    head = m.group(1)
    if head == "int":
        return st.integers(-10, 10)
    if head == "bool":
        return st.booleans()
    if head == "str":
        return st.text("abcdefghijklmnopqrstuvwxyz ", max_size=10)
    if m.group(2) is not None:
        return st.lists(strategy_for(m.group(2), where), max_size=6)  # short lists already break most programs
    return st.tuples(*(strategy_for(part, where) for part in _split_types(m.group(3))))


def _split_types(text: str) -> list[str]:
    """'int, list[int]' -> ['int', 'list[int]'] (commas inside brackets kept)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def _is_code(text: str) -> bool:
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def mbpp_prompt(text: str, signature: str, tests: Sequence[str]) -> str:
    """An MBPP row's prompt: its description, the function to write and the tests it must pass, one a line (the
    tests come last, so a relabelled problem shows its own tests in their place)."""
    head = f"{text.strip()}\nYour code should define {signature} and pass these tests:\n"
    return head + _test_block(tests)


def _test_block(tests: Sequence[str]) -> str:
    return "".join(f"{t.strip()}\n" for t in tests)


def _signature(tests: Sequence[str], solution: str | None, entry: str | None) -> str:
    """``name(args)`` of the function an MBPP row asks for, from its reference code when it has one; else its name
    (the ``entry_point``, or the first function the tests call that is not a built-in)."""
    called: list[str] = []
    for test in tests:
        try:
            tree = ast.parse(test)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in called:
                called.append(node.func.id)
    defined: dict[str, ast.FunctionDef] = {}
    if solution:
        try:
            tree = ast.parse(solution)
        except (SyntaxError, ValueError):
            tree = None
        for node in tree.body if tree is not None else []:
            if isinstance(node, ast.FunctionDef):
                defined.setdefault(node.name, node)
    names = [entry] if entry else [n for n in called if n in defined] or [n for n in called if n not in _BUILTINS]
    if not names:
        return "the function"
    node = defined.get(names[0])
    return f"{names[0]}({ast.unparse(node.args)})" if node is not None else names[0]


_BUILTINS = frozenset(dir(builtins))


def _data_test(test: str) -> tuple[ast.Call, Any, str] | None:
    """(the call, its expected value, the call's source) when ``test`` is one ``assert CALL == LITERAL``."""
    try:
        tree = ast.parse(test.strip())
    except (SyntaxError, ValueError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.Assert) or tree.body[0].msg is not None:
        return None
    cmp = tree.body[0].test
    if not (isinstance(cmp, ast.Compare) and len(cmp.ops) == 1 and isinstance(cmp.ops[0], ast.Eq)):
        return None
    if not isinstance(cmp.left, ast.Call):
        return None
    try:
        expected = ast.literal_eval(cmp.comparators[0])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    source = ast.get_source_segment(test.strip(), cmp.left) or ast.unparse(cmp.left)
    return cmp.left, expected, source


_NOT_LITERAL = object()


def _literal_arguments(call: ast.Call) -> list[Any]:
    """The value of each positional argument of ``call`` (``_NOT_LITERAL`` where it is not a literal)."""
    values = []
    for arg in call.args:
        try:
            values.append(_NOT_LITERAL if isinstance(arg, ast.Starred) else ast.literal_eval(arg))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            values.append(_NOT_LITERAL)
    return values


def _projection(calls: Sequence[ast.Call], outputs: Sequence[Any]) -> bool:
    """Whether every output is its call's argument at one same position: the identity (for a function of one
    argument), or a function that hands back one of its arguments unchanged."""
    args = [_literal_arguments(call) for call in calls]
    width = min(len(a) for a in args)
    return any(
        all(a[i] is not _NOT_LITERAL and o == a[i] for a, o in zip(args, outputs, strict=True)) for i in range(width)
    )


def _same(a: Any, b: Any) -> bool:
    """Equal as data: same value and same type all the way down (1, 1.0 and True are three values)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _literal(value: Any) -> str | None:
    """``repr(value)`` when it reads back as the same value (so it can stand in a test); else None (nan, inf)."""
    text = repr(value)
    try:
        back = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return text if _same(back, value) else None


class JsonlProblems(Task):
    """HumanEval / MBPP-format problems from ``path``; ``check`` runs prompt + answer + tests in the sandbox."""

    name = "jsonl"
    description = "HumanEval/MBPP problems from params.path (.jsonl): a function header=its body, checked by tests"
    example_difficulty = 1

    def __init__(
        self,
        path: str,
        time_s: float = 5.0,
        held_out: float = 0.2,
        split_seed: int | None = None,
        repeat: bool = False,
        run_seed: int = 0,
        sandbox: Sandbox | None = None,
    ) -> None:
        """``held_out``: a share (0 < s < 1) or a count per difficulty of problems kept back for evaluation (0: no
        split); ``split_seed``: the seed of the split (default ``run_seed``, which the loop sets to the run's seed);
        ``repeat``: let a run draw more labelled problems than the training part holds."""
        self.path = Path(path).expanduser()
        self.sandbox = sandbox
        if isinstance(time_s, bool) or not isinstance(time_s, int | float) or not 0.1 <= time_s <= 600:
            raise SelftaughtError(f"task jsonl: time_s={time_s!r} must be a number of seconds in [0.1, 600]")
        if not isinstance(repeat, bool):
            raise SelftaughtError(f"task jsonl: repeat={repeat!r} must be true or false")
        for name, value in (("split_seed", split_seed), ("run_seed", run_seed)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise SelftaughtError(f"task jsonl: {name}={value!r} must be a whole number")
        self.limits = Limits(time_s=float(time_s), cpu_s=float(time_s))  # per program, with its tests
        if not self.path.is_file():
            raise SelftaughtError(f"task jsonl: file {self.path} does not exist")
        self.records: list[dict] = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                self.records.append(self._record(line, number))
        if not self.records:
            raise SelftaughtError(f"task jsonl: {self.path} holds no problems")
        self._by_prompt: dict[str, dict] = {}
        for r in self.records:
            self._by_prompt.setdefault(r["prompt"], r)  # a prompt written twice is the first one's problem
        self._by_difficulty: dict[int, list[dict]] = {}
        for r in self.records:
            self._by_difficulty.setdefault(r["difficulty"], []).append(r)
        self.min_difficulty = min(self._by_difficulty)
        self.repeat = repeat
        self.split_seed = run_seed if split_seed is None else split_seed
        self.held_share = held_out
        self._train, self._held = self._split(held_out, self.split_seed)

    def _split(self, held_out: float, seed: int) -> tuple[dict[int, list[dict]], dict[int, list[dict]] | None]:
        """Each difficulty's distinct problems (by prompt, first kept) cut at random into (training, held-out);
        ``None`` for the held-out part when ``held_out`` is 0 (no split)."""
        ok = not isinstance(held_out, bool) and isinstance(held_out, int | float)
        if ok and isinstance(held_out, float) and held_out >= 1:
            ok = held_out.is_integer()
        if not ok or held_out < 0:
            raise SelftaughtError(
                f"task jsonl: held_out={held_out!r} must be a share in (0, 1) or a count of problems per difficulty"
            )
        train: dict[int, list[dict]] = {}
        held: dict[int, list[dict]] = {}
        for d, records in sorted(self._by_difficulty.items()):
            distinct = [r for r in records if self._by_prompt[r["prompt"]] is r]
            if held_out == 0:
                train[d] = distinct
                continue
            n = len(distinct)
            k = max(1, round(held_out * n)) if held_out < 1 else int(held_out)
            if k >= n:
                raise SelftaughtError(
                    f"task jsonl: held_out = {held_out!r} holds out {k} of the {n} distinct problem(s) of difficulty "
                    f"{d} in {self.path}, leaving none to train on; lower held_out or add problems"
                )
            order = list(range(n))
            rng_for(seed, "jsonl-split", d).shuffle(order)
            out = set(order[:k])
            held[d] = [r for i, r in enumerate(distinct) if i in out]  # in file order
            train[d] = [r for i, r in enumerate(distinct) if i not in out]
        return train, (held if held_out != 0 else None)

    def _record(self, line: str, number: int) -> dict:
        where = f"{self.path} line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as e:
            raise SelftaughtError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(raw, dict):
            raise SelftaughtError(f"{where}: expected a JSON object, got {type(raw).__name__}")
        name = str(raw.get("task_id", f"line {number}"))
        prompt = raw.get("prompt", raw.get("text"))
        if not isinstance(prompt, str) or not prompt.strip():
            raise SelftaughtError(f"{where}: problem {name!r} has no 'prompt' (or 'text')")
        described = "prompt" not in raw  # MBPP: a description, shown with the function to write and its tests
        meta: dict[str, Any] = {"task_id": name}
        tests = raw.get("test_list", raw.get("tests"))
        test, entry = raw.get("test"), raw.get("entry_point")
        if entry is not None and not (isinstance(entry, str) and entry.isidentifier()):
            raise SelftaughtError(f"{where}: problem {name!r} has entry_point {entry!r}, not a Python name")
        if isinstance(entry, str):
            meta["entry_point"] = entry
        if isinstance(test, str) and test.strip() and isinstance(entry, str):
            # A HumanEval test may call helpers its prompt defines (poly, is_palindrome); a completion could redefine
            # them, so the test program defines them itself, from the trusted prompt, before its check.
            meta["test"] = _with_helpers(prompt, entry, test) if not described else test
        elif isinstance(tests, list) and tests and all(isinstance(t, str) and t.strip() for t in tests):
            setup = raw.get("test_setup_code") or ""
            meta["tests"] = [f"{setup}\n{t}" if setup.strip() else t for t in tests]
        else:
            raise SelftaughtError(
                f"{where}: problem {name!r} has no tests ('test' with 'entry_point', or a non-empty 'test_list')"
            )
        difficulty = raw.get("difficulty", 1)
        if isinstance(difficulty, bool) or not isinstance(difficulty, int) or difficulty < 1:
            raise SelftaughtError(f"{where}: problem {name!r} has difficulty {difficulty!r}, not a whole number >= 1")
        solution = raw.get("canonical_solution", raw.get("code"))
        if solution is not None and not isinstance(solution, str):
            raise SelftaughtError(f"{where}: problem {name!r} has a canonical_solution that is not a string")
        if described and "tests" in meta:
            prompt = mbpp_prompt(prompt, _signature(tests, solution, meta.get("entry_point")), tests)
        elif described:  # a description checked by a test program: the function it calls is named
            sig = _signature([], solution, meta.get("entry_point"))
            prompt = f"{prompt.strip()}\nYour code should define {sig}.\n"
        record = {
            "prompt": prompt,
            "code": not described and _is_code(prompt),
            "solution": solution,
            "difficulty": difficulty,
            "meta": meta,
            "where": where,
            "properties": raw.get("properties"),
            "inputs": raw.get("inputs"),
        }
        if record["properties"] is not None:
            self._check_properties(record, name)
        return record

    def _check_properties(self, record: dict, name: str) -> None:
        from selftaught.tasks.properties import resolve_properties

        where = f"{record['where']}: problem {name!r}"
        props = record["properties"]
        if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
            raise SelftaughtError(f"{where}: 'properties' must be a list of property names")
        try:
            resolve_properties(props)
        except SelftaughtError as e:
            raise SelftaughtError(f"{where}: {e}") from None
        inputs = record["inputs"]
        types = inputs if isinstance(inputs, list) else [inputs]
        if not types or not all(isinstance(t, str) for t in types):
            raise SelftaughtError(f"{where}: 'properties' needs 'inputs', the argument type(s), e.g. \"list[int]\"")
        for t in types:
            strategy_for(t, where)
        if "entry_point" not in record["meta"]:
            raise SelftaughtError(f"{where}: 'properties' needs 'entry_point', the function they are stated for")

    # ------------------------------------------------------------------------------------------------ problems
    def _pool(self, parts: dict[int, list[dict]], difficulty: int) -> list[dict]:
        d = self.validate_difficulty(difficulty)
        pool = parts.get(d)
        if not pool:
            have = ", ".join(map(str, sorted(self._by_difficulty)))
            raise ValueError(
                f"task jsonl: no problem of difficulty {d} in {self.path} (difficulties there: {have}); "
                "set task.high and loop.labelled_max to at most the highest, and eval.ahead = 0"
            )
        return pool

    def _problem(self, r: dict) -> Problem:
        return Problem(self.name, r["difficulty"], r["prompt"], r["solution"], 0, meta=dict(r["meta"]))

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        """A training problem of ``difficulty`` (never a held-out one)."""
        pool = self._pool(self._train, difficulty)
        return self._problem(pool[rng.randrange(len(pool))])

    def held_out(self, difficulty: int) -> list[Problem] | None:
        """The held-out problems of ``difficulty``, in file order; None when the split is off (``held_out = 0``)."""
        if self._held is None:
            return None
        return [self._problem(r) for r in self._pool(self._held, difficulty)]

    def size(self, difficulty: int) -> int | None:
        """The number of training problems of ``difficulty``; None with ``repeat = true``."""
        if self.repeat:
            return None
        d = self.validate_difficulty(difficulty)
        return len(self._train.get(d, []))

    def _find(self, problem: Problem) -> dict:
        record = self._by_prompt.get(problem.prompt)
        if record is None:
            raise SelftaughtError(f"problem {problem.prompt[:60]!r} is not one of the problems in {self.path}")
        return record

    def meta_of(self, problem: Problem) -> dict:
        """The problem's tests and entry point, from the file (for a problem whose meta was not kept)."""
        return problem.meta if problem.meta else dict(self._find(problem)["meta"])

    def answer(self, problem: Problem) -> str | None:
        """The canonical solution, when the file has one (for a relabelled problem: the attempt it was made from)."""
        if problem.prompt not in self._by_prompt and _relabelled(problem):
            return problem.target
        return self._find(problem)["solution"]

    def program(self, problem: Problem, answer: str) -> str:
        """The program an answer stands for: the prompt followed by it (HumanEval), or the answer alone (MBPP)."""
        record = self._by_prompt.get(problem.prompt)
        if record is not None:
            code = record["code"]
        else:
            code = not _relabelled(problem) and _is_code(problem.prompt)
        return problem.prompt + answer if code else answer

    def extract(self, completion: str) -> str:
        """The code in a completion: the first fenced block if there is one, cut before the first top-level line
        that starts a test or a script (``if __name__``, ``print(``, ``assert``, a closing fence)."""
        m = _FENCE.search(completion)
        text = m.group(1) if m else completion
        lines = text.split("\n")
        for i, line in enumerate(lines):
            if i and line.startswith(_STOP):
                lines = lines[:i]
                break
        return "\n".join(lines).rstrip() + "\n"

    def check(self, problem: Problem, answer: str) -> float:
        return self.check_many([(problem, answer)])[0]

    def check_many(self, items: Sequence[tuple[Problem, str]]) -> list[float]:
        """The share of each answer's tests passed (a HumanEval test program is one test), all run in parallel."""
        jobs = []
        for problem, answer in items:
            tests, entry = problem_tests(problem, self.meta_of(problem))
            jobs.append((self.program(problem, answer), tests, entry))
        return [r.reward for r in run_jobs(jobs, self.sandbox, self.limits)]

    def plausible(self, problem: Problem, answer: str) -> bool:
        """The program it makes parses as Python and the answer is no longer than ``max_answer_len``."""
        return (
            bool(answer.strip())
            and len(answer) <= self.max_answer_len(problem.difficulty)
            and _is_code(self.program(problem, answer))
        )

    def max_answer_len(self, difficulty: int) -> int:
        """Twice the longest canonical solution at this difficulty, and at least 1,024 characters."""
        d = self.validate_difficulty(difficulty)
        longest = max((len(r["solution"] or "") for r in self._by_difficulty.get(d, [])), default=0)
        return max(1024, 2 * longest)

    # ------------------------------------------------------------------------------------------------ hindsight
    def _data_tests(self, problem: Problem) -> list[tuple[ast.Call, Any, str]] | None:
        """The problem's tests as (call, expected, call source) when every one is ``assert CALL == LITERAL`` and
        the prompt shows them all, at its end (an MBPP-style row); else None (a HumanEval ``check`` program, tests
        with set-up code, or tests the prompt does not show)."""
        meta = self.meta_of(problem)
        tests = meta.get("tests")
        if "test" in meta or not isinstance(tests, list) or not tests:
            return None
        if not all(isinstance(t, str) for t in tests) or not problem.prompt.endswith(_test_block(tests)):
            return None
        parsed = [_data_test(t) for t in tests]
        return None if any(p is None for p in parsed) else parsed  # type: ignore[return-value]

    def probe(self, problem: Problem) -> list[str] | None:
        """The call of each data test (``assert CALL == LITERAL``), in order; None when the tests are not all such
        tests shown in the prompt (HumanEval's ``check`` programs among them)."""
        parsed = self._data_tests(problem)
        return None if parsed is None else [source for _, _, source in parsed]

    def relabel(self, problem: Problem, answer: str, outputs: Sequence[Any]) -> Problem | None:
        """The problem ``answer`` solves: the same calls with its own outputs as the expected values (tests
        ``assert CALL == repr(output)``, shown in the rebuilt prompt), ``answer`` as the target, the record's
        difficulty, and ``task_id`` marked ``+hindsight``. None when degenerate: a call without a value
        (``NO_VALUE``), one output for every call (constant, or a single test), every output equal to its call's
        argument at one position (the identity, or an argument handed back unchanged), the original expected
        values (no failure), or an output that cannot be written as a literal (nan)."""
        parsed = self._data_tests(problem)
        if parsed is None or len(outputs) != len(parsed):
            return None
        outputs = list(outputs)
        if any(o is NO_VALUE for o in outputs):
            return None
        if all(o == outputs[0] for o in outputs[1:]):
            return None
        if _projection([call for call, _, _ in parsed], outputs):
            return None
        if all(o == expected for (_, expected, _), o in zip(parsed, outputs, strict=True)):
            return None
        literals = [_literal(o) for o in outputs]
        if any(text is None for text in literals):
            return None
        tests = [f"assert {source} == {text}" for (_, _, source), text in zip(parsed, literals, strict=True)]
        old_block = _test_block(self.meta_of(problem)["tests"])
        prompt = problem.prompt[: len(problem.prompt) - len(old_block)] + _test_block(tests)
        meta = dict(self.meta_of(problem))
        name = str(meta.get("task_id", ""))
        meta["tests"] = tests
        meta["task_id"] = name if name.endswith(HINDSIGHT) else name + HINDSIGHT
        return Problem(problem.task, problem.difficulty, prompt, answer, 0, problem.params, meta)

    # ------------------------------------------------------------------------------------------------ properties
    def properties(self, problem: Problem) -> Any:
        """The problem's declared ``properties`` over inputs of its ``inputs`` type(s), with the canonical solution
        (run in the sandbox) as the reference; None when the file declares none for it."""
        from selftaught.tasks.properties import PropertySpec

        if problem.prompt not in self._by_prompt and _relabelled(problem):
            return None  # the file's properties and reference are those of the original problem
        record = self._find(problem)
        if record["properties"] is None:
            return None
        inputs = record["inputs"]
        entry = record["meta"]["entry_point"]
        unpack = isinstance(inputs, list)
        types = inputs if unpack else [inputs]
        strategies = [strategy_for(t, record["where"]) for t in types]
        if unpack:
            from hypothesis import strategies as st

            strategy = st.tuples(*strategies)
        else:
            strategy = strategies[0]
        solution = record["solution"]
        return PropertySpec(
            strategy=strategy,
            checks=tuple(record["properties"]),
            reference_program=None if solution is None else self.program(problem, solution),
            program=lambda answer: self.program(problem, answer),
            entry_point=entry,
            unpack=unpack,
            arg_names=_arg_names((problem.prompt, solution or ""), entry, len(types)),
        )


def _with_helpers(prompt: str, entry: str, test: str) -> str:
    """``test`` after what the code ``prompt`` defines besides the function to write (imports, helpers, constants),
    so the test calls the prompt's own helpers, not the candidate's; ``test`` alone when there is nothing else or
    the prompt does not parse. The entry point stays the program's: a test may call it by name (HumanEval/33)."""
    try:
        tree = ast.parse(prompt)
    except (SyntaxError, ValueError):
        return test
    kept = [n for n in tree.body if not (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry)]
    if not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Assign) for n in kept):
        return test
    return f"{ast.unparse(ast.Module(body=kept, type_ignores=[]))}\n\n{test}"


def _relabelled(problem: Problem) -> bool:
    return bool(problem.meta) and str(problem.meta.get("task_id", "")).endswith(HINDSIGHT)


def _arg_names(sources: Sequence[str], entry: str, n: int) -> tuple[str, ...]:
    """The entry point's parameter names as the prompt (or else the solution) declares them ('x', 'arg0', ...
    when neither does)."""
    for source in sources:
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name == entry and len(node.args.args) == n:
                return tuple(a.arg for a in node.args.args)
    return ("x",) if n == 1 else tuple(f"arg{i}" for i in range(n))
