"""What every record group stands on: the connection it reads through (``Records``) and the turning of SQL rows into
typed rows. A row a query returns as a dict is described by a ``TypedDict`` (its keys are the dict's, in order), a
row it returns as a tuple by a ``NamedTuple`` (so unpacking and indexing work as on the tuple)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selftaught.store.schema import RECORD_TABLES
from selftaught.types import Example


def keys(row_type: type) -> tuple[str, ...]:
    """The keys of a ``TypedDict`` row, in the order it declares them (and a query selects them)."""
    return tuple(row_type.__annotations__)


def as_dicts(rows: Iterable[tuple], names: tuple[str, ...]) -> list[Any]:
    return [dict(zip(names, r)) for r in rows]


def params_json(params: tuple[float, ...] | None) -> str | None:
    return json.dumps([float(x) for x in params]) if params is not None else None


class Records:
    """A store's connection and the two queries that are about no group: ``count`` and ``query``."""

    path: Path
    _db: sqlite3.Connection

    def count(self, table: str) -> int:
        if table not in RECORD_TABLES:
            raise ValueError(f"unknown table {table!r}")
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Read-only SQL for tests and analysis."""
        return self._db.execute(sql, args).fetchall()

    def _examples(self, sql: str, args: tuple) -> list[Example]:
        """Rows of (task, difficulty, prompt, answer, source, origin_round, weight, relabel_id) as Examples."""
        return [
            Example(task=t, difficulty=d, prompt=p, answer=a, source=src, origin_round=o, weight=w, relabel=ref)
            for t, d, p, a, src, o, w, ref in self._db.execute(sql, args)
        ]
