"""Bringing an older store up to ``SCHEMA_VERSION``: one step per version, each a list of statements.

``MIGRATIONS[v]`` takes a store from version ``v`` to ``v + 1``. The writer runs each step in a transaction of its
own (``Store.open``), so an upgrade stopped half-way leaves a store at a version it names; a reader upgrades a copy
in memory and leaves the file as it is (``Reader.open``).
"""

from __future__ import annotations

import sqlite3

from selftaught.store.schema import V6_TABLES, V7_TABLES, statements

MIGRATIONS: dict[int, tuple[str, ...]] = {
    # 3 -> 4: number each round's examples in the order they were written.
    3: (
        "ALTER TABLE examples ADD COLUMN idx INTEGER",
        "UPDATE examples SET idx = n.i FROM "
        "(SELECT id, ROW_NUMBER() OVER (PARTITION BY round ORDER BY id) - 1 AS i FROM examples) AS n "
        "WHERE n.id = examples.id",
        "CREATE UNIQUE INDEX IF NOT EXISTS examples_order ON examples (round, idx)",
    ),
    # 4 -> 5: every attempt's reward and feedback from the verifier; a problem's task data (tests, entry point).
    4: (
        "ALTER TABLE attempts ADD COLUMN reward REAL",
        "ALTER TABLE attempts ADD COLUMN feedback TEXT",
        "ALTER TABLE problems ADD COLUMN meta TEXT",
        "CREATE TABLE IF NOT EXISTS pass_at_k (round INTEGER NOT NULL, task TEXT NOT NULL, difficulty INTEGER NOT "
        "NULL, k INTEGER NOT NULL, n INTEGER NOT NULL, problems INTEGER NOT NULL, value REAL NOT NULL, "
        "PRIMARY KEY (round, task, difficulty, k))",
    ),
    # 5 -> 6: learning from rewards (per-step series, rollouts), B-STaR control, refine turns and memory.
    5: tuple(statements(V6_TABLES)),
    # 6 -> 7: hindsight relabels; examples' replay weight (1 for what came before) and relabel.
    6: (
        *statements(V7_TABLES),
        "ALTER TABLE examples ADD COLUMN weight REAL NOT NULL DEFAULT 1.0",
        "ALTER TABLE examples ADD COLUMN relabel_id INTEGER REFERENCES relabels(id)",
    ),
}


def upgrade_step(db: sqlite3.Connection, version: int) -> int:
    """Take the store on ``db`` from ``version`` to the next one (inside the caller's transaction); returns it."""
    for stmt in MIGRATIONS[version]:
        db.execute(stmt)
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", (str(version + 1),))
    return version + 1
