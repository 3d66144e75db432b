"""The read-only side of a store: ``Reader.open(path)`` offers every query and no write, and leaves the files as it
found them (see ``connection.py`` for how it opens)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from selftaught.errors import SelftaughtError
from selftaught.store.connection import connect_reader, unreadable
from selftaught.store.evaluation import EvaluationReads
from selftaught.store.learning import LearningReads
from selftaught.store.migrations import MIGRATIONS, upgrade_step
from selftaught.store.problems import ProblemReads
from selftaught.store.relabels import RelabelReads
from selftaught.store.runs import RunReads
from selftaught.store.schema import SCHEMA_VERSION
from selftaught.store.teaching import TeachingReads
from selftaught.store.training import TrainingReads


def stored_version(db: sqlite3.Connection, path: Path) -> int:
    """The schema version the store on ``db`` was written at, if it is one this code can read (now or after its
    migrations); else ``SelftaughtError``. A file that is no store raises ``sqlite3.DatabaseError``."""
    row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    found = int(row[0]) if row else None
    if found != SCHEMA_VERSION and found not in MIGRATIONS:
        raise SelftaughtError(f"{path} has schema version {row and row[0]}, expected {SCHEMA_VERSION}")
    return found  # type: ignore[return-value]


class Reader(RunReads, ProblemReads, TrainingReads, TeachingReads, EvaluationReads, LearningReads, RelabelReads):
    """A store opened to read: every query, no write. Open with ``Reader.open(path)``; ``close`` (or ``with``)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._db = conn

    @classmethod
    def open(cls, path: Path) -> Reader:
        """The store at ``path``, read-only, while its writer runs or not, on media this process cannot write.

        A store of an older schema version is upgraded in a copy held in memory (the file is left as it is), so
        every query answers as on a current one.
        """
        if not path.is_file():
            raise SelftaughtError(f"no run store at {path}")
        conn = connect_reader(path)
        try:
            try:
                found = stored_version(conn, path)
            except sqlite3.DatabaseError as e:
                raise unreadable(path, e) from None
            if found != SCHEMA_VERSION:
                copy = sqlite3.connect(":memory:", isolation_level=None)
                conn.backup(copy)
                conn.close()
                conn = copy
                while found != SCHEMA_VERSION:
                    found = upgrade_step(conn, found)
        except BaseException:
            conn.close()
            raise
        return cls(path, conn)

    def close(self, checkpoint: bool = False) -> None:
        """Close the connection; a reader leaves the files as they are (``checkpoint`` must stay False: folding the
        log in is the writer's)."""
        if checkpoint:
            raise ValueError("a Reader cannot checkpoint the store; only its writer (Store) can")
        if self._db is not None:
            self._db.close()
            self._db = None  # type: ignore[assignment]

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
