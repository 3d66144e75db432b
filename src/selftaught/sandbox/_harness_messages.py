"""The harness's messages: what a test's failure says (the values an assert compared, the line of program or test
code an exception came from), and the compiling of tests and calls into code that explains its own failures. Part
of the harness (see ``_harness``); standard library only."""

from __future__ import annotations

import ast
import builtins
import operator
import types

from _harness_audit import _gate, _gc_disable, _gc_enable, _gc_enabled, _thread_id
from _harness_values import _exact_str, _name

# Every function below looks builtins up here, not in the builtins module a candidate can rebind.
globals()["__builtins__"] = dict(builtins.__dict__)

PROGRAM, TEST = "<program>", "<test>"
_OPS = {
    ast.Eq: (operator.eq, "=="), ast.NotEq: (operator.ne, "!="), ast.Lt: (operator.lt, "<"),
    ast.LtE: (operator.le, "<="), ast.Gt: (operator.gt, ">"), ast.GtE: (operator.ge, ">="),
    ast.Is: (operator.is_, "is"), ast.IsNot: (operator.is_not, "is not"),
    ast.In: (lambda a, b: a in b, "in"), ast.NotIn: (lambda a, b: a not in b, "not in"),
}  # fmt: skip

# References taken now, before any candidate: C functions and descriptors a candidate cannot change.
_get_traceback = BaseException.__dict__["__traceback__"].__get__
_TracebackType = types.TracebackType


def _short(value: object, limit: int = 200) -> str:
    try:
        text = _exact_str(repr(value))
    except BaseException as e:  # a __repr__ may raise anything
        text = f"<unprintable {_name(type(value))}: {_name(type(e))}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status(exc: BaseException) -> str:
    t = type(exc)
    if issubclass(t, AssertionError):
        return "failed"
    if issubclass(t, MemoryError):
        return "memory"
    return "error"


def describe(exc: BaseException, sources: dict[str, str]) -> str:
    """'ExcType: message (<program> line N: source)' naming the innermost line of candidate or test code."""
    where = ""
    tb = _get_traceback(exc)
    collecting = _gc_enabled()
    _gc_disable()
    _gate[0] = _thread_id()  # only built-in attribute reads below, until the gate closes
    try:
        while type(tb) is _TracebackType:
            name = tb.tb_frame.f_code.co_filename
            if type(name) is str and name in sources:
                lines = sources[name].splitlines()
                n = tb.tb_lineno
                text = lines[n - 1].strip() if 0 < n <= len(lines) else ""
                where = f" ({name} line {n}: {text})"
            tb = tb.tb_next
    finally:
        _gate[0] = 0
        if collecting:
            _gc_enable()
    t = type(exc)
    if issubclass(t, SyntaxError):
        try:
            where = f" ({exc.filename} line {exc.lineno}: {(exc.text or '').strip()})"
            return _exact_str(f"SyntaxError: {exc.msg}{where}")
        except BaseException:
            return "SyntaxError"
    try:
        msg = _exact_str(str(exc))
    except BaseException:
        msg = ""
    msg = msg if len(msg) <= 300 else msg[:297] + "..."
    return f"{_name(t)}: {msg}{where}" if msg else f"{_name(t)}{where}"


_LEFT, _RIGHT, _FAIL = "_sandbox_left_", "_sandbox_right_", "_sandbox_fail_"


def _fail_message(msg: object, left: object, sym: str, right: object) -> str:
    got = f"got {_short(left)} {sym} {_short(right)}"
    if msg is None:
        return got
    try:
        text = _exact_str(str(msg))
    except BaseException:
        text = "<unprintable message>"
    return f"{text[:300]}; {got}"


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
    """Compile test code with comparisons that explain themselves; a lone expression is asserted. Returns the code,
    or the exception compiling raised (reported when the test's turn comes)."""
    try:
        tree = ast.parse(source, TEST, "exec")
        if as_assert and len(tree.body) == 1 and isinstance(tree.body[0], ast.Expr):
            tree.body[0] = ast.copy_location(ast.Assert(test=tree.body[0].value), tree.body[0])
        return compile(ast.fix_missing_locations(_ShowSides().visit(tree)), TEST, "exec")
    except Exception as e:  # SyntaxError, ValueError (a null byte), RecursionError, MemoryError
        return e


def _compile_call(source: str) -> object:
    try:
        return compile(source.strip(), TEST, "eval")
    except Exception as e:
        return e


def _raised(head: str, e: BaseException, sources: dict[str, str]) -> str:
    """'head: what e says': an AssertionError by its message alone (as a failed assert reads), else described."""
    if issubclass(type(e), AssertionError):
        try:
            text = _exact_str(str(e))
        except BaseException:
            text = ""
        return f"{head}: {text}" if text else head
    return f"{head}: {describe(e, sources)}"
