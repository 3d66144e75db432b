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
RUNNING = "running"  # reported as a test starts; any other status ends it
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


_LEFT, _RIGHT, _FAIL = "_sandbox_left_", "_sandbox_right_", "_sandbox_fail_"


def _fail_message(msg: object, left: object, sym: str, right: object) -> str:
    got = f"got {_short(left)} {sym} {_short(right)}"
    return got if msg is None else f"{str(msg)[:300]}; {got}"


class _ShowSides(ast.NodeTransformer):
    """``assert L op R, msg`` -> evaluate L and R once; if the comparison fails, raise AssertionError naming both
    values ("got 4 == 5"), so the feedback says what the candidate returned."""

    def visit_Assert(self, node: ast.Assert) -> ast.AST | list[ast.stmt]:
        test = node.test
        if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _OPS):
            return node
        sym = _OPS[type(test.ops[0])][1]

        def name(n: str, ctx: ast.expr_context) -> ast.Name:
            return ast.Name(id=n, ctx=ctx)

        check = ast.Compare(left=name(_LEFT, ast.Load()), ops=test.ops, comparators=[name(_RIGHT, ast.Load())])
        args = [node.msg or ast.Constant(None), name(_LEFT, ast.Load()), ast.Constant(sym), name(_RIGHT, ast.Load())]
        fail = ast.Call(func=name(_FAIL, ast.Load()), args=args, keywords=[])
        raise_ = ast.Raise(exc=ast.Call(func=name("AssertionError", ast.Load()), args=[fail], keywords=[]))
        out = [
            ast.Assign(targets=[name(_LEFT, ast.Store())], value=test.left),
            ast.Assign(targets=[name(_RIGHT, ast.Store())], value=test.comparators[0]),
            ast.If(test=ast.UnaryOp(op=ast.Not(), operand=check), body=[raise_], orelse=[]),
        ]
        return [ast.fix_missing_locations(ast.copy_location(stmt, node)) for stmt in out]


def _compile_tests(source: str, as_assert: bool) -> object:
    """Compile test code with comparisons that explain themselves; a lone expression is asserted."""
    tree = ast.parse(source, TEST, "exec")
    if as_assert and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
        tree.body[0] = ast.copy_location(ast.Assert(test=tree.body[0].value), tree.body[0])
    return compile(ast.fix_missing_locations(_ShowSides().visit(tree)), TEST, "exec")


def _run_assert(test: str, ns: dict, sources: dict[str, str]) -> tuple[str, str]:
    """One test: an assert statement (or an expression, asserted)."""
    sources[TEST] = test
    try:
        exec(_compile_tests(test, as_assert=True), ns)
        return "passed", ""
    except BaseException as e:
        if isinstance(e, AssertionError):
            return "failed", f"{test.strip()}: {e}" if str(e) else test.strip()
        return _status(e), f"{test.strip()}: {describe(e, sources)}"


def run(program: str, tests: list[str] | str, entry_point: str | None, report: Report) -> None:
    """Run ``program``, then the tests: each assert of a list, or a test program (then ``check(entry_point)``)."""
    ns: dict = {"__name__": "candidate", "__builtins__": builtins, _FAIL: _fail_message}
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
            report(i, RUNNING, "")  # so that a candidate stopped now is stopped in this test
            status, msg = _run_assert(test, ns, sources)
            report(i, status, msg)
        return
    sources[TEST] = tests
    report(0, RUNNING, "")
    try:
        exec(_compile_tests(tests, as_assert=False), ns)
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
