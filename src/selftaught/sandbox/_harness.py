"""Runs inside the confined child: the candidate program, then its tests, reporting each test as it ends.

Standalone (standard library only), like ``_confine``. The harness shares the interpreter with the candidate, so
the candidate can tamper with it; the pool, the host and the other candidates are what the confinement protects.
"""

from __future__ import annotations

import ast
import builtins
import operator
import sys
import traceback
from collections.abc import Callable

PROGRAM, TEST = "<program>", "<test>"
_OPS = {
    ast.Eq: (operator.eq, "=="), ast.NotEq: (operator.ne, "!="), ast.Lt: (operator.lt, "<"),
    ast.LtE: (operator.le, "<="), ast.Gt: (operator.gt, ">"), ast.GtE: (operator.ge, ">="),
    ast.Is: (operator.is_, "is"), ast.IsNot: (operator.is_not, "is not"),
    ast.In: (lambda a, b: a in b, "in"), ast.NotIn: (lambda a, b: a not in b, "not in"),
}  # fmt: skip
Report = Callable[[int, str, str], None]


def _short(value: object, limit: int = 200) -> str:
    try:
        text = repr(value)
    except BaseException as e:  # a candidate's __repr__ may raise anything
        text = f"<unprintable {type(value).__name__}: {type(e).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status(exc: BaseException) -> str:
    if isinstance(exc, AssertionError):
        return "failed"
    if isinstance(exc, MemoryError):
        return "memory"
    return "error"


def describe(exc: BaseException, sources: dict[str, str]) -> str:
    """'ExcType: message (<program> line N: source)' naming the innermost line of candidate or test code."""
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in sources:
            lines = sources[name].splitlines()
            n = tb.tb_lineno
            text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
            where = f" ({name} line {n}: {text})"
        tb = tb.tb_next
    if isinstance(exc, SyntaxError):
        where = f" ({exc.filename} line {exc.lineno}: {(exc.text or '').strip()})"
        return f"SyntaxError: {exc.msg}{where}"
    try:
        msg = str(exc)
    except BaseException:
        msg = ""
    msg = msg if len(msg) <= 300 else msg[:297] + "..."
    return f"{type(exc).__name__}: {msg}{where}" if msg else f"{type(exc).__name__}{where}"


def _run_assert(test: str, ns: dict, sources: dict[str, str]) -> tuple[str, str]:
    """One test: an assert statement (or an expression, asserted). A failed comparison shows both sides."""
    sources[TEST] = test
    try:
        tree = ast.parse(test, TEST, "exec")
    except SyntaxError as e:
        return "error", f"{test.strip()}: {describe(e, sources)}"
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        tree.body[0] = ast.fix_missing_locations(ast.copy_location(ast.Assert(tree.body[0].value), tree.body[0]))
    node = tree.body[0] if len(tree.body) == 1 else None
    try:
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1:
            fn, sym = _OPS[type(node.test.ops[0])]
            left = eval(compile(ast.Expression(node.test.left), TEST, "eval"), ns)
            right = eval(compile(ast.Expression(node.test.comparators[0]), TEST, "eval"), ns)
            if not fn(left, right):
                extra = ""
                if node.msg is not None:
                    extra = ": " + str(eval(compile(ast.Expression(node.msg), TEST, "eval"), ns))[:300]
                return "failed", f"{test.strip()}{extra} (got {_short(left)} {sym} {_short(right)})"
            return "passed", ""
        exec(compile(tree, TEST, "exec"), ns)
        return "passed", ""
    except BaseException as e:
        if isinstance(e, AssertionError) and not str(e):
            return "failed", test.strip()
        return _status(e), f"{test.strip()}: {describe(e, sources)}"


def run(program: str, tests: list[str] | str, entry_point: str | None, report: Report) -> None:
    """Run ``program``, then the tests: each assert of a list, or a test program (then ``check(entry_point)``)."""
    ns: dict = {"__name__": "candidate", "__builtins__": builtins}
    sources = {PROGRAM: program}
    n = 1 if isinstance(tests, str) else len(tests)
    try:
        exec(compile(program, PROGRAM, "exec"), ns)
    except BaseException as e:
        msg = "the program did not load: " + describe(e, sources)
        status = "memory" if isinstance(e, MemoryError) else "error"
        for i in range(n):
            report(i, status, msg)
        return
    if not isinstance(tests, str):
        for i, test in enumerate(tests):
            status, msg = _run_assert(test, ns, sources)
            report(i, status, msg)
        return
    sources[TEST] = tests
    try:
        exec(compile(tests, TEST, "exec"), ns)
        if entry_point is not None:
            if entry_point not in ns:
                report(0, "error", f"the program does not define {entry_point!r}")
                return
            ns["check"](ns[entry_point])
        report(0, "passed", "")
    except BaseException as e:
        report(0, _status(e), describe(e, sources))


def flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def format_bug() -> str:
    return traceback.format_exc(limit=5)
