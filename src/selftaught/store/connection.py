"""Opening and closing the SQLite file: the writer's connection (WAL, pragmas), the reader's (read-only, making no
file), and the close that folds the write-ahead log back into ``run.db``.

What SQLite needs, and why the two open differently:

- A writer keeps the store in WAL mode while it runs, so readers see every committed transaction without blocking it
  and it never waits for them. WAL mode keeps two files beside the store, ``run.db-wal`` (the log) and
  ``run.db-shm`` (its index); the last connection to close folds the log in and removes both.
- A connection opened ``mode=ro`` on a WAL-mode file still needs both files, and makes them if they are missing; being
  read-only it can neither fold them in nor remove them, so it leaves them behind, and where the directory cannot be
  written it cannot open at all. So the writer's close, once the log is folded in, switches the file back to a
  rollback journal (``journal_mode=DELETE``): a finished store is one file that any reader opens ``mode=ro`` making
  nothing, on read-only media too. The next writer switches it to WAL again.
- A WAL-mode file with no index and no log beside it (or an empty one), such as a store closed before that switch
  existed or while a reader held it, is open nowhere and holds everything in itself: it is read as ``immutable=1``,
  which takes no lock and makes no file.
- A WAL-mode file with a log (a writer is running, or one was killed) is read ``mode=ro``, which sees every committed
  transaction; where its index is missing and the directory cannot be written, it cannot be read, which is said in
  one line.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from selftaught.errors import SelftaughtError

log = logging.getLogger(__name__)

# The disk, not the program, refused a write: said in one line, naming the file.
WRITE_ERRORS = {
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_BUSY,
}
BUSY_TIMEOUT = 30.0  # seconds a writer waits for another connection's lock before SQLite says "database is locked"


def is_write_error(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in WRITE_ERRORS


def write_error(path: Path, e: sqlite3.Error) -> SelftaughtError:
    return SelftaughtError(f"cannot write the run store {path}: {e}")


def log_path(path: Path) -> Path:
    """The write-ahead log beside ``path``."""
    return path.with_name(path.name + "-wal")


def index_path(path: Path) -> Path:
    """The write-ahead log's shared-memory index beside ``path``."""
    return path.with_name(path.name + "-shm")


def _wal_mode(path: Path) -> bool:
    """Whether the file's header says WAL (its bytes 18 and 19, the read and write versions, are 2)."""
    try:
        with path.open("rb") as f:
            header = f.read(20)
    except OSError:
        return False
    return len(header) == 20 and header[18] == 2


def connect_writer(path: Path) -> sqlite3.Connection:
    """A read-write connection in WAL mode. ``isolation_level=None``: transactions are begun and committed by
    ``transactions.py``, so a phase is exactly one transaction."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.OperationalError as e:
        conn.close()
        raise write_error(path, e) if is_write_error(e) else e from None
    return conn


def connect_reader(path: Path) -> sqlite3.Connection:
    """A read-only connection to ``path`` that makes no file beside it (see the module's docstring)."""
    uri = path.resolve().as_uri()
    log_, index = log_path(path), index_path(path)
    unused = not (log_.exists() and log_.stat().st_size > 0) and not index.exists()
    if _wal_mode(path) and unused:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    return sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None, timeout=BUSY_TIMEOUT)


def unreadable(path: Path, e: sqlite3.Error) -> SelftaughtError:
    """Why a reader could not open ``path``, in one line."""
    if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN and log_path(path).exists():
        return SelftaughtError(
            f"cannot read the run store {path}: its write-ahead log {log_path(path).name} is not folded in and "
            f"{path.parent} cannot be written (resume the run there, or copy the directory somewhere writable)"
        )
    return SelftaughtError(f"{path} is not a run store: {e}")


def fold_log(db: sqlite3.Connection, path: Path) -> bool:
    """Fold the write-ahead log into ``path`` and empty it; returns whether it was, i.e. ``path`` alone holds every
    committed row. It is not when another connection is still reading (after waiting for it): the rows stay in the
    log, and the next close that can fold them in does. Then, when nothing else has the file open, switch it to a
    rollback journal, so readers open it without making files.

    A disk that refuses the fold (full, I/O error) while the log holds rows raises ``SelftaughtError``: the rows are
    safe in the log, but ``path`` alone is not the run.
    """
    try:
        busy, _, _ = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as e:
        log_ = log_path(path)
        if is_write_error(e) and log_.exists() and log_.stat().st_size > 0:
            raise SelftaughtError(
                f"cannot fold the write-ahead log into the run store {path}: {e}; what the run recorded is kept in "
                f"{log_.name}, and the next 'selftaught resume' folds it in"
            ) from None
        log.info("could not checkpoint %s: %s", path, e)
        return False
    if busy:
        return False
    try:
        db.execute("PRAGMA busy_timeout = 0")  # another connection open: stay in WAL mode rather than wait
        db.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as e:
        log.debug("left %s in WAL mode: %s", path, e)
    return True
