"""The writing side of a store: ``Store``, a ``Reader`` that also writes, made with ``Store.create`` or opened with
``Store.open``; one per run, held under the run directory's lock."""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.store.connection import connect_reader, connect_writer, fold_log
from selftaught.store.evaluation import EvaluationWrites
from selftaught.store.learning import LearningWrites
from selftaught.store.migrations import upgrade_step
from selftaught.store.problems import ProblemWrites
from selftaught.store.reader import Reader, stored_version
from selftaught.store.relabels import RelabelWrites
from selftaught.store.runs import RunWrites
from selftaught.store.schema import SCHEMA_VERSION, create_tables
from selftaught.store.teaching import TeachingWrites
from selftaught.store.training import TrainingWrites
from selftaught.store.transactions import Transactions

log = logging.getLogger(__name__)


class Store(
    Reader,
    Transactions,
    RunWrites,
    ProblemWrites,
    TrainingWrites,
    TeachingWrites,
    EvaluationWrites,
    LearningWrites,
    RelabelWrites,
):
    """A run's database, to write. Open an existing one with ``Store.open``, make a new one with ``Store.create``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        super().__init__(path, conn)
        self._in_tx = False

    @classmethod
    def create(
        cls, path: Path, run_id: str, config: dict[str, Any], config_text: str, created: float | None = None
    ) -> Store:
        """A new store at ``path``; ``created`` (``time.time()``, default now) is when the run began."""
        if path.exists():
            raise SelftaughtError(f"{path} already exists; use 'selftaught resume' to continue that run")
        store = cls(path, connect_writer(path))
        with store.transaction():
            create_tables(store._db)
            store.set_meta(
                schema_version=SCHEMA_VERSION,
                run_id=run_id,
                created=time.time() if created is None else created,
                config=json.dumps(config),
                config_text=config_text,
                status="running",
                stop_reason="",
            )
        return store

    @classmethod
    def open(cls, path: Path) -> Store:
        """The store at ``path``, to write, brought up to ``SCHEMA_VERSION`` one version per transaction."""
        if not path.is_file():
            raise SelftaughtError(f"no run store at {path}")
        # Checked read-only first, so a file that is not a run store is never modified (no WAL switch, no -wal file).
        probe = connect_reader(path)
        try:
            found = stored_version(probe, path)
        except sqlite3.DatabaseError as e:
            raise SelftaughtError(f"{path} is not a readable selftaught run store ({e})") from None
        finally:
            probe.close()
        store = cls(path, connect_writer(path))
        while found != SCHEMA_VERSION:
            with store.transaction():
                found = upgrade_step(store._db, found)
        return store

    def close(self, checkpoint: bool = True) -> bool:  # type: ignore[override]
        """Roll back an unfinished transaction, fold the write-ahead log into ``run.db`` and close.

        Returns whether the log was emptied into the database, i.e. ``run.db`` alone holds every committed row.
        It is not when another connection is still reading (after waiting for it); the rows are then still safe in
        ``run.db-wal``, and the next close that can fold them in moves them. A disk that refuses the fold while the
        log holds rows raises ``SelftaughtError`` (after closing). Without ``checkpoint`` the log is left as it is.
        """
        if self._db is None:
            return True
        emptied = False
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if checkpoint:
                emptied = fold_log(self._db, self.path)
        except sqlite3.Error as e:
            log.info("could not roll back or checkpoint %s: %s", self.path, e)
        finally:
            self._db.close()
            self._db = None  # type: ignore[assignment]
            self._in_tx = False
        return emptied
