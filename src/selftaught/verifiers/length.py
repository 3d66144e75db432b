"""The length filter: keep only attempts whose length and alphabet are possible for the input."""

from __future__ import annotations

from selftaught.tasks.base import Task
from selftaught.types import Problem
from selftaught.verifiers.base import RuleFilter


class LengthFilter(RuleFilter):
    """Accepts the most common attempt that ``task.plausible`` allows (ties go to the one seen first).

    It needs no oracle, only the task's length rule (for addition: the longer operand's length or one more). Alone it
    is weak; composed with a vote it removes the confident-but-wrong-length labels that otherwise accumulate over
    rounds. The score is the share of plausible attempts.
    """

    name = "length"
    kept_key = "plausible"

    def __init__(self, task: Task) -> None:
        if not callable(getattr(task, "plausible", None)):
            raise TypeError(f"task {task!r} has no plausible() method for the length filter")
        self.task = task

    def allows(self, problem: Problem, answer: str) -> bool:
        return self.task.plausible(problem, answer)

    def __repr__(self) -> str:
        return f"LengthFilter({self.task!r})"
