"""The range filter: keep only attempts whose value is of a size possible for the input."""

from __future__ import annotations

from selftaught.tasks.base import Task, provides
from selftaught.types import Problem
from selftaught.verifiers.base import RuleFilter


class RangeFilter(RuleFilter):
    """Accepts the most common attempt that ``task.in_range`` allows (ties go to the one seen first).

    Like the length filter it needs no oracle, only a magnitude rule of the task (for addition: the sum is at least
    the larger operand and under twice its power of ten). It rejects the confident mistakes a vote lets through when
    a model meets a longer input than it was trained on: a dropped final carry makes the sum smaller than an operand.
    The score is the share of attempts in range.
    """

    name = "range"
    kept_key = "in_range"

    def __init__(self, task: Task) -> None:
        if not provides(task, "in_range"):
            raise ValueError(f"task {getattr(task, 'name', task)!r} has no range rule (Task.in_range)")
        self.task = task

    def allows(self, problem: Problem, answer: str) -> bool:
        return bool(self.task.in_range(problem, answer))

    def __repr__(self) -> str:
        return f"RangeFilter({self.task!r})"
