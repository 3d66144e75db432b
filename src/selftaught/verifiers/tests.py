"""The tests verifier: run each attempt against the problem's tests in the sandbox; reward = the share passed.

A problem carries its tests in ``problem.meta``: ``"tests"``, a list of assert statements (or expressions, each
asserted), or HumanEval style ``"test"``, a program defining ``check(candidate)``, with ``"entry_point"``, the name
of the function it is called with. The program run is ``task.program(problem, attempt)`` when the task defines it
(for an expression task: a function around the expression; for HumanEval: the prompt followed by the completion),
else the attempt itself. Attempts run only in the sandbox, never in this process.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import SelftaughtError
from ..sandbox import Limits, Result, Sandbox
from ..sandbox_shared import shared_sandbox
from ..types import Problem, Verdict
from .base import Score, Verifier, with_mean_reward

_FEEDBACK_CHARS = 600

Job = tuple[str, Any, str | None]  # (program, tests, entry_point), as Sandbox.run_many takes them


def problem_meta(problem: Problem, task: Any = None) -> dict:
    """``problem.meta``, or what the task rebuilds for a problem that lost it (``task.meta_of``), or ``{}``."""
    if problem.meta:
        return problem.meta
    rebuild = getattr(task, "meta_of", None)
    if callable(rebuild):
        return rebuild(problem) or {}
    return {}


def problem_tests(problem: Problem, meta: dict, key: str = "tests") -> tuple[list[str] | str, str | None]:
    """The tests to run and the entry point: ``meta[key]`` (asserts), else ``meta["test"]`` + ``meta["entry_point"]``.

    A problem with neither is a one-line ``SelftaughtError`` naming it.
    """
    tests = meta.get(key)
    if isinstance(tests, list) and tests and all(isinstance(t, str) for t in tests):
        return list(tests), None
    test, entry = meta.get("test"), meta.get("entry_point")
    if key == "tests" and isinstance(test, str) and test.strip() and isinstance(entry, str) and entry.isidentifier():
        return test, entry
    where = problem.meta.get("task_id") if problem.meta else None
    name = repr(where) if where else repr(problem.prompt[:60])
    raise SelftaughtError(
        f"problem {name} of task {problem.task!r} has no tests: meta needs {key!r} (a non-empty list of asserts)"
        + (" or 'test' with 'entry_point'" if key == "tests" else "")
    )


def program_for(task: Any, problem: Problem, answer: str) -> str:
    """The program an attempt stands for: ``task.program(problem, answer)`` when the task defines it, else itself."""
    build = getattr(task, "program", None)
    return build(problem, answer) if callable(build) else answer


def run_jobs(jobs: Sequence[Job], sandbox: Sandbox | None = None, limits: Limits | None = None) -> list[Result]:
    """Run every distinct job once (in parallel, under ``limits`` or the sandbox's) and give each job its result."""
    distinct = list(dict.fromkeys((p, t if isinstance(t, str) else tuple(t), e) for p, t, e in jobs))
    if not distinct:
        return []
    box = sandbox if sandbox is not None else shared_sandbox()
    items = [(p, t if isinstance(t, str) else list(t), e) for p, t, e in distinct]
    results = box.run_many(items) if limits is None else box.run_many(items, limits=limits)
    by_job = dict(zip(distinct, results, strict=True))
    return [by_job[(p, t if isinstance(t, str) else tuple(t), e)] for p, t, e in jobs]


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
    sandbox to use (default: the process-wide one, ``selftaught.sandbox_shared``); ``limits``: each run's limits
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
