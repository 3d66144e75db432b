"""Jobs: the program and tests a problem's attempt is checked with, and the runner that runs many at once.

A job is ``(program, tests, entry_point)``, as ``Sandbox.run_many`` takes it. A problem carries its tests in
``problem.meta`` (``problem_tests``): ``"tests"``, a list of assert statements (or expressions, each asserted), or
HumanEval style ``"test"``, a program defining ``check(candidate)``, with ``"entry_point"``, the name of the function
it is called with. The program is ``task.program(problem, attempt)`` when the task defines it, else the attempt
itself (``program_for``). Tasks (their oracle) and verifiers both run their jobs here (``run_jobs``).

Data tests, where every assert is ``CALL == LITERAL`` (``f([3, 1, 2]) == [1, 2, 3]``), are judged here: the sandbox
evaluates only the calls and sends their values out as plain data of exact built-in types (``Sandbox.call_many``),
and this process compares them with the literals. The expected values never enter the sandbox and no object of the
candidate's types leaves it, so no ``__eq__`` of the candidate's takes part. Other tests (a HumanEval ``check``
program, asserts of any other form) are judged inside the sandbox, where the harness lets only plain data from the
candidate reach a comparison (see ``selftaught.sandbox._harness``).
"""

from __future__ import annotations

import ast
import copy
import functools
from collections.abc import Sequence
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.sandbox.limits import Limits
from selftaught.sandbox.pool import Sandbox
from selftaught.sandbox.result import Result, TestResult
from selftaught.sandbox.shared import shared_sandbox
from selftaught.types import Problem

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


def _is_data(value: Any) -> bool:
    """Plain data of exact types, as the sandbox sends it: None, bool, int, float, str, lists, tuples, str-keyed
    dicts."""
    t = type(value)
    if value is None or t in (bool, int, float, str):
        return True
    if t in (list, tuple):
        return all(_is_data(v) for v in value)
    if t is dict:
        return all(type(k) is str and _is_data(v) for k, v in value.items())
    return False


@functools.lru_cache(maxsize=1 << 14)
def _data_test(test: str) -> tuple[str, Any, bool] | None:
    """(call source, expected value, whether the literal is on the left) for ``[assert] CALL == LITERAL`` or
    ``[assert] LITERAL == CALL`` with no message, the literal plain data; else None."""
    try:
        body = ast.parse(test, mode="exec").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if len(body) != 1:
        return None
    stmt = body[0]
    if isinstance(stmt, ast.Assert) and stmt.msg is None:
        node = stmt.test
    elif isinstance(stmt, ast.Expr):
        node = stmt.value
    else:
        return None
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], ast.Eq)):
        return None
    for call, literal, flipped in ((node.left, node.comparators[0], False), (node.comparators[0], node.left, True)):
        if not isinstance(call, ast.Call):
            continue
        try:
            expected = ast.literal_eval(literal)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if _is_data(expected):
            return ast.get_source_segment(test, call) or ast.unparse(call), expected, flipped
    return None


def data_tests(tests: Sequence[str]) -> list[tuple[str, Any]] | None:
    """(call source, expected value) for each test when every test is a data test, ``[assert] CALL == LITERAL``
    (or ``LITERAL == CALL``) with LITERAL plain data (``ast.literal_eval``: None, bool, int, float, str, lists,
    tuples, str-keyed dicts) and no assert message; else None. Such tests are judged outside the sandbox."""
    if isinstance(tests, str) or not tests:
        return None
    parsed = [_data_test(t) if isinstance(t, str) else None for t in tests]
    if any(p is None for p in parsed):
        return None
    return [(call, copy.deepcopy(expected)) for call, expected, _ in parsed]  # the cache keeps its own


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def judge_values(result: Result, tests: Sequence[str]) -> Result:
    """The result ``tests`` (data tests) would have had in the sandbox, from ``result``, the values of their calls
    (``Sandbox.call_many``): a test passes when its call's value equals the expected one (``==`` on built-in values
    only); a failing one says what the call gave, as the sandbox's asserts do ('f([6,3,1]) == [1,3]: got [3, 1] ==
    [1, 3]'); an error names the test, not the call. A stopped run keeps its status and message."""
    judged = []
    for test, t, value in zip(tests, result.tests, result.values, strict=True):
        call, expected, flipped = _data_test(test)
        src = test.strip()
        if t.status == "passed":
            if value == expected:
                judged.append(TestResult("passed"))
            else:
                left, right = (expected, value) if flipped else (value, expected)
                judged.append(TestResult("failed", f"{src}: got {_short(left)} == {_short(right)}"))
            continue
        message = t.message
        head = call.strip()
        if message == head or message.startswith(head + ": "):
            message = src + message[len(head) :]
            message = message.replace(f"(<test> line 1: {head})", f"(<test> line 1: {src})")
        judged.append(TestResult(t.status, message))
    status, message = result.status, result.message
    if status in ("passed", "failed", "memory"):  # decided by the tests, not by a stop: decide again
        bad = [t for t in judged if t.status != "passed"]
        status = "passed" if not bad else "memory" if any(t.status == "memory" for t in bad) else "failed"
        message = bad[0].message if bad else ""
    return Result(
        status=status,
        tests=judged,
        stdout=result.stdout,
        stderr=result.stderr,
        seconds=result.seconds,
        cpu_seconds=result.cpu_seconds,
        message=message,
        values=list(result.values),
    )


def run_jobs(jobs: Sequence[Job], sandbox: Sandbox | None = None, limits: Limits | None = None) -> list[Result]:
    """Run every distinct job once (in parallel, under ``limits`` or the sandbox's) and give each job its result.

    A job whose tests are all data tests (``data_tests``) runs as calls (``Sandbox.call_many``) and is judged here
    (``judge_values``); others run as tests in the sandbox. Results are the same for honest programs."""
    distinct = list(dict.fromkeys((p, t if isinstance(t, str) else tuple(t), e) for p, t, e in jobs))
    if not distinct:
        return []
    box = sandbox if sandbox is not None else shared_sandbox()
    kw = {} if limits is None else {"limits": limits}
    as_calls = {job: data_tests(job[1]) for job in distinct}
    by_job: dict = {}
    plain = [job for job in distinct if as_calls[job] is None]
    if plain:
        items = [(p, t if isinstance(t, str) else list(t), e) for p, t, e in plain]
        by_job.update(zip(plain, box.run_many(items, **kw), strict=True))
    valued = [job for job in distinct if as_calls[job] is not None]
    if valued:
        calls = list(dict.fromkeys((p, tuple(call for call, _ in as_calls[(p, t, e)])) for p, t, e in valued))
        by_calls = dict(zip(calls, box.call_many([(p, list(c)) for p, c in calls], **kw), strict=True))
        for p, t, e in valued:
            ran = by_calls[(p, tuple(call for call, _ in as_calls[(p, t, e)]))]
            by_job[(p, t, e)] = judge_values(ran, t)
    return [by_job[(p, t if isinstance(t, str) else tuple(t), e)] for p, t, e in jobs]
