"""One writer per run directory: an exclusive ``flock`` on ``RUN_DIR/.lock``, held for a whole ``run`` or ``resume``.

The lock belongs to the open file, so the kernel drops it when its holder exits, however it exits (``kill -9``
included): a lock is never stale. The holder writes its pid, host, command and start time into the file, so the
process that is refused can say who holds the run. Readers (``status``, ``report``, ``export``, ``compare``) take
no lock: they open the store read-only (``Reader``), which needs none. A failed ``resume`` lets go of a lock file it
made (``release(discard=True)``), so a directory that holds no run is left as it was found.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError

LOCK_NAME = ".lock"

# The holder writes its details just after it takes the lock; a process refused in between waits this long for them.
_DETAILS_WAIT = 1.0


def _command() -> str:
    """How this process was started, briefly: ``selftaught resume`` (program name and its first argument)."""
    prog = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if prog in ("__main__.py", "-m", "-c"):
        prog = "selftaught"
    return " ".join([prog, *sys.argv[1:2]])


def _open_lock_file(path: Path) -> tuple[int, bool]:
    """The lock file, opened to read and write, and whether this call made it."""
    try:
        while True:
            try:
                return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644), True
            except FileExistsError:
                pass
            try:
                return os.open(path, os.O_RDWR | os.O_CLOEXEC), False
            except FileNotFoundError:
                pass  # removed in between: make it
    except OSError as e:
        raise SelftaughtError(f"cannot open the run directory's lock file {path}: {e.strerror or e}") from None


def _still_there(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open on ``fd``."""
    try:
        here, held = os.stat(path), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (held.st_dev, held.st_ino)


class RunLock:
    """The exclusive lock on a run directory. ``RunLock.acquire(run_dir)``; ``release()`` (or ``with``) ends it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd
        self.created = False  # whether acquiring it made the lock file

    @classmethod
    def acquire(cls, run_dir: Path, command: str | None = None) -> RunLock:
        """Take the lock without waiting; a held lock raises ``SelftaughtError`` naming its holder."""
        path = run_dir / LOCK_NAME
        while True:
            fd, created = _open_lock_file(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise SelftaughtError(f"cannot lock the run directory {run_dir}: {e.strerror or e}") from None
                holder = _wait_for_details(fd)
                os.close(fd)
                raise SelftaughtError(f"run directory {run_dir} is in use by {_describe(holder)}") from None
            if _still_there(fd, path):
                break
            os.close(fd)  # its maker removed it (``release(discard=True)``) before we locked it: take the new one
        details = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": command or _command(),
            "since": time.time(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(details).encode(), 0)
        except OSError as e:
            if created:
                path.unlink(missing_ok=True)
            os.close(fd)
            raise SelftaughtError(f"cannot write the lock file {path}: {e.strerror or e}") from None
        lock = cls(path, fd)
        lock.created = created
        return lock

    def release(self, discard: bool = False) -> None:
        """Clear the holder's details, then unlock (closing the file drops the lock). With ``discard``, a lock file
        this lock made is removed, so a directory that turned out to hold no run is left as it was found."""
        if self._fd < 0:
            return
        if discard and self.created:
            try:
                self.path.unlink()
            except OSError:
                pass  # a read-only directory: the empty file stays
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass  # a full or read-only disk: the details stay, the lock still goes
        os.close(self._fd)
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        self.release()


def _read_details(fd: int) -> dict[str, Any] | None:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data else None
    except (OSError, ValueError):
        return None


def _wait_for_details(fd: int) -> dict[str, Any] | None:
    deadline = time.monotonic() + _DETAILS_WAIT
    while (details := _read_details(fd)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return details


def _describe(details: dict[str, Any] | None) -> str:
    """``pid 123 (selftaught resume, since 14:02)``, with the host when it is another machine's."""
    if not details:
        return "another process"
    where = f" on {details['host']}" if details.get("host") not in (None, socket.gethostname()) else ""
    since = time.strftime("%H:%M", time.localtime(float(details.get("since", 0))))
    return f"pid {details.get('pid')}{where} ({details.get('command', '?')}, since {since})"
