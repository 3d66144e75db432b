"""The oracle verifier: accepts an answer the task itself scores as correct."""

from __future__ import annotations

from collections.abc import Sequence

from selftaught.errors import SelftaughtError
from selftaught.tasks.base import Task
from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier


class OracleVerifier(Verifier):
    """Accepts the most common attempt that ``task.check`` scores 1.0; the score is the share of such attempts.

    With no attempts and a known target the problem is labelled data (round 0): the target is accepted outright.
    It is the upper bound the other verifiers are measured against, and it needs a task with an oracle.
    """

    name = "oracle"

    def __init__(self, task: Task) -> None:
        if not callable(getattr(task, "check", None)):
            raise TypeError(f"task {task!r} has no check() method for the oracle verifier")
        self.task = task

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        checked: dict[str, float] = {}
        for attempt in dict.fromkeys(attempts):  # each distinct attempt is checked once
            score = self.task.check(problem, attempt)
            if score is None:
                raise SelftaughtError(
                    f"task {getattr(self.task, 'name', self.task)!r} has no oracle; "
                    "use a verifier that needs none, such as vote or length"
                )
            checked[attempt] = float(score)
        return [Score(checked[a], checked[a] == 1.0, "" if checked[a] == 1.0 else "oracle: wrong") for a in attempts]

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        if not attempts:  # labelled data (round 0): the target, or the oracle's own answer when none was given
            label = problem.target if problem.target is not None else self.task.answer(problem)
            if label is not None:
                return Verdict(answer=label, score=1.0, evidence={"n": 0, "labelled": True})
            return Verdict(answer=None, score=0.0, evidence={"n": 0, "correct": 0})
        v = super().verdict(problem, attempts, scores)
        v.evidence["correct"] = v.evidence.pop("accepted")
        return v

    def __repr__(self) -> str:
        return f"OracleVerifier({self.task!r})"
