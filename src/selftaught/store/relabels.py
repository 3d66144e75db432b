"""Hindsight relabels: every failed attempt VERIFY tried to re-pose as the problem it does solve, whether one was
made and kept, and the examples the kept ones became."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypedDict

from selftaught.store.records import Records
from selftaught.types import Example


class HindsightCount(TypedDict):
    round: int
    difficulty: int
    tried: int
    made: int
    kept: int
    trained: int


class RelabelReads(Records):
    """Queries on relabels."""

    def relabelled_prompts(self, before_round: int) -> set[str]:
        """The prompts of relabels kept in rounds before ``before_round``."""
        rows = self._db.execute("SELECT prompt FROM relabels WHERE kept = 1 AND round < ?", (before_round,))
        return {p for (p,) in rows}

    def kept_relabels(self, round_: int) -> list[Example]:
        """``round_``'s kept relabels as fresh examples (source ``hindsight``), in the order they were tried."""
        return self._examples(
            "SELECT task, difficulty, prompt, answer, 'hindsight', round, 1.0, id FROM relabels "
            "WHERE round = ? AND kept = 1 ORDER BY id",
            (round_,),
        )

    def hindsight_counts(self) -> list[HindsightCount]:
        """Per round and difficulty (of the relabelled problem; of the attempted one where none was made): relabels
        tried, made (not degenerate), kept (made and new) and trained on (in that round's examples)."""
        rows = self._db.execute(
            "SELECT round, COALESCE(difficulty, from_difficulty) AS d, COUNT(*), SUM(prompt IS NOT NULL), SUM(kept) "
            "FROM relabels GROUP BY round, d ORDER BY round, d"
        ).fetchall()
        trained = dict(
            ((r, d), n)
            for r, d, n in self._db.execute(
                "SELECT round, difficulty, COUNT(*) FROM examples WHERE source = 'hindsight' GROUP BY round, difficulty"
            )
        )
        return [
            {"round": r, "difficulty": d, "tried": n, "made": made, "kept": kept, "trained": trained.get((r, d), 0)}
            for r, d, n, made, kept in rows
        ]


class RelabelWrites(Records):
    """Writing relabels."""

    def add_relabels(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        """Every relabel tried in ``round_``: dicts with attempt_id, task, from_difficulty, reason, kept, and for a
        relabel made its problem (a ``Problem``, else None)."""
        self._db.executemany(
            "INSERT INTO relabels (round, attempt_id, task, from_difficulty, difficulty, prompt, answer, meta, kept, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    round_,
                    row["attempt_id"],
                    row["task"],
                    row["from_difficulty"],
                    None if row["problem"] is None else row["problem"].difficulty,
                    None if row["problem"] is None else row["problem"].prompt,
                    None if row["problem"] is None else row["problem"].target,
                    None if row["problem"] is None or row["problem"].meta is None else json.dumps(row["problem"].meta),
                    int(row["kept"]),
                    row["reason"],
                )
                for row in rows
            ],
        )
