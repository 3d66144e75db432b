"""What TRAIN trains on and records: each round's examples (and the replay pool they come from), per-step metrics and
series, the stopping rule's decisions, and the checkpoints."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, TypedDict

from selftaught.store.records import Records, as_dicts, keys
from selftaught.types import Example

_EXAMPLE_COLUMNS = "task, difficulty, prompt, answer, source, origin_round, weight, relabel_id"


class TrainMetric(TypedDict):
    round: int
    step: int
    loss: float
    lr: float
    grad_norm: float | None
    grad_l1: float | None


class SeriesPoint(TypedDict):
    round: int
    step: int
    name: str
    value: float | None


class StopDecision(TypedDict):
    round: int
    step: int
    budget: int
    value: float
    current: float
    mean: float | None
    low: float | None
    high: float | None
    stop: bool
    reason: str


class TrainingReads(Records):
    """Queries on examples, training metrics, stop decisions and checkpoints."""

    def examples(self, round_: int, *, fresh_only: bool = False) -> list[Example]:
        """The examples round ``round_`` trains on; ``fresh_only`` keeps those first produced in that round."""
        sql = f"SELECT {_EXAMPLE_COLUMNS} FROM examples WHERE round = ?"
        if fresh_only:
            sql += " AND origin_round = round"
        return self._examples(sql + " ORDER BY id", (round_,))

    def replay_pool(self, before_round: int) -> list[Example]:
        """Every example first produced in a round before ``before_round`` (labelled and self-labelled)."""
        return self._examples(
            f"SELECT {_EXAMPLE_COLUMNS} FROM examples WHERE round = origin_round AND round < ? ORDER BY id",
            (before_round,),
        )

    def frontiers(self, round_: int) -> dict[str, int]:
        """Per skill, the highest difficulty trained on (labelled or accepted) up to ``round_``.

        A teacher may propose far beyond what the model can label; only what it trained on counts as reached.
        """
        rows = self._db.execute(
            "SELECT task, MAX(difficulty) FROM examples WHERE round <= ? GROUP BY task",
            (round_,),
        )
        return dict(rows.fetchall())

    def train_metrics(self) -> list[TrainMetric]:
        """Model 0's per-step loss, learning rate and gradient norms, over the run."""
        names = keys(TrainMetric)
        rows = self._db.execute(f"SELECT {', '.join(names)} FROM train_metrics WHERE model = 0 ORDER BY round, step")
        return as_dicts(rows, names)

    def grad_norms(self, round_: int, l1: bool = False) -> list[float]:
        """Model 0's per-step gradient norms in ``round_`` (l2, or l1 with ``l1``); empty when not recorded."""
        column = "grad_l1" if l1 else "grad_norm"
        rows = self._db.execute(
            f"SELECT {column} FROM train_metrics WHERE round = ? AND model = 0 ORDER BY step", (round_,)
        ).fetchall()
        return [r[0] for r in rows] if rows and all(r[0] is not None for r in rows) else []

    def round_steps(self) -> dict[int, int]:
        """Training steps per round (model 0), to place within-round records on one time axis."""
        rows = self._db.execute("SELECT round, COUNT(*) FROM train_metrics WHERE model = 0 GROUP BY round")
        return dict(rows.fetchall())

    def train_series(self, round_: int | None = None, model: int = 0) -> list[SeriesPoint]:
        """Per-step values a training method reported beside its loss (GRPO's reward, KL, ...)."""
        sql, args = "SELECT round, step, name, value FROM train_series WHERE model = ?", (model,)
        if round_ is not None:
            sql, args = sql + " AND round = ?", (model, round_)
        return as_dicts(self._db.execute(sql + " ORDER BY round, step, name", args), keys(SeriesPoint))

    def stop_decisions(self, round_: int | None = None) -> list[StopDecision]:
        names = keys(StopDecision)
        sql, args = f"SELECT {', '.join(names)} FROM stop_decisions", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        rows = self._db.execute(sql + " ORDER BY round, step", args)
        return [dict(zip(names, r), stop=bool(r[8])) for r in rows]  # type: ignore[misc]

    def checkpoints(self, round_: int) -> list[str]:
        """The checkpoint paths of ``round_``, by model."""
        rows = self._db.execute("SELECT path FROM checkpoints WHERE round = ? ORDER BY model", (round_,))
        return [r[0] for r in rows]


class TrainingWrites(Records):
    """Writing examples, training metrics and series, stop decisions and checkpoints."""

    def add_examples(self, round_: int, examples: Iterable[Example]) -> None:
        """The examples round ``round_`` trains on, all at once: each is numbered within the round, so writing a
        round's examples twice is refused (``sqlite3.IntegrityError``)."""
        self._db.executemany(
            "INSERT INTO examples (round, idx, task, difficulty, prompt, answer, source, origin_round, weight, "
            "relabel_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (round_, i, e.task, e.difficulty, e.prompt, e.answer, e.source, e.origin_round, e.weight, e.relabel)
                for i, e in enumerate(examples)
            ],
        )

    def add_train_metrics(
        self,
        round_: int,
        model: int,
        losses: list[float],
        lrs: list[float],
        grad_norms: list[float] | None = None,
        grad_l1s: list[float] | None = None,
    ) -> None:
        """Per step: loss, learning rate and, when the student reports them, the gradient's l2 and l1 norms."""
        n = len(losses)
        norms = grad_norms if grad_norms and len(grad_norms) == n else [None] * n
        l1s = grad_l1s if grad_l1s and len(grad_l1s) == n else [None] * n
        self._db.executemany(
            "INSERT INTO train_metrics (round, model, step, loss, lr, grad_norm, grad_l1) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (round_, model, i, float(l), float(r), g, a)
                for i, (l, r, g, a) in enumerate(zip(losses, lrs, norms, l1s))
            ],
        )

    def add_train_series(self, round_: int, model: int, rows: Iterable[tuple[int, str, float | None]]) -> None:
        """Per-step values a training method reports beside its loss: rows of (step, name, value)."""
        self._db.executemany(
            "INSERT INTO train_series (round, model, step, name, value) VALUES (?, ?, ?, ?, ?)",
            [(round_, model, step, name, None if v is None else float(v)) for step, name, v in rows],
        )

    def add_stop_decisions(self, round_: int, budget: int, rows: Iterable[dict[str, Any]]) -> None:
        """The stopping rule's decisions in ``round_``: step, measured value, prediction, stop, reason."""
        self._db.executemany(
            "INSERT OR REPLACE INTO stop_decisions (round, step, budget, value, current, mean, low, high, stop, "
            "reason) VALUES (:round, :step, :budget, :value, :current, :mean, :low, :high, :stop, :reason)",
            [dict(r, round=round_, budget=budget, stop=int(r["stop"])) for r in rows],
        )

    def add_checkpoint(self, round_: int, model: int, path: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO checkpoints (round, model, path, created) VALUES (?, ?, ?, ?)",
            (round_, model, path, time.time()),
        )
