"""The warm worker pool: one fork server per worker, candidates dispatched to whichever is free."""

from __future__ import annotations

import fcntl
import json
import os
import queue
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from selftaught.errors import SelftaughtError
from selftaught.sandbox.limits import Limits
from selftaught.sandbox.result import Result, summarise

ISOLATIONS = ("fork", "bwrap")
_SERVER = Path(__file__).with_name("_server.py")
_UID_BASE = 2_000_000  # candidates run as _UID_BASE + k: no such user, nothing owned by it
_UID_SLOTS = 1 << 16
_UID_DIR = Path("/run/selftaught-sandbox-uids" if os.path.isdir("/run") else tempfile.gettempdir() + "/selftaught-uids")
_BWRAP_BASE = "/tmp/selftaught-sandbox"  # inside bubblewrap's private /tmp
_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}

Tests = Sequence[str] | str


class _Worker:
    """A fork server process and the pipes to it."""

    def __init__(self, index: int, base: Path, limits: Limits, isolation: str, net: bool):
        self.index = index
        self.base = base / f"w{index}"
        self.base.mkdir(mode=0o711)
        self.uid, self._uid_lock = _claim_uid() if os.geteuid() == 0 else (None, None)
        cmd = [sys.executable, "-E", "-s", "-B", str(_SERVER)]
        inner = self.base
        if isolation == "bwrap":
            inner = Path(_BWRAP_BASE)
            cmd = _bwrap_prefix() + cmd
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_ENV, cwd="/", start_new_session=True
        )
        config = {"base": str(inner), "uid": self.uid, "limits": limits.as_dict(), "net": net, "seccomp": True}
        self.send(config)
        ready = self.receive(timeout=60)
        if ready is None or not ready.get("ready"):
            self.close()
            why = "exited" if ready is None else ready.get("error")
            raise SelftaughtError(f"sandbox worker {index} did not start ({isolation} isolation): {why}")
        self.applied: dict[str, str] = ready["applied"]

    def send(self, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        self.proc.stdin.flush()

    def receive(self, timeout: float | None = None) -> dict | None:
        """The server's next frame; None if it died or (a bug) sent nothing within ``timeout`` seconds."""
        if timeout is not None and not select.select([self.proc.stdout], [], [], timeout)[0]:
            return None
        head = self.proc.stdout.read(4)
        if len(head) < 4:
            return None
        body = self.proc.stdout.read(struct.unpack(">I", head)[0])
        return json.loads(body)

    def close(self) -> None:
        self._close_server()
        if self._uid_lock is not None:  # the uid is free for another sandbox once nothing of ours runs under it
            _release_uid(self.uid, self._uid_lock)
            self._uid_lock = None

    def _close_server(self) -> None:
        if self.proc.poll() is None:
            # SIGTERM first: the server kills and reaps a running candidate, so no zombie is left to init
            for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, None)):
                try:
                    os.killpg(self.proc.pid, sig)
                except OSError:
                    pass
                try:
                    self.proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


def _claim_uid() -> tuple[int, int]:
    """A uid that no other live sandbox on this machine uses (in this process or another): the first slot whose
    lock file this process can lock. The lock is released when the worker closes or the process dies."""
    _UID_DIR.mkdir(mode=0o700, exist_ok=True)
    if _UID_DIR.stat().st_uid != 0 or _UID_DIR.is_symlink():
        raise SelftaughtError(f"sandbox uid lock directory {_UID_DIR} is not root's own")
    for k in range(_UID_SLOTS):
        path = _UID_DIR / str(k)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:  # not a file its last holder unlinked meanwhile
                return _UID_BASE + k, fd
        except OSError:
            pass
        os.close(fd)
    raise SelftaughtError(f"sandbox: all {_UID_SLOTS} candidate uids are in use")


def _release_uid(uid: int, fd: int) -> None:
    try:
        os.unlink(_UID_DIR / str(uid - _UID_BASE))  # while still holding the lock: see the inode check above
    except OSError:
        pass
    os.close(fd)


def _bwrap_prefix() -> list[str]:
    exe = shutil.which("bwrap")
    if exe is None:
        raise SelftaughtError("isolation='bwrap' needs bubblewrap: install it (apt-get install bubblewrap)")
    return [
        exe, "--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net",
        "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm",
        "--dir", _BWRAP_BASE, *_hidden_by_tmpfs(), "--cap-add", "ALL", "--",
    ]  # fmt: skip


def _hidden_by_tmpfs() -> list[str]:
    """Read-only binds of what the fork server needs that lives under /tmp or /dev/shm (a virtualenv or a checkout
    there), which bwrap's fresh tmpfs mounts would otherwise hide: the interpreter's prefixes and this package."""
    needed = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)), str(_SERVER.parent)}
    hidden = sorted(p for p in needed if any(p == top or p.startswith(top + "/") for top in ("/tmp", "/dev/shm")))
    return [arg for p in hidden for arg in ("--ro-bind", p, p)]


class Sandbox:
    """Runs untrusted Python with every limit in ``limits`` on, ``workers`` candidates at a time.

    ``isolation="fork"`` (default): each worker is a fork server that, when run as root, puts itself in private
    mount, network and IPC namespaces (every mount read-only; private tmpfs mounts for the working directories and
    /dev/shm; its own /proc where other users' processes are hidden; no network interface up) and runs each
    candidate in a fresh child, under a uid no other sandbox on the machine uses, with rlimits and a seccomp
    filter. Not root: rlimits, seccomp (no sockets, no fork/exec) and a private working directory only.
    ``isolation="bwrap"`` also wraps each fork server in bubblewrap (new pid, ipc, uts and network namespaces;
    fresh /dev, /proc and /tmp). Use as a context manager, or call ``close()``; ``isolation_report()`` says what
    applied.
    """

    # The harness's audit hook (see _harness), on for every candidate; a test of the OS layers beneath it (seccomp,
    # the parent-death signal) turns it off on a sandbox of its own, to reach them with ctypes.
    _harden = True

    def __init__(self, limits: Limits | None = None, workers: int | None = None, isolation: str = "fork"):
        self.limits = limits if limits is not None else Limits()
        if isolation not in ISOLATIONS:
            raise SelftaughtError(f"sandbox isolation={isolation!r} is not one of {', '.join(ISOLATIONS)}")
        n = workers if workers is not None else (os.cpu_count() or 1)
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 256:
            raise SelftaughtError(f"sandbox workers={workers!r} must be a whole number in [1, 256]")
        if isolation == "bwrap" and shutil.which("bwrap") is None:
            raise SelftaughtError("isolation='bwrap' needs bubblewrap: install it (apt-get install bubblewrap)")
        self.isolation = isolation
        self._base = Path(tempfile.mkdtemp(prefix="selftaught-sandbox-"))
        self._base.chmod(0o711)
        self._workers: list[_Worker] = []
        self._free: queue.Queue[_Worker] = queue.Queue()
        self._lock = threading.Lock()
        self._closed = False
        self._owner = os.getpid()  # a forked copy of this object must not close the owner's workers
        try:
            net = os.geteuid() == 0  # namespaces need root; otherwise seccomp alone blocks sockets
            for i in range(n):
                w = _Worker(i, self._base, self.limits, isolation, net)
                self._workers.append(w)
                self._free.put(w)
        except BaseException:
            self.close()
            raise
        self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="sandbox")

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """True once ``close()`` has run."""
        return self._closed

    def isolation_report(self) -> dict[str, str]:
        """What each protection is and how it applied on this machine."""
        lim = self.limits
        report = {
            "isolation": self.isolation,
            "workers": str(len(self._workers)),
            "time": f"wall-clock {lim.time_s:g} s (SIGKILL from the fork server), CPU {lim.cpu_s:g} s (RLIMIT_CPU)",
            "memory": f"{lim.memory_mb} MB address space (RLIMIT_AS)",
            "processes": "fork/exec refused by seccomp and RLIMIT_NPROC"
            if lim.processes == 0
            else f"{lim.processes} extra processes (RLIMIT_NPROC); all killed after the candidate",
            "output": f"{lim.output_bytes} bytes per stream, then the candidate is killed",
            "files": f"{lim.file_bytes} bytes per file (RLIMIT_FSIZE) and in all (the size of the private tmpfs)",
            "environment": "scrubbed: PATH, HOME, TMPDIR, LANG only",
        }
        if self._workers:
            report.update(self._workers[0].applied)
        if self.isolation == "bwrap":
            report["bwrap"] = "pid, ipc, uts, network namespaces; / read-only; fresh /dev, /proc, /tmp"
        return report

    def run(self, program: str, tests: Tests, entry_point: str | None = None, limits: Limits | None = None) -> Result:
        """Run ``program`` then ``tests``: a list of assert statements (or expressions), one result each, or a test
        program as one test (HumanEval style: it defines ``check(candidate)``, called with ``entry_point``).
        ``limits``: this call's limits instead of the sandbox's (its file_bytes at most the sandbox's)."""
        return self._run_job(_job(program, tests, entry_point, self._call_limits(limits)))

    def run_many(self, items: Sequence[tuple[str, Tests, str | None]], limits: Limits | None = None) -> list[Result]:
        """Run many candidates in parallel over the workers; results in the order given."""
        call = self._call_limits(limits)
        jobs = [_job(*item, call) for item in items]
        return list(self._pool.map(self._run_job, jobs))

    def call(self, program: str, calls: Sequence[str], limits: Limits | None = None) -> Result:
        """Run ``program``, then evaluate each of ``calls`` (trusted Python expressions such as ``"f([3, 1, 2])"``,
        in the program's namespace) and return each value as plain data: ``result.values[i]`` is the value (None,
        bool, int, float, str, or lists, tuples and str-keyed dicts of them, serialised in the sandbox with exact
        type checks and decoded here, so no object of the candidate's types comes out), or ``NO_VALUE``
        (``selftaught.types``) where the call raised, was stopped or returned anything else; ``result.tests[i]`` is
        "passed" with a value, else says why not ("error": what it raised, or "returned a MyInt, not plain data")."""
        return self._run_job(_call_job(program, calls, self._call_limits(limits)))

    def call_many(self, items: Sequence[tuple[str, Sequence[str]]], limits: Limits | None = None) -> list[Result]:
        """``call`` for many (program, calls) in parallel over the workers; results in the order given."""
        call = self._call_limits(limits)
        jobs = [_call_job(program, calls, call) for program, calls in items]
        return list(self._pool.map(self._run_job, jobs))

    def _call_limits(self, limits: Limits | None) -> dict | None:
        if limits is None:
            return None
        if not isinstance(limits, Limits):
            raise SelftaughtError(f"sandbox limits must be a Limits, not {type(limits).__name__}")
        if limits.file_bytes > self.limits.file_bytes:
            raise SelftaughtError(
                f"sandbox limit file_bytes={limits.file_bytes} is over this sandbox's {self.limits.file_bytes}"
            )
        return limits.as_dict()

    def _run_job(self, job: dict) -> Result:
        if self._closed:
            raise SelftaughtError("this sandbox is closed")
        if not self._harden:
            job = {**job, "harden": False}
        worker = self._free.get()
        try:
            try:
                worker.send(job)
                raw = worker.receive(timeout=(job["limits"] or self.limits.as_dict())["time_s"] + 60)
            except (BrokenPipeError, OSError, ValueError):
                raw = None
            if raw is None:  # the fork server died (it should not): replace it, report the candidate as killed
                worker = self._replace(worker)
                n = len(job["calls"]) if "calls" in job else 1 if isinstance(job["tests"], str) else len(job["tests"])
                why = "the sandbox worker died while running this candidate"
                raw = {"stopped": ["killed", why], "tests": [["killed", why]] * n, "stdout": "", "stderr": ""}
                raw.update(seconds=0.0, cpu_seconds=0.0)
                if "calls" in job:
                    raw["values"] = [None] * n
            return summarise(raw)
        finally:
            self._free.put(worker)

    def _replace(self, worker: _Worker) -> _Worker:
        with self._lock:
            worker.close()
            shutil.rmtree(worker.base, ignore_errors=True)
            if self._closed:
                return worker
            net = os.geteuid() == 0  # namespaces need root; otherwise seccomp alone blocks sockets
            fresh = _Worker(worker.index, self._base, self.limits, self.isolation, net)
            self._workers[self._workers.index(worker)] = fresh
            return fresh

    def close(self) -> None:
        """Kill the workers and remove the working directories. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if os.getpid() != self._owner:
                return
            for w in self._workers:
                w.close()
            if hasattr(self, "_pool"):
                self._pool.shutdown(wait=False)
            shutil.rmtree(self._base, ignore_errors=True)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _job(program: str, tests: Tests, entry_point: str | None, limits: dict | None = None) -> dict:
    if not isinstance(program, str):
        raise SelftaughtError(f"sandbox program must be a string, not {type(program).__name__}")
    if isinstance(tests, str):
        test_list: list[str] | str = tests
    else:
        test_list = list(tests)
        if not test_list or not all(isinstance(t, str) for t in test_list):
            raise SelftaughtError("sandbox tests must be a test program (str) or a non-empty list of strings")
    if entry_point is not None and (not isinstance(entry_point, str) or not entry_point.isidentifier()):
        raise SelftaughtError(f"sandbox entry_point={entry_point!r} is not a Python name")
    return {"program": program, "tests": test_list, "entry_point": entry_point, "limits": limits}


def _call_job(program: str, calls: Sequence[str], limits: dict | None = None) -> dict:
    if not isinstance(program, str):
        raise SelftaughtError(f"sandbox program must be a string, not {type(program).__name__}")
    if isinstance(calls, str):
        raise SelftaughtError("sandbox calls must be a list of expressions, not one string")
    call_list = list(calls)
    if not call_list or not all(isinstance(c, str) for c in call_list):
        raise SelftaughtError("sandbox calls must be a non-empty list of expressions (strings)")
    return {"program": program, "calls": call_list, "limits": limits}
