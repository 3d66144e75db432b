"""The fork server: one long-lived process per worker that confines itself once, imports what candidates commonly
need, then forks a fresh confined child per candidate and supervises it (deadline, output cap, result pipe).

Run as a script (``python -E -s _server.py``) by ``pool.Sandbox``; talks over its stdin/stdout in frames of a
4-byte length and JSON. Standard library only.
"""

from __future__ import annotations

import gc
import io
import json
import os
import secrets
import select
import shutil
import signal
import struct
import sys
import time
import types

import _confine
import _harness

PRELOAD = (
    "math", "cmath", "re", "collections", "itertools", "functools", "heapq", "bisect", "string", "typing",
    "fractions", "decimal", "statistics", "random", "json", "datetime", "copy", "operator", "hashlib", "array",
    "textwrap", "unicodedata", "numbers", "dataclasses", "enum", "abc", "struct", "time", "tempfile", "threading",
)  # fmt: skip
RESULT_CAP = 1 << 20
_WARM = (
    "def f(x):\n    return x + 1\n",
    ["f(1) == 2", "assert f(2) == 4", "f(None)", "f(1) + 1 == 3"],
    "def check(candidate):\n    assert candidate(1) == 2\n",
    ["f(1)", "f(None)", "[f(2), (f(3),), {'a': f(4)}]"],
)
GRACE_S = 0.2


def read_frame(fd: int) -> dict | None:
    head = _read_exact(fd, 4)
    if head is None:
        return None
    body = _read_exact(fd, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def _read_exact(fd: int, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def write_frame(fd: int, obj: dict) -> None:
    body = json.dumps(obj).encode()
    data = struct.pack(">I", len(body)) + body
    while data:
        data = data[os.write(fd, data) :]


class Server:
    def __init__(self, config: dict):
        self.base = config["base"]
        self.uid = config["uid"]
        self.limits = config["limits"]
        self.seccomp = config["seccomp"] and _confine.seccomp_available()
        self.lim = self.limits
        self.count = 0
        self.applied: dict[str, str] = {}

    def setup(self, net: bool) -> None:
        paths = [sys.prefix, sys.exec_prefix, sys.base_prefix] + [p for p in sys.path if p]
        if self.uid is not None:
            self.applied.update(_confine.isolate_server(self.base, self.limits["file_bytes"], net, paths))
            self.applied["user"] = "a uid of its own per worker, no user of this machine (worker 0: "
            self.applied["user"] += f"{self.uid}); no capabilities, no new privileges"
        else:
            if net:
                _confine.unshare(_confine.CLONE_NEWNET)
            self.applied["network"] = "namespace (no interfaces up)" if net else "sockets blocked by seccomp only"
            self.applied["filesystem"] = "private working directory only; the rest of the filesystem is as writable "
            self.applied["filesystem"] += "as for the caller's uid"
            self.applied["user"] = "the caller's uid (not root: no uid change)"
        self.applied["seccomp"] = "on" if self.seccomp else "unavailable (not x86_64)"
        # orphans of a candidate allowed to fork come back to this server, which kills and reaps them
        _confine.set_child_subreaper()
        _confine.prepare_server()
        for name in PRELOAD:
            __import__(name)
        _harness.snapshot_modules()  # what the tests' imports are served from
        # Run the harness on a fixed program of ours a few times: the interpreter specialises the bytecode it runs,
        # and a child that inherits specialised code need not write (copy) those pages again.
        for _ in range(8):
            _harness.run(_WARM[0], _WARM[1], None, self._warm_report, harden=False)
            _harness.run(_WARM[0], _WARM[2], "f", self._warm_report, harden=False)
            _harness.run_calls(_WARM[0], _WARM[3], self._warm_report, harden=False)
        gc.collect()
        gc.freeze()  # the collector in a child then leaves the server's objects alone: fewer copy-on-write faults

    @staticmethod
    def _warm_report(i: int, status: str, message: str, value: str | None = None) -> None:
        _harness.record_line("0" * 16, i, status, message, value)

    def run(self, job: dict) -> dict:
        self.lim = job.get("limits") or self.limits  # limits of this call, else the sandbox's
        self.count += 1
        wd = os.path.join(self.base, f"c{self.count}")
        os.mkdir(wd, 0o700)
        if self.uid is not None:
            os.chown(wd, self.uid, self.uid)
        pipes = [os.pipe() for _ in range(3)]
        token = secrets.token_hex(8)
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            self._child(job, wd, [w for _, w in pipes], token)
        for _, w in pipes:
            os.close(w)
        try:
            out = self._supervise(pid, [r for r, _ in pipes], start, token, job_size(job))
            if "calls" not in job:
                del out["values"]
        except BaseException:  # SIGTERM from the pool while a candidate runs: kill and reap it before exiting
            self._kill(pid)
            os.waitpid(pid, 0)
            raise
        finally:
            if self.lim["processes"] > 0:
                self._kill_leftovers()
            shutil.rmtree(wd, ignore_errors=True)
            if self.uid is not None:
                self._empty(_confine.SHM)  # this server's own tmpfs: nothing passes to the next candidate
        return out

    @staticmethod
    def _empty(directory: str) -> None:
        try:
            names = os.listdir(directory)
        except OSError:
            return
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass

    def _child(self, job: dict, wd: str, writers: list[int], token: str) -> None:
        # What reports results is taken now, before the candidate runs: it may rebind os.write, os._exit, json.dumps.
        write, exit_ = os.write, os._exit
        line, flush, bug = _harness.record_line, _harness.flush_streams, _harness.format_bug
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            for fd, w in zip((1, 2, 3), writers):
                os.dup2(w, fd)
            os.closerange(4, 1 << 16)
            os.chdir(wd)
            os.environ.clear()
            os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=wd, TMPDIR=wd, LANG="C.UTF-8")
            sys.modules["tempfile"].tempdir = None
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            _confine.confine_child(self.lim, self.uid, self.seccomp)
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
            for name, fd in (("stdout", 1), ("stderr", 2)):
                stream = io.TextIOWrapper(
                    io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True
                )
                setattr(sys, name, stream)
                setattr(sys, f"__{name}__", stream)

            done = _harness.done_line(token)

            def report(i: int, status: str, message: str, value: str | None = None) -> None:
                write(3, line(token, i, status, message, value))

            # Out of the candidate's reach by import: the harness's modules (whose functions judge it), _confine
            # and this server (which holds the harness); a later ``import _harness`` (or ``_harness_values``, ...)
            # loads a separate copy.
            for name in [n for n in sys.modules if n[:8] == "_harness"] + ["_confine"]:
                sys.modules.pop(name, None)
            sys.modules["__main__"] = types.ModuleType("__main__")
            harden = job.get("harden", True) is not False
            if "calls" in job:
                _harness.run_calls(job["program"], job["calls"], report, harden)
            else:
                _harness.run(job["program"], job["tests"], job["entry_point"], report, harden)
            flush()
            write(3, done)
            exit_(0)
        except BaseException as e:
            try:
                write(2, ("sandbox harness failure: " + bug(e)).encode())
            finally:
                exit_(70)

    def _supervise(self, pid: int, readers: list[int], start: float, token: str, n: int) -> dict:
        cap = self.lim["output_bytes"]
        pidfd = os.pidfd_open(pid)
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        for fd in readers:
            poller.register(fd, select.POLLIN)
        bufs = {fd: bytearray() for fd in readers}
        open_fds = set(readers)
        deadline = start + self.lim["time_s"]
        stopped = None
        exited_at = None
        while True:
            now = time.monotonic()
            if exited_at is None and stopped is None and now >= deadline:
                stopped = ("timeout", f"wall-clock limit of {self.lim['time_s']:g} s reached")
                self._kill(pid)
            if exited_at is not None and (not open_fds or now >= exited_at + GRACE_S):
                break
            wait = (exited_at + GRACE_S if exited_at is not None else max(deadline, now + 0.05)) - now
            for fd, _ in poller.poll(max(1, int(wait * 1000) + 1)):
                if fd == pidfd:
                    exited_at = time.monotonic()
                    poller.unregister(pidfd)
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                    continue
                bufs[fd] += chunk
                limit = RESULT_CAP if fd == readers[2] else cap
                if len(bufs[fd]) > limit and stopped is None:
                    what = "results" if fd == readers[2] else ("stdout" if fd == readers[0] else "stderr")
                    stopped = ("killed", f"output limit: more than {limit} bytes on {what}")
                    del bufs[fd][limit:]
                    self._kill(pid)
                elif len(bufs[fd]) > limit:
                    del bufs[fd][limit:]
        for fd in readers:
            os.close(fd)
        os.close(pidfd)
        _, status, usage = os.wait4(pid, 0)
        seconds = time.monotonic() - start
        cpu = usage.ru_utime + usage.ru_stime
        tests, values, done, current = self._parse(bufs[readers[2]], token, n)
        if stopped is None and os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= self.lim["cpu_s"] * 0.95):
                stopped = ("timeout", f"CPU time limit of {self.lim['cpu_s']:g} s reached")
            else:
                stopped = ("killed", f"killed by {signal.Signals(sig).name}")
        elif stopped is None and not done:
            code = os.waitstatus_to_exitcode(status)
            stopped = ("error", f"the program exited (code {code}) before its tests finished")
        if stopped is not None:
            status, why = stopped
            where = "while the program loaded" if current is None else f"in test {current + 1}"
            for i, t in enumerate(tests):
                if t is None:
                    tests[i] = [status, why if i == current else f"not run: stopped {where} ({why})"]
            stopped = (status, f"{why} ({where})")
        return {
            "stopped": stopped,
            "tests": tests,
            "values": values,
            "stdout": bufs[readers[0]].decode("utf-8", "replace"),
            "stderr": bufs[readers[1]].decode("utf-8", "replace"),
            "seconds": seconds,
            "cpu_seconds": cpu,
        }

    @staticmethod
    def _parse(raw: bytes, token: str, n: int) -> tuple[list, list, bool, int | None]:
        """Per-test [status, message] (None if unfinished), per-test [value] (a passed call's, else None), whether
        the harness finished, the test running last."""
        tests: list = [None] * n
        values: list = [None] * n
        done = False
        current = None
        for line in raw.split(b"\n"):
            try:
                rec = json.loads(line)
            except (ValueError, RecursionError):  # a line the candidate wrote, nested past the parser's depth
                continue
            if not isinstance(rec, dict) or rec.get("t") != token:
                continue
            if rec.get("done") is True:
                done = True
                break
            i = rec.get("i")
            if isinstance(i, int) and 0 <= i < n and tests[i] is None:
                if rec.get("s") == _harness.RUNNING:
                    current = i
                else:
                    tests[i] = [str(rec.get("s")), str(rec.get("m"))[:2000]]
                    if tests[i][0] == "passed" and "v" in rec:
                        values[i] = [rec["v"]]  # boxed: a value of None is not the absence of one
        return tests, values, done and all(t is not None for t in tests), current

    @staticmethod
    def _kill(pid: int) -> None:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def _kill_leftovers(self) -> None:
        """Kill every process the candidate left behind and reap them all (they are this subreaper's children):
        as the worker's own uid, kill(-1) reaches exactly the candidate's processes."""
        if self.uid is not None:
            pid = os.fork()
            if pid == 0:
                try:
                    os.setresuid(self.uid, self.uid, self.uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return


def job_size(job: dict) -> int:
    """How many results a job has: one per call, per assert, or one for a test program."""
    if "calls" in job:
        return len(job["calls"])
    return 1 if isinstance(job["tests"], str) else len(job["tests"])


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # the pool's close(): leave nothing behind
    proto_in, proto_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)
    config = read_frame(proto_in)
    if config is None:
        return
    server = Server(config)
    try:
        server.setup(config["net"])
    except OSError as e:
        write_frame(proto_out, {"ready": False, "error": str(e)})
        return
    write_frame(proto_out, {"ready": True, "applied": server.applied, "pid": os.getpid()})
    while True:
        job = read_frame(proto_in)
        if job is None:
            return
        write_frame(proto_out, server.run(job))


if __name__ == "__main__":
    main()
