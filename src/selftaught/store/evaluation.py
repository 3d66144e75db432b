"""What EVALUATE measures on held-out problems: each answer, accuracy per skill and difficulty with its interval,
pass@k, and the first time each accuracy target was reached."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict

from selftaught.store.records import Records, as_dicts, keys


class EvaluationRow(TypedDict):
    round: int
    task: str
    difficulty: int
    n: int
    correct: int
    accuracy: float
    ci_low: float
    ci_high: float


class PassAtK(TypedDict):
    round: int
    task: str
    difficulty: int
    k: int
    n: int
    problems: int
    value: float


class ResultReached(TypedDict):
    task: str
    difficulty: int
    target: float
    round: int
    steps: int
    seconds: float
    cpu_seconds: float
    accuracy: float


class EvaluationReads(Records):
    """Queries on evaluations, pass@k and the results reached."""

    def evaluations(self, round_: int | None = None) -> list[EvaluationRow]:
        """Held-out accuracy per (skill, difficulty), with its confidence interval; one round's or every round's."""
        names = keys(EvaluationRow)
        sql, args = f"SELECT {', '.join(names)} FROM evaluations", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        return as_dicts(self._db.execute(sql + " ORDER BY round, task, difficulty", args), names)

    def pass_at_k(self, round_: int | None = None) -> list[PassAtK]:
        names = keys(PassAtK)
        sql, args = f"SELECT {', '.join(names)} FROM pass_at_k", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        return as_dicts(self._db.execute(sql + " ORDER BY round, task, difficulty, k", args), names)

    def results_reached(self) -> list[ResultReached]:
        names = keys(ResultReached)
        rows = self._db.execute(f"SELECT {', '.join(names)} FROM results_reached ORDER BY target, task, difficulty")
        return as_dicts(rows, names)


class EvaluationWrites(Records):
    """Writing evaluation results."""

    def add_eval_results(self, round_: int, rows: Iterable[tuple[int, str, bool]]) -> None:
        """Rows of (problem_id, answer, correct): each held-out answer of ``round_``."""
        self._db.executemany(
            "INSERT INTO eval_results (round, problem_id, answer, correct) VALUES (?, ?, ?, ?)",
            [(round_, pid, ans, int(ok)) for pid, ans, ok in rows],
        )

    def add_evaluations(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        self._db.executemany(
            "INSERT INTO evaluations (round, task, difficulty, n, correct, accuracy, ci_low, ci_high) "
            "VALUES (:round, :task, :difficulty, :n, :correct, :accuracy, :ci_low, :ci_high)",
            [dict(r, round=round_) for r in rows],
        )

    def add_pass_at_k(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        """pass@k per (skill, difficulty): the unbiased estimate over ``problems`` held-out problems, n samples each."""
        self._db.executemany(
            "INSERT INTO pass_at_k (round, task, difficulty, k, n, problems, value) "
            "VALUES (:round, :task, :difficulty, :k, :n, :problems, :value)",
            [dict(r, round=round_) for r in rows],
        )

    def add_results_reached(self, rows: Iterable[dict[str, Any]]) -> None:
        """First times a (skill, difficulty) reached an accuracy target; a later reach never replaces the first."""
        self._db.executemany(
            "INSERT OR IGNORE INTO results_reached (task, difficulty, target, round, steps, seconds, cpu_seconds, "
            "accuracy) VALUES (:task, :difficulty, :target, :round, :steps, :seconds, :cpu_seconds, :accuracy)",
            list(rows),
        )
