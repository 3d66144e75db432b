"""Runs inside the confined child: the candidate program, then its tests (or its calls), reporting each as it ends.

Standalone (standard library only), like ``_confine``: the fork server imports it by name from its own directory.
The harness is this module and four beside it, each standalone too: ``_harness_values`` (plain data: what a value
may be, copied or serialised), ``_harness_namespace`` (the tests' namespace), ``_harness_audit`` (the audit hook) and
``_harness_messages`` (what a failure says; tests compiled to explain themselves). They import one another's names
(``from _harness_x import name``), never a module object. The harness shares the interpreter with the candidate, so
it keeps what judges the candidate out of the candidate's reach:

- Tests and calls are compiled before the candidate runs (``ast`` and ``compile`` are never used after it).
- The harness's own code looks names up in a private copy of the builtins, taken by each of its modules when the
  fork server imported it, and the fork server removes every harness module (``_harness*``) from ``sys.modules``
  before the candidate runs: a candidate that rebinds ``builtins.isinstance`` or ``json.dumps``, or imports (and
  patches) a fresh copy of a harness module, changes neither how its tests are judged nor how results are reported.
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

import builtins
import sys
import types
from collections.abc import Callable

from _harness_audit import _clear_gc, _harden
from _harness_messages import PROGRAM, TEST, _compile_call, _compile_tests, _get_traceback, _raised, _status, describe
from _harness_namespace import _copies, _test_namespace, snapshot_modules
from _harness_values import (
    _VALUE_CHARS,
    _VALUE_ITEMS,
    _VALUES_CHARS,
    _encode,
    _encode_str,
    _exact_str,
    _guarded,
    _name,
    _NotPlain,
    _what,
)

# Every function below looks builtins up here, not in the builtins module a candidate can rebind.
globals()["__builtins__"] = dict(builtins.__dict__)

RUNNING = "running"  # reported as a test starts; any other status ends it
Report = Callable[..., None]  # report(i, status, message[, value as JSON text])

# References taken now, before any candidate: C functions and descriptors a candidate cannot change.
_CodeType = types.CodeType
_TracebackType = types.TracebackType

__all__ = ["RUNNING", "done_line", "flush_streams", "format_bug", "record_line", "run", "run_calls", "snapshot_modules"]


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
