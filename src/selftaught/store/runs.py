"""The run itself: its meta (id, config, status), its rounds and their phases, and the per-round summary that
``status``, the progress bar and DECIDE read."""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple, TypedDict

from selftaught.store.records import Records, as_dicts, keys
from selftaught.store.schema import PHASES


class RoundRow(TypedDict):
    round: int
    difficulty: int | None
    started: float
    finished: float | None
    decision: str | None
    budget: int | None


class PhaseState(TypedDict):
    done: bool
    seconds: float | None
    cpu_seconds: float | None


class RoundSummary(TypedDict):
    round: int
    difficulty: int | None
    proposed: int
    accepted: int
    label_accuracy: float | None
    train_steps: int
    budget: int | None
    stopped_at: int | None  # where the stopping rule first said stop (None: it never did or was off)
    stop_reason: str | None
    seconds: float
    cpu_seconds: float
    decision: str | None
    phases: dict[str, PhaseState]


class Elapsed(NamedTuple):
    wall: float
    cpu: float


class RunReads(Records):
    """Queries on the run's meta, rounds and phases."""

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def run_id(self) -> str:
        return self.meta("run_id") or ""

    def config(self) -> dict[str, Any]:
        return json.loads(self.meta("config") or "{}")

    @property
    def complete(self) -> bool:
        return self.meta("status") == "complete"

    def phase_done(self, round_: int, phase: str) -> bool:
        row = self._db.execute("SELECT done FROM phases WHERE round = ? AND phase = ?", (round_, phase)).fetchone()
        return bool(row and row[0])

    def elapsed_seconds(self) -> float:
        """Time spent in completed phases over the whole run (so a resumed run keeps its clock)."""
        return self.elapsed()[0]

    def elapsed(self) -> Elapsed:
        """(wall, CPU) seconds spent in completed phases over the whole run."""
        wall, cpu = self._db.execute(
            "SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(cpu_seconds), 0) FROM phases WHERE done = 1"
        ).fetchone()
        return Elapsed(float(wall), float(cpu))

    def round_budgets(self) -> dict[int, int]:
        """The training-step budget each trained round was given (the planner may add saved steps)."""
        return dict(self._db.execute("SELECT round, budget FROM rounds WHERE budget IS NOT NULL").fetchall())

    def rounds(self) -> list[RoundRow]:
        names = keys(RoundRow)
        return as_dicts(self._db.execute(f"SELECT {', '.join(names)} FROM rounds ORDER BY round"), names)

    def phase_states(self, round_: int) -> dict[str, PhaseState]:
        rows = self._db.execute("SELECT phase, done, seconds, cpu_seconds FROM phases WHERE round = ?", (round_,))
        return {p: {"done": bool(d), "seconds": s, "cpu_seconds": c} for p, d, s, c in rows}

    def round_summaries(self) -> list[RoundSummary]:
        """Per round: difficulty, proposed / accepted counts, label accuracy, steps, seconds, phase states."""
        return [self.round_summary(r["round"]) for r in self.rounds()]

    def round_summary(self, n: int) -> RoundSummary:
        r = self._db.execute("SELECT difficulty, decision, budget FROM rounds WHERE round = ?", (n,)).fetchone()
        if r is None:
            raise KeyError(f"no round {n}")
        proposed, accepted, right, known = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(accepted), 0), COALESCE(SUM(accepted * correct), 0), "
            "COALESCE(SUM(accepted * (correct IS NOT NULL)), 0) FROM verdicts WHERE round = ?",
            (n,),
        ).fetchone()
        steps = self._db.execute("SELECT COUNT(*) FROM train_metrics WHERE round = ? AND model = 0", (n,)).fetchone()
        seconds = self._db.execute(
            "SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(cpu_seconds), 0) FROM phases WHERE round = ?", (n,)
        ).fetchone()
        stop = self._db.execute(
            "SELECT MIN(step), reason FROM stop_decisions WHERE round = ? AND stop = 1", (n,)
        ).fetchone()
        return {
            "round": n,
            "difficulty": r[0],
            "proposed": proposed,
            "accepted": accepted,
            "label_accuracy": (right / known) if known else None,
            "train_steps": steps[0],
            "budget": r[2],
            "stopped_at": stop[0],
            "stop_reason": stop[1],
            "seconds": seconds[0],
            "cpu_seconds": seconds[1],
            "decision": r[1],
            "phases": self.phase_states(n),
        }


class RunWrites(Records):
    """The run's meta and the rounds' records; ``start_round`` and ``finish`` are transactions of their own (the
    ``transaction`` that ``Transactions`` gives ``Store``)."""

    def set_meta(self, **items: Any) -> None:
        for k, v in items.items():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (k, str(v)))

    def finish(self, reason: str) -> None:
        with self.transaction():
            self.set_meta(status="complete", stop_reason=reason)

    def start_round(self, round_: int, difficulty: int | None) -> None:
        """The round and its phases, none done; a round started already keeps its first record."""
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO rounds (round, difficulty, started) VALUES (?, ?, ?)",
                (round_, difficulty, time.time()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO phases (round, phase, done) VALUES (?, ?, 0)", [(round_, p) for p in PHASES]
            )

    def set_round_difficulty(self, round_: int, difficulty: int) -> None:
        self._db.execute("UPDATE rounds SET difficulty = ? WHERE round = ?", (difficulty, round_))

    def set_round_budget(self, round_: int, budget: int) -> None:
        self._db.execute("UPDATE rounds SET budget = ? WHERE round = ?", (budget, round_))

    def end_round(self, round_: int, decision: str) -> None:
        """Called inside the DECIDE phase's transaction."""
        self._db.execute(
            "UPDATE rounds SET finished = ?, decision = ? WHERE round = ?", (time.time(), decision, round_)
        )
