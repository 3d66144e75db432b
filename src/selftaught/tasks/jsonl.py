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
from selftaught.tasks.jsonl_hindsight import is_relabelled, relabelled, shown_data_tests
from selftaught.tasks.jsonl_rows import arg_names, is_code, read_row, strategy_for
from selftaught.tasks.properties import PropertySpec
from selftaught.types import Problem

_STOP = ("if __name__", "print(", "assert ", "```", "# Test", "# test")
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:```|\Z)", re.S)


class JsonlProblems(Task):
    """HumanEval / MBPP-format problems from ``path``; ``check`` runs prompt + answer + tests in the sandbox."""

    name = "jsonl"
    description = "HumanEval/MBPP problems from params.path (.jsonl): a function header=its body, checked by tests"
    example_difficulty = 1
    unique_answer = False  # many programs pass the tests

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
                self.records.append(read_row(self.path, line, number))
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
        if problem.prompt not in self._by_prompt and is_relabelled(problem):
            return problem.target
        return self._find(problem)["solution"]

    def program(self, problem: Problem, answer: str) -> str:
        """The program an answer stands for: the prompt followed by it (HumanEval), or the answer alone (MBPP)."""
        record = self._by_prompt.get(problem.prompt)
        if record is not None:
            code = record["code"]
        else:
            code = not is_relabelled(problem) and is_code(problem.prompt)
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
            and is_code(self.program(problem, answer))
        )

    def max_answer_len(self, difficulty: int) -> int:
        """Twice the longest canonical solution at this difficulty, and at least 1,024 characters."""
        d = self.validate_difficulty(difficulty)
        longest = max((len(r["solution"] or "") for r in self._by_difficulty.get(d, [])), default=0)
        return max(1024, 2 * longest)

    # ------------------------------------------------------------------------------------------------ hindsight
    def probe(self, problem: Problem) -> list[str] | None:
        """The call of each data test (``assert CALL == LITERAL``), in order; None when the tests are not all such
        tests shown in the prompt (HumanEval's ``check`` programs among them)."""
        parsed = shown_data_tests(problem, self.meta_of(problem))
        return None if parsed is None else [source for _, _, source in parsed]

    def relabel(self, problem: Problem, answer: str, outputs: Sequence[Any]) -> Problem | None:
        """The problem ``answer`` solves: the same calls with its own outputs as the expected values (tests
        ``assert CALL == repr(output)``, shown in the rebuilt prompt), ``answer`` as the target, the record's
        difficulty, and ``task_id`` marked ``+hindsight``. None when degenerate: a call without a value
        (``NO_VALUE``), one output for every call (constant, or a single test), every output equal to its call's
        argument at one position (the identity, or an argument handed back unchanged), the original expected
        values (no failure), or an output that cannot be written as a literal (nan)."""
        return relabelled(problem, self.meta_of(problem), answer, outputs)

    # ------------------------------------------------------------------------------------------------ properties
    def properties(self, problem: Problem) -> Any:
        """The problem's declared ``properties`` over inputs of its ``inputs`` type(s), with the canonical solution
        (run in the sandbox) as the reference; None when the file declares none for it."""
        if problem.prompt not in self._by_prompt and is_relabelled(problem):
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
            from hypothesis import strategies as st  # an optional dependency (the dev extra)

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
            arg_names=arg_names((problem.prompt, solution or ""), entry, len(types)),
        )
