"""The writer's transactions: ``transaction()`` (one SQLite write transaction) and ``phase()`` (a phase's writes and
its done mark in one transaction, guarded against a phase recorded twice)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selftaught.errors import SelftaughtError
from selftaught.store.connection import is_write_error, write_error
from selftaught.store.schema import PHASES


class Transactions:
    """Mixed into ``Store``: what makes its writes atomic. Needs ``path``, ``_db`` and ``phase_done`` (``RunReads``)."""

    path: Path
    _db: sqlite3.Connection
    _in_tx: bool

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite write transaction (``BEGIN IMMEDIATE``: the write lock is taken at the start, so nothing read
        inside it can change before it commits). Any exception rolls it back; a write the disk refuses becomes a
        ``SelftaughtError`` naming the file. Nested, it joins the outer one, which commits."""
        if self._in_tx:
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise write_error(self.path, e) if is_write_error(e) else e from None
        self._in_tx = True
        try:
            yield
        except BaseException as e:
            self._rollback()
            if isinstance(e, sqlite3.OperationalError) and is_write_error(e):
                raise write_error(self.path, e) from None
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self._rollback()
                raise write_error(self.path, e) if is_write_error(e) else e from None
        finally:
            self._in_tx = False

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk does): then there is nothing to undo.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    @contextmanager
    def phase(
        self, round_: int, phase: str, started: float | None = None, cpu_started: float | None = None
    ) -> Iterator[None]:
        """Run a phase's writes in one transaction that also marks the phase done.

        ``started`` is when the phase's work began (``time.time()``) and ``cpu_started`` the process's CPU time then
        (``time.process_time()``); the work usually happens before its writes, so without them only the writing
        would be timed.
        """
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        started = time.time() if started is None else started
        cpu_started = time.process_time() if cpu_started is None else cpu_started
        with self.transaction():
            # Checked inside the transaction, which holds the write lock: no other writer can mark it in between.
            if self.phase_done(round_, phase):
                raise SelftaughtError(
                    f"round {round_} {phase} is already recorded in {self.path}: another process is writing this run"
                )
            yield
            finished = time.time()
            marked = self._db.execute(
                "UPDATE phases SET done = 1, started = ?, finished = ?, seconds = ?, cpu_seconds = ? "
                "WHERE round = ? AND phase = ? AND done = 0",
                (started, finished, finished - started, time.process_time() - cpu_started, round_, phase),
            ).rowcount
            if marked != 1:
                raise RuntimeError(f"round {round_} was never started, so {phase} cannot be marked done")
