"""Read a run's state out of its store: the ``status --json`` document and the report's data."""

from __future__ import annotations

from typing import Any

from .report import ReportData
from .store import Store


def run_status(store: Store) -> dict[str, Any]:
    """What ``selftaught status --json`` prints: run id, completeness, and per round its phases, counts, accuracy."""
    evaluations = store.evaluations()
    rounds = []
    for s in store.round_summaries():
        acc = {str(e["difficulty"]): e["accuracy"] for e in evaluations if e["round"] == s["round"]}
        ci = {str(e["difficulty"]): [e["ci_low"], e["ci_high"]] for e in evaluations if e["round"] == s["round"]}
        rounds.append(
            {
                "round": s["round"],
                "difficulty": s["difficulty"],
                "phases": {p: v["done"] for p, v in s["phases"].items()},
                "proposed": s["proposed"],
                "accepted": s["accepted"],
                "label_accuracy": s["label_accuracy"],
                "train_steps": s["train_steps"],
                "seconds": round(s["seconds"], 3),
                "decision": s["decision"],
                "accuracy": acc,
                "accuracy_ci": ci,
            }
        )
    return {
        "run_id": store.run_id,
        "name": store.config().get("name"),
        "complete": store.complete,
        "stop_reason": store.meta("stop_reason") or None,
        "elapsed_seconds": round(store.elapsed_seconds(), 3),
        "rounds": rounds,
    }


def report_data(store: Store) -> ReportData:
    return ReportData(
        run_id=store.run_id,
        config_text=store.meta("config_text") or "",
        complete=store.complete,
        stop_reason=store.meta("stop_reason") or None,
        rounds=store.round_summaries(),
        evaluations=store.evaluations(),
        train_metrics=store.train_metrics(),
    )
