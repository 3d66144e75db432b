"""One sandbox per process, shared by the code tasks and verifiers, created on first use and closed at exit.

Starting a pool of fork servers takes a fraction of a second and each holds a process per worker, so the tasks'
oracle (``check_many``) and the verifiers (``tests``, ``property``) send their programs to the same pool rather than
each starting their own. A child process (after ``fork``) never reuses its parent's pool: the pipes belong to the
parent, so the child starts its own on first use.
"""

from __future__ import annotations

import atexit
import os
import threading

from selftaught.sandbox import Limits, Sandbox

# What a candidate gets by default: the sandbox's defaults (5 s wall clock and CPU, 512 MB, no extra processes).
DEFAULT_LIMITS = Limits()
_MAX_WORKERS = 4

_lock = threading.Lock()
_box: Sandbox | None = None
_owner = -1  # the pid that created _box


def shared_sandbox() -> Sandbox:
    """The process-wide sandbox (``DEFAULT_LIMITS``, one worker per core up to 4), started on first use."""
    global _box, _owner
    with _lock:
        if _box is None or _owner != os.getpid() or _box._closed:
            _box = Sandbox(DEFAULT_LIMITS, workers=max(1, min(_MAX_WORKERS, os.cpu_count() or 1)))
            _owner = os.getpid()
        return _box


def close_shared_sandbox() -> None:
    """Stop the process-wide sandbox if this process started one (idempotent; run at exit)."""
    global _box
    with _lock:
        if _box is not None and _owner == os.getpid():
            _box.close()
        _box = None


atexit.register(close_shared_sandbox)
