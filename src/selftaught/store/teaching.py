"""What the teacher keeps and sees: its state after each phase, the success counts it observed per skill and
difficulty, the curriculum it drew (samples per cell) and the scores it gave cells."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypedDict

from selftaught.store.records import Records, as_dicts, keys
from selftaught.store.schema import PHASES


class SkillResult(TypedDict):
    round: int
    step: int
    kind: str
    skill: str
    difficulty: int
    successes: int
    trials: int


class CurriculumRow(TypedDict):
    round: int
    step: int
    skill: str
    difficulty: int
    count: int


class TeacherScore(TypedDict):
    round: int
    step: int
    key: str
    value: float


class TeachingReads(Records):
    """Queries on the teacher's state and observations."""

    def last_teacher_state(self) -> dict[str, Any] | None:
        """The newest teacher state a finished phase recorded (phases in loop order), or None."""
        order = " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(PHASES))
        row = self._db.execute(
            f"SELECT state FROM teacher_state ORDER BY round DESC, CASE phase {order} END DESC LIMIT 1"
        ).fetchone()
        return json.loads(row[0]) if row else None

    def skill_results(self, kind: str | None = None) -> list[SkillResult]:
        sql = "SELECT round, step, kind, task, difficulty, successes, trials FROM skill_results"
        args: tuple = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        return as_dicts(self._db.execute(sql + " ORDER BY round, step, task, difficulty", args), keys(SkillResult))

    def curriculum(self) -> list[CurriculumRow]:
        rows = self._db.execute("SELECT round, step, task, difficulty, count FROM curriculum ORDER BY round, step")
        return as_dicts(rows, keys(CurriculumRow))

    def teacher_scores(self) -> list[TeacherScore]:
        rows = self._db.execute("SELECT round, step, key, value FROM teacher_scores ORDER BY round, step, key")
        return as_dicts(rows, keys(TeacherScore))


class TeachingWrites(Records):
    """Writing the teacher's state and observations."""

    def set_teacher_state(self, round_: int, phase: str, state: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO teacher_state (round, phase, state) VALUES (?, ?, ?)",
            (round_, phase, json.dumps(state)),
        )

    def add_skill_results(self, round_: int, step: int, kind: str, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Success counts, rows of (skill, difficulty, successes, trials), measured at ``step`` of ``round_``."""
        self._db.executemany(
            "INSERT OR REPLACE INTO skill_results (round, step, kind, task, difficulty, successes, trials) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(round_, step, kind, *row) for row in rows],
        )

    def add_curriculum(self, round_: int, step: int, counts: dict[tuple[str, int], int]) -> None:
        """How many training samples each (skill, difficulty) got from ``step`` of ``round_`` on."""
        self._db.executemany(
            "INSERT OR REPLACE INTO curriculum (round, step, task, difficulty, count) VALUES (?, ?, ?, ?, ?)",
            [(round_, step, s, d, n) for (s, d), n in sorted(counts.items())],
        )

    def add_teacher_scores(self, round_: int, step: int, scores: dict[str, float]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO teacher_scores (round, step, key, value) VALUES (?, ?, ?, ?)",
            [(round_, step, k, float(v)) for k, v in sorted(scores.items())],
        )
