"""Helpers the test modules share (fixtures live in conftest.py). Imported as ``from support import rows``: pytest
puts this directory on ``sys.path`` for the test modules beside it."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from selftaught.cli import main


def rows(run: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows ``sql`` returns from a run's store, ``run`` a run directory or its ``run.db``. Read-only: it never
    creates the file, never writes to it, and reads a store that another process holds open."""
    db = run / "run.db" if run.is_dir() else run
    with closing(sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    """``selftaught ARGS`` in this process: (exit code, standard output, standard error)."""
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    """The single ``error: ...`` line a refused command writes on stderr (asserted to be the only line)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got: {err!r}"
    assert lines[0].startswith("error: ")
    return lines[0]


class FullAtCheckpoint:
    """A connection whose checkpoint the disk refuses, as a full disk does; everything else passes through."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, *args):
        if "wal_checkpoint" in sql:
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorcode = sqlite3.SQLITE_FULL
            raise error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)
