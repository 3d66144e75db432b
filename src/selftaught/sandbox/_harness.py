"""Runs inside the confined child: the candidate program, then its tests (or its calls), reporting each as it ends.

Standalone (standard library only), like ``_confine``. The harness shares the interpreter with the candidate, so it
keeps what judges the candidate out of the candidate's reach:

- Tests and calls are compiled before the candidate runs (``ast`` and ``compile`` are never used after it).
- The harness's own code looks names up in a private copy of the builtins, taken when the fork server imported it,
  and the fork server removes this module from ``sys.modules`` before the candidate runs: a candidate that rebinds
  ``builtins.isinstance`` or ``json.dumps`` changes neither how its tests are judged nor how results are reported.
- Test code runs in a namespace of its own, whose builtins are that private copy (a program's ``def abs`` or
  ``builtins.len = ...`` does not reach it) and whose ``import`` hands out fresh copies of the standard modules as
  they were before the candidate ran. The program's functions are there wrapped: a call's value must be plain data
  of exact built-in types (None, bool, int, float, complex, str, bytes and lists, tuples, dicts, sets, frozensets
  of them), and the test gets a fresh copy of it. So no object of a candidate's class ever reaches a comparison,
  ``bool()``, arithmetic or ``in`` of the test: no ``__eq__`` that always holds, no int subclass that lies.
- An audit hook refuses what would reach the harness's frames and objects from inside the process: frames (from
  ``sys._getframe``, tracebacks, generators, threads), tracing, gc walks, ctypes, new audit hooks, code swaps,
  module class swaps and /proc.
- In calls mode (``run_calls``) each call's value is serialised by this trusted code, exact types only; the
  comparison with the expected value happens outside the sandbox, where the expected value never leaves.
"""

from __future__ import annotations

import _thread
import ast
import builtins
import collections
import gc
import operator
import os
import stat
import sys
import types
from collections.abc import Callable
from json import encoder as _json_encoder

# Every function below looks builtins up here, not in the builtins module a candidate can rebind.
globals()["__builtins__"] = dict(builtins.__dict__)

PROGRAM, TEST = "<program>", "<test>"
RUNNING = "running"  # reported as a test starts; any other status ends it
_OPS = {
    ast.Eq: (operator.eq, "=="), ast.NotEq: (operator.ne, "!="), ast.Lt: (operator.lt, "<"),
    ast.LtE: (operator.le, "<="), ast.Gt: (operator.gt, ">"), ast.GtE: (operator.ge, ">="),
    ast.Is: (operator.is_, "is"), ast.IsNot: (operator.is_not, "is not"),
    ast.In: (lambda a, b: a in b, "in"), ast.NotIn: (lambda a, b: a not in b, "not in"),
}  # fmt: skip
Report = Callable[..., None]  # report(i, status, message[, value as JSON text])

# References taken now, before any candidate: C functions and descriptors a candidate cannot change.
_type_name = type.__dict__["__name__"].__get__
_exact_str = str.__str__  # the str itself, or an exact copy of a str subclass
_get_traceback = BaseException.__dict__["__traceback__"].__get__
_encode_str = _json_encoder.c_encode_basestring_ascii or _json_encoder.py_encode_basestring_ascii
_readlink, _getcwd, _lstat, _is_link = os.readlink, os.getcwd, os.lstat, stat.S_ISLNK
_set_gc_debug, _gc_garbage, _gc_enable, _gc_disable, _gc_enabled = (
    gc.set_debug,
    gc.garbage,
    gc.enable,
    gc.disable,
    gc.isenabled,
)
_thread_id = _thread.get_ident
_CodeType = types.CodeType
_add_audit_hook = sys.addaudithook
_ModuleType, _TracebackType = types.ModuleType, types.TracebackType
_real_import = builtins.__import__
_INF = float("inf")

_MAX_DEPTH = 100  # containers nested deeper are not plain data (and a list that holds itself is caught here)
_MAX_ITEMS = 1_000_000  # elements a value may hold in all, for the tests' check
_VALUE_ITEMS = 100_000  # elements a value sent out of the sandbox may hold
_VALUE_CHARS = 200_000  # characters of one value sent out of the sandbox
_VALUES_CHARS = 800_000  # characters of all values of a run (the fork server takes 1 MiB of results)
_INT_BITS = 14_000  # about 4200 decimal digits: under the interpreter's int-to-str limit of 4300


def _name(t: type) -> str:
    try:
        return _exact_str(_type_name(t))
    except BaseException:
        return "value of an unknown type"


# ---- plain data --------------------------------------------------------------------------------------------------

_LEAVES = frozenset(map(id, (type(None), bool, int, float, complex, str, bytes)))
# Dicts: OrderedDict, defaultdict and Counter count as the plain dicts they hold (read with ``dict.items``, which no
# method of theirs overrides; what comes out is a dict), as an equality with a dict treats them.
_DICTS = frozenset(map(id, (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)))


class _NotPlain(Exception):
    """What is not plain data: ``what`` names the offending type; ``depth`` is where it was found (0: the value)."""

    def __init__(self, what: str, depth: int) -> None:
        self.what, self.depth = what, depth


def _walk(v: object, depth: int, budget: list[int]) -> object:
    """A fresh copy of ``v`` if it is plain data of exact built-in types (immutable leaves are shared), else
    ``_NotPlain``. Exact types only (``type(v) is list``), so a subclass with its own ``__eq__`` is refused; only
    built-in operations run on the value, so none of the candidate's code does."""
    t = type(v)
    if id(t) in _LEAVES:
        return v
    if depth >= _MAX_DEPTH:
        raise _NotPlain(f"value nested more than {_MAX_DEPTH} deep", depth)
    if id(t) in _DICTS:
        budget[0] -= dict.__len__(v)
        if budget[0] < 0:
            raise _NotPlain(f"value of more than {_MAX_ITEMS} elements", depth)
        return {_walk(k, depth + 1, budget): _walk(x, depth + 1, budget) for k, x in dict.items(v)}
    if t is list or t is tuple or t is set or t is frozenset:
        budget[0] -= len(v)
        if budget[0] < 0:
            raise _NotPlain(f"value of more than {_MAX_ITEMS} elements", depth)
        items = [_walk(x, depth + 1, budget) for x in v]
        return items if t is list else tuple(items) if t is tuple else set(items) if t is set else frozenset(items)
    raise _NotPlain(_name(t), depth)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in ("a", "e", "i", "o", "u", "A", "E", "I", "O", "U") else "a ") + noun


def _what(value: object, e: _NotPlain) -> str:
    """'a MyInt', or 'a list holding a MyInt'."""
    return _a(e.what) if e.depth == 0 else f"{_a(_name(type(value)))} holding {_a(e.what)}"


def _is_plain(v: object) -> bool:
    try:
        _walk(v, 0, [_MAX_ITEMS])
        return True
    except _NotPlain:
        return False


def _guarded(fn: Callable, name: str) -> Callable:
    """``fn`` as the tests see it: its value must be plain data (the tests get a fresh copy), and a list, dict or
    set argument that was plain data must still be after the call."""

    def call(*args: object, **kwargs: object) -> object:
        watched = [a for a in (*args, *kwargs.values()) if (type(a) is list or type(a) is dict or type(a) is set)]
        watched = [a for a in watched if _is_plain(a)]
        out = fn(*args, **kwargs)
        for a in watched:
            if not _is_plain(a):
                raise AssertionError(f"{name} put a value that is not plain data into its argument")
        try:
            return _walk(out, 0, [_MAX_ITEMS])
        except _NotPlain as e:
            raise AssertionError(f"{name} returned {_what(out, e)}, not plain data") from None

    call.__name__ = call.__qualname__ = name
    return call


# ---- the tests' namespace ----------------------------------------------------------------------------------------

# The standard modules as the fork server had them (after its imports, before any candidate): name -> (module,
# a copy of its dict); and the identity of every object those dicts hold.
_MODULES: dict[str, tuple[types.ModuleType, dict]] = {}
_MODULE_NAMES: dict[int, str] = {}
_STANDARD: set[int] = set()
_UNCOPIED = frozenset({"__main__", "__mp_main__", "sys", "_harness", "_confine", "_server"})
_copies: dict[str, types.ModuleType] = {}  # the module copies of this run's tests


def snapshot_modules() -> None:
    """Record the loaded modules as they are now: the tests' imports are served from these records. The fork
    server calls this once, after its imports."""
    for name, module in list(sys.modules.items()):
        if type(module) is _ModuleType and type(name) is str and name not in _UNCOPIED:
            kept = dict(module.__dict__)
            _MODULES[name] = (module, kept)
            _MODULE_NAMES[id(module)] = name
            _STANDARD.update(map(id, kept.values()))


def _module_copy(name: str) -> types.ModuleType:
    made = _copies.get(name)
    if made is None:
        made = _ModuleType(name)
        made.__dict__.update(_MODULES[name][1])
        _copies[name] = made
    return made


def _trusted_import(
    name: str, globals: object = None, locals: object = None, fromlist: object = (), level: int = 0
) -> object:
    """The tests' ``__import__``: a module recorded by ``snapshot_modules`` comes as a fresh copy of its record,
    out of the candidate's reach (its rebinding of ``math.fabs`` does not show); any other is imported as usual."""
    if level == 0 and type(name) is str:
        parts = name.split(".")
        names = [".".join(parts[: k + 1]) for k in range(len(parts))]
        if all(n in _MODULES for n in names):
            chain = [_module_copy(n) for n in names]
            for parent, child, part in zip(chain, chain[1:], parts[1:]):
                parent.__dict__[part] = child
            return chain[-1] if fromlist else chain[0]
    return _real_import(name, globals, locals, fromlist, level)


_TEST_BUILTINS = dict(builtins.__dict__)
_TEST_BUILTINS["__import__"] = _trusted_import
_HIDDEN = object()


def _expose(name: str, value: object) -> object:
    """How a name of the program shows in the tests' namespace: a standard module as a fresh copy (also when the
    program bound another module to the name of a standard one), another module or standard object as itself,
    plain data as a copy, anything callable wrapped by ``_guarded``; else hidden."""
    k = id(value)
    module = _MODULE_NAMES.get(k)
    if module is not None and _MODULES[module][0] is value:
        return _module_copy(module)
    if type(value) is _ModuleType:
        return _module_copy(name) if name in _MODULES else value
    if k in _STANDARD:
        return value
    try:
        return _walk(value, 0, [_MAX_ITEMS])
    except _NotPlain:
        pass
    if callable(value):
        return _guarded(value, name)
    return _HIDDEN


def _test_namespace(ns: dict) -> dict:
    """The tests' globals: the program's names (those not shadowing a builtin), as ``_expose`` shows them."""
    tns = {"__name__": "__test__", "__builtins__": _TEST_BUILTINS, _FAIL: _fail_message}
    for key, value in list(dict.items(ns)):
        if type(key) is not str or key[:2] == "__" or key[:9] == "_sandbox_" or key in _TEST_BUILTINS:
            continue
        shown = _expose(key, value)
        if shown is not _HIDDEN:
            tns[key] = shown
    return tns


# ---- the audit hook ----------------------------------------------------------------------------------------------

# Open (the id of the harness's thread) only while the harness walks a traceback: built-in attribute reads only,
# with the collector off so that no finalizer of the candidate's runs meanwhile; other threads stay refused.
_gate = [0]
_FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
_REFUSED = frozenset(
    {"sys._current_frames", "sys._current_exceptions", "sys.settrace", "sys.setprofile", "sys.addaudithook",
     "gc.get_objects", "gc.get_referrers", "gc.get_referents", "code.__new__"}
)  # fmt: skip
_PROC = "/proc"


def _resolve(path: str, links: int = 0) -> str:
    """``path`` with every symbolic link followed (as the kernel would), absolute; '/proc' if it loops."""
    if path[:1] != "/":
        path = _exact_str(_getcwd()) + "/" + path
    done: list[str] = []
    pending = path.split("/")
    pending.reverse()
    while pending:
        part = pending.pop()
        if part == "" or part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join(done + [part])
        try:
            if not _is_link(_lstat(here).st_mode):
                done.append(part)
                continue
            target = _exact_str(_readlink(here))
        except OSError:
            done.append(part)
            continue
        links += 1
        if links > 40:
            return _PROC
        if target[:1] == "/":
            done = []
        more = target.split("/")
        more.reverse()
        pending.extend(more)
    return "/" + "/".join(done)


def _in_proc(path: object, base: str | None = None) -> bool:
    t = type(path)
    if t is int:
        return False
    if t is bytes:
        path = bytes.decode(path, "utf-8", "surrogateescape")
    elif t is not str:
        return True
    if base is not None and path[:1] != "/":
        path = base + "/" + path
    where = _resolve(path)
    return where == _PROC or where[:6] == _PROC + "/"


def _audit(event: str, args: tuple) -> None:
    if _gate[0] and _gate[0] == _thread_id():
        return
    if event == "sys._getframe":  # ValueError: what namedtuple, typing and enum expect when frames are missing
        raise ValueError("sandbox: frames are out of reach")
    if event in _REFUSED or event[:7] == "ctypes.":
        raise RuntimeError(f"sandbox: {event} is not allowed")
    if event == "object.__getattr__":
        if args[1] in _FRAME_ATTRIBUTES:
            raise RuntimeError("sandbox: frames are out of reach")
    elif event == "object.__setattr__":
        if args[1] == "__code__" or (args[1] == "__class__" and issubclass(type(args[0]), _ModuleType)):
            raise RuntimeError(f"sandbox: setting {args[1]} is not allowed")
    elif event == "open" or event == "os.chdir":
        if _in_proc(args[0]):
            raise PermissionError(f"sandbox: {_PROC} is out of reach")
    elif event == "os.symlink":
        dst = args[1]
        base = None
        if type(dst) is str or type(dst) is bytes:
            dst = dst if type(dst) is str else bytes.decode(dst, "utf-8", "surrogateescape")
            base = dst.rpartition("/")[0] or "."
        if _in_proc(args[0], base):
            raise PermissionError(f"sandbox: {_PROC} is out of reach")


def _harden() -> None:
    """Install the audit hook (for the rest of this process: it cannot be removed)."""
    _add_audit_hook(_audit)


def _clear_gc() -> None:
    """No debug flag of the candidate's (gc.DEBUG_SAVEALL keeps the harness's garbage where it could look)."""
    _set_gc_debug(0)
    del _gc_garbage[:]


# ---- messages ----------------------------------------------------------------------------------------------------


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


def _run_assert(test: str, code: object, tns: dict, sources: dict[str, str]) -> tuple[str, str]:
    """One test: an assert statement (or an expression, asserted)."""
    sources[TEST] = test
    try:
        if type(code) is not _CodeType:
            raise code
        _clear_gc()
        exec(code, tns)
        return "passed", ""
    except BaseException as e:
        return _status(e), _raised(test.strip(), e, sources)


def _load(program: str, n: int, report: Report, harden: bool) -> dict | None:
    """Run the program; its namespace, or None after reporting each of the ``n`` tests as not loaded."""
    ns: dict = {"__name__": "candidate", "__builtins__": builtins}
    _copies.clear()
    try:
        code = compile(program, PROGRAM, "exec")
        if harden:
            _harden()
        exec(code, ns)
        return ns
    except BaseException as e:
        msg = "the program did not load: " + describe(e, {PROGRAM: program})
        status = "memory" if issubclass(type(e), MemoryError) else "error"
        for i in range(n):
            report(i, status, msg)
        return None


def run(program: str, tests: list[str] | str, entry_point: str | None, report: Report, harden: bool = True) -> None:
    """Run ``program``, then the tests: each assert of a list, or a test program (then ``check(entry_point)``).
    ``harden``: install the audit hook before the program runs (False only for the fork server's warm-up)."""
    sources = {PROGRAM: program}
    if isinstance(tests, str):
        codes = [_compile_tests(tests, as_assert=False)]
    else:
        tests = list(tests)
        codes = [_compile_tests(t, as_assert=True) for t in tests]
    ns = _load(program, len(codes), report, harden)
    if ns is None:
        return
    _clear_gc()
    tns = _test_namespace(ns)
    if not isinstance(tests, str):
        for i, test in enumerate(tests):
            report(i, RUNNING, "")  # so that a candidate stopped now is stopped in this test
            status, msg = _run_assert(test, codes[i], tns, sources)
            report(i, status, msg)
        return
    sources[TEST] = tests
    report(0, RUNNING, "")
    try:
        if type(codes[0]) is not _CodeType:
            raise codes[0]
        exec(codes[0], tns)
        if entry_point is not None:
            if entry_point not in ns:
                report(0, "error", f"the program does not define {entry_point!r}")
                return
            candidate = _guarded(ns[entry_point], entry_point)
            _clear_gc()
            tns["check"](candidate)
        report(0, "passed", "")
    except BaseException as e:
        report(0, _status(e), describe(e, sources))


# ---- calls mode --------------------------------------------------------------------------------------------------


def _encode(v: object, depth: int, budget: list[int]) -> str:
    """``v`` as JSON if it is plain data of exact types (a tuple as {"t": [...]}, a dict as {"d": {...}}), else
    ``_NotPlain``. OrderedDict, defaultdict and Counter count as the dicts they hold (see ``_DICTS``)."""
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        if int.bit_length(v) > _INT_BITS:
            raise _NotPlain(f"int of more than {_INT_BITS} bits", depth)
        return int.__repr__(v)
    if t is float:
        if v != v:
            return "NaN"
        if v == _INF or v == -_INF:
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    if t is str:
        if len(v) > _VALUE_CHARS:
            raise _NotPlain(f"str of more than {_VALUE_CHARS} characters", depth)
        return _encode_str(v)
    if depth >= _MAX_DEPTH:
        raise _NotPlain(f"value nested more than {_MAX_DEPTH} deep", depth)
    if t is list or t is tuple or id(t) in _DICTS:
        budget[0] -= len(v) if t is list or t is tuple else dict.__len__(v)
        if budget[0] < 0:
            raise _NotPlain(f"value of more than {_VALUE_ITEMS} elements", depth)
    if t is list:
        return "[" + ",".join([_encode(x, depth + 1, budget) for x in v]) + "]"
    if t is tuple:
        return '{"t":[' + ",".join([_encode(x, depth + 1, budget) for x in v]) + "]}"
    if id(t) in _DICTS:
        parts = []
        for k, x in dict.items(v):
            if type(k) is not str:
                raise _NotPlain(f"dict with {_a(_name(type(k)))} key", depth)
            parts.append(_encode_str(k) + ":" + _encode(x, depth + 1, budget))
        return '{"d":{' + ",".join(parts) + "}}"
    raise _NotPlain(_name(t), depth)


def run_calls(program: str, calls: list[str], report: Report, harden: bool = True) -> None:
    """Run ``program``, then evaluate each call (a trusted expression such as ``f([3, 1, 2])``, in the program's
    namespace) and report its value as JSON: "passed" with the value when it is plain data, else "error" naming
    what it raised or returned. Nothing is compared here: the expected values never enter the sandbox."""
    sources = {PROGRAM: program}
    calls = list(calls)
    codes = [_compile_call(c) for c in calls]
    ns = _load(program, len(codes), report, harden)
    if ns is None:
        return
    left = [_VALUES_CHARS]
    for i, call in enumerate(calls):
        report(i, RUNNING, "")
        sources[TEST] = call.strip()
        head = call.strip()
        try:
            if type(codes[i]) is not _CodeType:
                raise codes[i]
            _clear_gc()
            value = eval(codes[i], ns)
        except BaseException as e:
            report(i, "memory" if issubclass(type(e), MemoryError) else "error", _raised(head, e, sources))
            continue
        try:
            text = _encode(value, 0, [_VALUE_ITEMS])
            if len(text) > _VALUE_CHARS or len(text) > left[0]:
                raise _NotPlain(f"value too large to send ({len(text)} characters)", 0)
        except _NotPlain as e:
            report(i, "error", f"{head}: returned {_what(value, e)}, not plain data")
            continue
        except BaseException as e:  # RecursionError, MemoryError, an int over a limit the candidate lowered
            report(i, "error", f"{head}: its value could not be serialised ({_name(type(e))})")
            continue
        left[0] -= len(text)
        report(i, "passed", "", text)


# ---- reporting ---------------------------------------------------------------------------------------------------


def record_line(token: str, i: int, status: str, message: str, value: str | None = None) -> bytes:
    """One result record, a line of JSON, built from trusted pieces (``json.dumps`` may be the candidate's)."""
    msg = _encode_str(message if type(message) is str else _exact_str(message))
    extra = "" if value is None else ',"v":' + value
    return f'{{"t":"{token}","i":{int.__repr__(i)},"s":{_encode_str(status)},"m":{msg}{extra}}}\n'.encode()


def done_line(token: str) -> bytes:
    return f'{{"t":"{token}","done":true}}\n'.encode()


def flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def format_bug(exc: BaseException) -> str:
    """A harness failure, for stderr: the exception and the harness lines it passed (no frames are read)."""
    lines = []
    tb = _get_traceback(exc)
    while type(tb) is _TracebackType and len(lines) < 20:
        lines.append(int.__repr__(tb.tb_lineno))
        tb = tb.tb_next
    return f"{_name(type(exc))} (lines {', '.join(lines)})\n"
