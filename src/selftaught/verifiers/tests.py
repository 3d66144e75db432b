"""The tests verifier: run each attempt against the problem's tests in the sandbox; reward = the share passed.

The tests and the program come from the problem and the task as ``selftaught.sandbox.jobs`` reads them
(``problem_tests``, ``program_for``): asserts in ``meta["tests"]``, or a HumanEval ``check`` program in
``meta["test"]`` called with ``meta["entry_point"]``; the program is ``task.program(problem, attempt)`` when the task
defines it (for an expression task: a function around the expression; for HumanEval: the prompt followed by the
completion), else the attempt itself. Attempts run only in the sandbox, never in this process; data tests
(``CALL == LITERAL``) are judged outside it, on the values the sandbox sends back (``selftaught.sandbox.jobs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selftaught.sandbox import Limits, Result, Sandbox
from selftaught.sandbox.jobs import Job, problem_meta, problem_tests, program_for, run_jobs
from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier, with_mean_reward

_FEEDBACK_CHARS = 600


def tests_feedback(result: Result, limit: int = _FEEDBACK_CHARS) -> str:
    """'tests: 1 of 3 passed; failed: assert ... (got ...)' for a result that did not pass, else ''."""
    if result.status == "passed":
        return ""
    return f"tests: {result.passed} of {result.total} passed; {result.feedback(limit)}"


class TestsVerifier(Verifier):
    """Runs each attempt against the problem's tests in the sandbox.

    An attempt's reward is the share of its tests that passed (a HumanEval test program counts as one test); it is
    accepted only when all passed; its feedback names the first failing test and its message, or the error or the
    limit that stopped it. ``score_many`` runs the whole batch's distinct programs at once over the sandbox's
    workers, so identical attempts (of one problem, or of problems with the same tests) run once. ``sandbox``: the
    sandbox to use (default: the process-wide one, ``selftaught.sandbox.shared``); ``limits``: each run's limits
    (default: the task's ``limits`` attribute when it has one, else the sandbox's).
    """

    name = "tests"
    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, task: Any = None, sandbox: Sandbox | None = None, limits: Limits | None = None) -> None:
        self.task = task
        self.sandbox = sandbox
        self.limits = limits if limits is not None else getattr(task, "limits", None)

    def jobs(self, problem: Problem, attempts: Sequence[str]) -> list[Job]:
        tests, entry = problem_tests(problem, problem_meta(problem, self.task))
        return [(program_for(self.task, problem, a), tests, entry) for a in attempts]

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        return self.score_many([(problem, attempts)])[0]

    def score_many(self, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[Score]]:
        per_problem = [self.jobs(problem, attempts) for problem, attempts in batch]  # all tests found before any run
        results = run_jobs([job for jobs in per_problem for job in jobs], self.sandbox, self.limits)
        out: list[list[Score]] = []
        k = 0
        for jobs in per_problem:
            mine = results[k : k + len(jobs)]
            k += len(jobs)
            out.append([Score(r.reward, r.status == "passed", tests_feedback(r)) for r in mine])
        return out

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        """The most common accepted attempt; the evidence adds the attempts' mean reward."""
        return with_mean_reward(super().verdict(problem, attempts, scores), scores)

    def __repr__(self) -> str:
        return f"TestsVerifier({self.task!r})"
