"""The harness's audit hook: it refuses what would reach the harness's frames and objects from inside the process
(frames, tracing, gc walks, ctypes, new audit hooks, code swaps, module class swaps, /proc). Part of the harness (see
``_harness``); standard library only."""

from __future__ import annotations

import _thread
import builtins
import gc
import os
import stat
import sys
import types

from _harness_values import _exact_str

# Every function below looks builtins up here, not in the builtins module a candidate can rebind.
globals()["__builtins__"] = dict(builtins.__dict__)

# References taken now, before any candidate: C functions and descriptors a candidate cannot change.
_readlink, _getcwd, _lstat, _is_link = os.readlink, os.getcwd, os.lstat, stat.S_ISLNK
_set_gc_debug, _gc_garbage, _gc_enable, _gc_disable, _gc_enabled = (
    gc.set_debug,
    gc.garbage,
    gc.enable,
    gc.disable,
    gc.isenabled,
)
_thread_id = _thread.get_ident
_add_audit_hook = sys.addaudithook
_ModuleType = types.ModuleType

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
