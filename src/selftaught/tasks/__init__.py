"""Task families and the registry of built-in tasks, keyed by the name a config uses."""

from __future__ import annotations

from selftaught.tasks.arithmetic import Addition, Multiplication, ReversedAddition
from selftaught.tasks.base import Task
from selftaught.tasks.jsonl import JsonlProblems
from selftaught.tasks.list_functions import ListFunctions
from selftaught.tasks.strings import Copy, Reversal, Sorting

BUILTIN_TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (ReversedAddition, Addition, Multiplication, Copy, Reversal, Sorting, ListFunctions, JsonlProblems)
}

__all__ = [
    "BUILTIN_TASKS",
    "Addition",
    "Copy",
    "JsonlProblems",
    "ListFunctions",
    "Multiplication",
    "Reversal",
    "ReversedAddition",
    "Sorting",
    "Task",
]
