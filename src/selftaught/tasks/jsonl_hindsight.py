"""Hindsight for file-backed problems: a problem whose tests are all ``assert CALL == LITERAL`` and all shown in its
prompt is re-posed with a failed attempt's own values of the calls as the expected ones (``relabelled``), unless
that problem would be degenerate."""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Any

from selftaught.tasks.jsonl_rows import test_block
from selftaught.types import NO_VALUE, Problem

HINDSIGHT = "+hindsight"  # the mark on a relabelled problem's task_id


def is_relabelled(problem: Problem) -> bool:
    return bool(problem.meta) and str(problem.meta.get("task_id", "")).endswith(HINDSIGHT)


def shown_data_tests(problem: Problem, meta: dict) -> list[tuple[ast.Call, Any, str]] | None:
    """The problem's tests (``meta["tests"]``) as (call, expected, call source) when every one is ``assert CALL ==
    LITERAL`` and the prompt shows them all, at its end (an MBPP-style row); else None (a HumanEval ``check``
    program, tests with set-up code, or tests the prompt does not show)."""
    tests = meta.get("tests")
    if "test" in meta or not isinstance(tests, list) or not tests:
        return None
    if not all(isinstance(t, str) for t in tests) or not problem.prompt.endswith(test_block(tests)):
        return None
    parsed = [data_test(t) for t in tests]
    return None if any(p is None for p in parsed) else parsed  # type: ignore[return-value]


def relabelled(problem: Problem, meta: dict, answer: str, outputs: Sequence[Any]) -> Problem | None:
    """The problem ``answer`` solves (see ``JsonlProblems.relabel``), from the problem's ``meta`` (its tests)."""
    parsed = shown_data_tests(problem, meta)
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
    old_block = test_block(meta["tests"])
    prompt = problem.prompt[: len(problem.prompt) - len(old_block)] + test_block(tests)
    meta = dict(meta)
    name = str(meta.get("task_id", ""))
    meta["tests"] = tests
    meta["task_id"] = name if name.endswith(HINDSIGHT) else name + HINDSIGHT
    return Problem(problem.task, problem.difficulty, prompt, answer, 0, problem.params, meta)


def data_test(test: str) -> tuple[ast.Call, Any, str] | None:
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
