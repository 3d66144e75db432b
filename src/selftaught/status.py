"""Read a run's state out of its store: the ``status --json`` document and the report's data."""

from __future__ import annotations

from typing import Any

from .report import ReportData
from .store import Store

MASTERED = 0.95  # held-out accuracy at which status calls a difficulty mastered


def run_status(store: Store) -> dict[str, Any]:
    """What ``selftaught status --json`` prints: run id, completeness, and per round its phases, counts, accuracy."""
    evaluations = store.evaluations()
    single = len({e["task"] for e in evaluations}) <= 1

    def key(e: dict[str, Any]) -> str:  # "difficulty", or "skill:difficulty" in a mix of skills
        return str(e["difficulty"]) if single else f"{e['task']}:{e['difficulty']}"

    wall, cpu = store.elapsed()
    rounds = []
    for s in store.round_summaries():
        acc = {key(e): e["accuracy"] for e in evaluations if e["round"] == s["round"]}
        ci = {key(e): [e["ci_low"], e["ci_high"]] for e in evaluations if e["round"] == s["round"]}
        rounds.append(
            {
                "round": s["round"],
                "difficulty": s["difficulty"],
                "phases": {p: v["done"] for p, v in s["phases"].items()},
                "proposed": s["proposed"],
                "accepted": s["accepted"],
                "label_accuracy": s["label_accuracy"],
                "train_steps": s["train_steps"],
                "budget": s["budget"],
                "stopped_at": s["stopped_at"],
                "stop_reason": s["stop_reason"],
                "seconds": round(s["seconds"], 3),
                "cpu_seconds": round(s["cpu_seconds"], 3),
                "phase_seconds": {
                    p: {"wall": _rounded(v["seconds"]), "cpu": _rounded(v["cpu_seconds"])}
                    for p, v in s["phases"].items()
                    if v["done"]
                },
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
        "elapsed_seconds": round(wall, 3),
        "elapsed_cpu_seconds": round(cpu, 3),
        "rounds": rounds,
        "skills": skill_progress(store),
        "time_to_result": [
            {**row, "seconds": round(row["seconds"], 3), "cpu_seconds": round(row["cpu_seconds"], 3)}
            for row in store.results_reached()
        ],
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def skill_progress(store: Store) -> dict[str, dict[str, Any]]:
    """Per skill: the newest held-out accuracy at each difficulty (the latest evaluation or teacher slice that
    measured it), the highest difficulty practised, the highest ``mastered`` one (every difficulty from the skill's
    lowest measured up to it at >= MASTERED), and its share of the training samples so far."""
    latest: dict[str, dict[int, tuple[tuple[int, int], float]]] = {}
    for row in store.skill_results():
        if row["kind"] == "attempts" or not row["trials"]:
            continue
        when = (row["round"], row["step"])
        cells = latest.setdefault(row["skill"], {})
        if row["difficulty"] not in cells or cells[row["difficulty"]][0] <= when:
            cells[row["difficulty"]] = (when, row["successes"] / row["trials"])
    samples: dict[str, int] = {}
    for row in store.curriculum():
        samples[row["skill"]] = samples.get(row["skill"], 0) + row["count"]
    total = sum(samples.values())
    rounds = store.rounds()
    frontiers = store.frontiers(rounds[-1]["round"]) if rounds else {}
    out = {}
    for skill in sorted(set(latest) | set(samples) | set(frontiers)):
        accuracy = {d: acc for d, (_, acc) in sorted(latest.get(skill, {}).items())}
        mastered = None
        for d, acc in accuracy.items():  # in increasing difficulty; stops at the first gap or miss
            if acc < MASTERED or (mastered is not None and d != mastered + 1):
                break
            mastered = d
        out[skill] = {
            "frontier": frontiers.get(skill),
            "mastered": mastered,
            "accuracy": {str(d): acc for d, acc in accuracy.items()},
            "samples": samples.get(skill, 0),
            "share": samples.get(skill, 0) / total if total else 0.0,
        }
    return out


def report_data(store: Store) -> ReportData:
    return ReportData(
        run_id=store.run_id,
        config_text=store.meta("config_text") or "",
        complete=store.complete,
        stop_reason=store.meta("stop_reason") or None,
        rounds=store.round_summaries(),
        evaluations=store.evaluations(),
        train_metrics=store.train_metrics(),
        curriculum=store.curriculum(),
        skill_results=store.skill_results(),
        teacher_scores=store.teacher_scores(),
        round_steps=store.round_steps(),
        stop_decisions=store.stop_decisions(),
        results_reached=store.results_reached(),
    )
