"""Learning from rewards and feedback: rollouts generated inside TRAIN (on-policy GRPO), the sampling control grid
(B-STaR), every turn of refined attempts, and the experience memory refinement draws on."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from selftaught.store.records import Records, as_dicts, keys


class Rollout(TypedDict):
    step: int
    problem_id: int
    sample: int
    text: str
    reward: float | None
    feedback: str | None
    correct: int | None


class ControlRow(TypedDict):
    round: int
    temperature: float
    threshold: float
    samples: int
    score: float
    kept: int
    unique_correct: int
    chosen: bool


class RefineStep(TypedDict):
    problem_id: int
    model: int
    sample: int
    turn: int
    prompt: str
    text: str
    reward: float | None
    feedback: str | None


class RefineTurn(TypedDict):
    round: int
    model: int
    turn: int
    tried: int
    fixed: int


class MemoryEntry(TypedDict):
    id: int
    round: int
    problem_id: int
    features: str
    failed: str
    feedback: str
    fixed: str
    value: float
    uses: int


class LearningReads(Records):
    """Queries on rollouts, control, refinement and memory."""

    def rollouts(self, round_: int) -> list[Rollout]:
        names = keys(Rollout)
        rows = self._db.execute(
            f"SELECT {', '.join(names)} FROM rollouts WHERE round = ? ORDER BY step, problem_id, sample", (round_,)
        )
        return as_dicts(rows, names)

    def control(self, round_: int | None = None) -> list[ControlRow]:
        """The control grid, one row per (temperature, threshold, samples); one round's or every round's."""
        names = keys(ControlRow)
        sql, args = f"SELECT {', '.join(names)} FROM control", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        rows = self._db.execute(sql + " ORDER BY round, temperature, threshold, samples", args)
        return [dict(zip(names, r), chosen=bool(r[-1])) for r in rows]  # type: ignore[misc]

    def chosen_control(self, round_: int) -> ControlRow | None:
        """The setting the controller chose for ``round_`` (None: no control that round)."""
        return next((row for row in self.control(round_) if row["chosen"]), None)

    def refine_steps(self, round_: int) -> list[RefineStep]:
        names = keys(RefineStep)
        rows = self._db.execute(
            f"SELECT {', '.join('s.' + k for k in names)} FROM refine_steps s JOIN problems p ON p.id = s.problem_id "
            "WHERE p.round = ? ORDER BY s.problem_id, s.model, s.sample, s.turn",
            (round_,),
        )
        return as_dicts(rows, names)

    def refine_turns(self, round_: int | None = None) -> list[RefineTurn]:
        names = keys(RefineTurn)
        sql, args = f"SELECT {', '.join(names)} FROM refine_turns", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        return as_dicts(self._db.execute(sql + " ORDER BY round, model, turn", args), names)

    def memory(self, before_round: int) -> list[MemoryEntry]:
        """The experience entries written before ``before_round``, oldest first."""
        names = keys(MemoryEntry)
        rows = self._db.execute(f"SELECT {', '.join(names)} FROM memory WHERE round < ? ORDER BY id", (before_round,))
        return as_dicts(rows, names)


class LearningWrites(Records):
    """Writing rollouts, control, refinement and memory."""

    def add_rollouts(
        self, round_: int, rows: Iterable[tuple[int, int, int, str, float | None, str, int | None]]
    ) -> None:
        """Attempts generated inside TRAIN (on-policy learning): rows of (step, problem_id, sample, text, reward,
        feedback, correct-or-None)."""
        self._db.executemany(
            "INSERT INTO rollouts (round, step, problem_id, sample, text, reward, feedback, correct) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(round_, *row) for row in rows],
        )

    def add_control(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        """The control grid of a round: one row per (temperature, threshold, samples) with its balance ``score``,
        the attempts ``kept`` and the ``unique_correct`` among them, and ``chosen`` for the setting used."""
        self._db.executemany(
            "INSERT INTO control (round, temperature, threshold, samples, score, kept, unique_correct, chosen) "
            "VALUES (:round, :temperature, :threshold, :samples, :score, :kept, :unique_correct, :chosen)",
            [dict(r, round=round_, chosen=int(bool(r["chosen"]))) for r in rows],
        )

    def add_refine_steps(self, rows: Iterable[tuple[int, int, int, int, str, str, float | None, str]]) -> None:
        """Every turn of every refined attempt: rows of (problem_id, model, sample, turn, prompt, text, reward,
        feedback); the last turn's text is the attempt's."""
        self._db.executemany(
            "INSERT INTO refine_steps (problem_id, model, sample, turn, prompt, text, reward, feedback) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            list(rows),
        )

    def add_refine_turns(self, round_: int, model: int, rows: Iterable[tuple[int, int, int]]) -> None:
        """Per turn: attempts still failing when it began (``tried``) and how many it fixed."""
        self._db.executemany(
            "INSERT INTO refine_turns (round, model, turn, tried, fixed) VALUES (?, ?, ?, ?, ?)",
            [(round_, model, turn, tried, fixed) for turn, tried, fixed in rows],
        )

    def add_memory(self, rows: Iterable[dict[str, Any]]) -> None:
        """Experience entries: round, problem_id, features, failed, feedback, fixed, value."""
        self._db.executemany(
            "INSERT INTO memory (round, problem_id, features, failed, feedback, fixed, value) "
            "VALUES (:round, :problem_id, :features, :failed, :feedback, :fixed, :value)",
            list(rows),
        )

    def update_memory(self, rows: Iterable[tuple[int, float, int]]) -> None:
        """New (id, value, uses) of entries that were retrieved and used."""
        self._db.executemany("UPDATE memory SET value = ?, uses = ? WHERE id = ?", [(v, u, i) for i, v, u in rows])
