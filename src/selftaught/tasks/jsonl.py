"""Code problems read from a JSON-lines file in the HumanEval or MBPP format.

Each line is one problem::

    {"task_id": "HumanEval/0", "prompt": "def add(a, b):\\n    \\"\\"\\"...\\"\\"\\"\\n", "entry_point": "add",
     "test": "def check(candidate):\\n    assert candidate(1, 2) == 3\\n", "canonical_solution": "    return a + b\\n"}

Fields: ``prompt`` (code the answer continues: a function header and docstring), or MBPP's ``text`` (a description;
the answer is then the whole program); the tests, either ``test`` (a program defining ``check(candidate)``) with
``entry_point``, or ``test_list`` / ``tests`` (assert statements); optional ``canonical_solution`` (or MBPP's
``code``), the reference answer; optional ``task_id`` and ``difficulty`` (an int, default 1). Optional, for the
property verifier: ``properties`` (names from ``selftaught.properties.PROPERTIES``) and ``inputs``, the type of the
entry point's argument (``"list[int]"``) or a list of types, one per argument (``["str", "int"]``); the canonical
solution, when present, is the reference, run in the sandbox like any candidate.

In a config: ``[task] name = "jsonl"`` with ``params = { path = "problems.jsonl" }`` (and optionally ``time_s``, the
wall-clock and CPU seconds a program gets for all its tests, default 5). Prompts are code with
newlines, so this task is for a student with a general tokenizer (``students/hf.py``), not the character GPT.
"""

from __future__ import annotations

import ast
import json
import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SelftaughtError
from ..sandbox import Limits, Sandbox
from ..types import Problem
from .base import Task

_STOP = ("if __name__", "print(", "assert ", "```", "# Test", "# test")
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:```|\Z)", re.S)
_TYPE = re.compile(r"\s*(int|bool|str|list\[(.+)\]|tuple\[(.+)\])\s*")


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


class JsonlProblems(Task):
    """HumanEval / MBPP-format problems from ``path``; ``check`` runs prompt + answer + tests in the sandbox."""

    name = "jsonl"
    description = "HumanEval/MBPP problems from params.path (.jsonl): a function header=its body, checked by tests"
    example_difficulty = 1

    def __init__(self, path: str, time_s: float = 5.0, sandbox: Sandbox | None = None) -> None:
        self.path = Path(path).expanduser()
        self.sandbox = sandbox
        if isinstance(time_s, bool) or not isinstance(time_s, int | float) or not 0.1 <= time_s <= 600:
            raise SelftaughtError(f"task jsonl: time_s={time_s!r} must be a number of seconds in [0.1, 600]")
        self.limits = Limits(time_s=float(time_s), cpu_s=float(time_s))  # per program, with its tests
        if not self.path.is_file():
            raise SelftaughtError(f"task jsonl: file {self.path} does not exist")
        self.records: list[dict] = []
        for number, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                self.records.append(self._record(line, number))
        if not self.records:
            raise SelftaughtError(f"task jsonl: {self.path} holds no problems")
        self._by_prompt = {r["prompt"]: r for r in self.records}
        self._by_difficulty: dict[int, list[dict]] = {}
        for r in self.records:
            self._by_difficulty.setdefault(r["difficulty"], []).append(r)
        self.min_difficulty = min(self._by_difficulty)

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
        meta: dict[str, Any] = {"task_id": name}
        tests = raw.get("test_list", raw.get("tests"))
        test, entry = raw.get("test"), raw.get("entry_point")
        if entry is not None and not (isinstance(entry, str) and entry.isidentifier()):
            raise SelftaughtError(f"{where}: problem {name!r} has entry_point {entry!r}, not a Python name")
        if isinstance(entry, str):
            meta["entry_point"] = entry
        if isinstance(test, str) and test.strip() and isinstance(entry, str):
            meta["test"] = test
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
        record = {
            "prompt": prompt,
            "code": "prompt" in raw and _is_code(prompt),
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
        from ..properties import resolve_properties

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
    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        d = self.validate_difficulty(difficulty)
        pool = self._by_difficulty.get(d)
        if not pool:
            have = ", ".join(map(str, sorted(self._by_difficulty)))
            raise ValueError(
                f"task jsonl: no problem of difficulty {d} in {self.path} (difficulties there: {have}); "
                "set task.high and loop.labelled_max to at most the highest, and eval.ahead = 0"
            )
        r = pool[rng.randrange(len(pool))]
        return Problem(self.name, d, r["prompt"], r["solution"], 0, meta=dict(r["meta"]))

    def _find(self, problem: Problem) -> dict:
        record = self._by_prompt.get(problem.prompt)
        if record is None:
            raise SelftaughtError(f"problem {problem.prompt[:60]!r} is not one of the problems in {self.path}")
        return record

    def meta_of(self, problem: Problem) -> dict:
        """The problem's tests and entry point, from the file (for a problem whose meta was not kept)."""
        return problem.meta if problem.meta else dict(self._find(problem)["meta"])

    def answer(self, problem: Problem) -> str | None:
        """The canonical solution, when the file has one."""
        return self._find(problem)["solution"]

    def program(self, problem: Problem, answer: str) -> str:
        """The program an answer stands for: the prompt followed by it (HumanEval), or the answer alone (MBPP)."""
        record = self._by_prompt.get(problem.prompt)
        code = record["code"] if record is not None else _is_code(problem.prompt)
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
        from ..verifiers.tests import problem_tests, run_jobs

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

    # ------------------------------------------------------------------------------------------------ properties
    def properties(self, problem: Problem) -> Any:
        """The problem's declared ``properties`` over inputs of its ``inputs`` type(s), with the canonical solution
        (run in the sandbox) as the reference; None when the file declares none for it."""
        from ..properties import PropertySpec

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
