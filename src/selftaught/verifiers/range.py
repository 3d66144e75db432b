"""The range filter: keep only attempts whose value is of a size possible for the input."""

from __future__ import annotations

from ..tasks.base import Task
from ..types import Problem, Verdict
from .base import Verifier, most_common


class RangeFilter(Verifier):
    """Accepts the most common attempt that ``task.in_range`` allows (ties go to the one seen first).

    Like the length filter it needs no oracle, only a magnitude rule of the task (for addition: the sum is at least
    the larger operand and under twice its power of ten). It rejects the confident mistakes a vote lets through when
    a model meets a longer input than it was trained on: a dropped final carry makes the sum smaller than an operand.
    The score is the share of attempts in range.
    """

    name = "range"

    def __init__(self, task: Task) -> None:
        if type(task).in_range is Task.in_range:
            raise ValueError(f"task {getattr(task, 'name', task)!r} has no range rule (Task.in_range)")
        self.task = task

    def judge(self, problem: Problem, attempts: list[str]) -> Verdict:
        n = len(attempts)
        kept = [a for a in attempts if self.task.in_range(problem, a)]
        top = most_common(kept)
        return Verdict(
            answer=None if top is None else top[0],
            score=len(kept) / n if n else 0.0,
            evidence={"n": n, "in_range": len(kept)},
        )

    def __repr__(self) -> str:
        return f"RangeFilter({self.task!r})"
