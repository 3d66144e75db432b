"""Compare a sweep's points over their seeds, from the runs' stores (read-only): final accuracy, reach, training
steps and wall time, as a table (``compare_sweep``) and plots (``SWEEP_DIR/compare/*.png``).

Per run: ``final_accuracy`` is, at the last evaluated round, the mean over skills of the held-out accuracy at the
skill's newest difficulty trained on; ``reach`` is, summed over skills, the largest difficulty at >= ``REACH_AT``
(90 %) with every smaller evaluated difficulty there too (one below the lowest when none is); ``steps`` the training
steps of model 0 over all rounds; ``seconds`` the wall time of the run's finished phases.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.experiments.sweep import read_index, shown_settings
from selftaught.experiments.tracking import open_run_store
from selftaught.report.sweep_plots import plot_spread
from selftaught.run.loop import DB_NAME
from selftaught.store import Reader

REACH_AT = 0.9

__all__ = ["REACH_AT", "compare_sweep", "run_summary"]


def run_summary(store: Reader) -> dict[str, Any]:
    """One run's results from its store. ``final_accuracy``: at the last evaluated round, the mean over skills of
    the held-out accuracy at the skill's newest difficulty trained on. ``reach``: summed over skills, the largest
    difficulty at >= ``REACH_AT`` with every smaller evaluated one there too (one below the lowest when none is)."""
    evaluations = store.evaluations()
    steps = sum(store.round_steps().values())
    wall = store.elapsed()[0]
    out = {"final_accuracy": None, "reach": None, "steps": steps, "seconds": wall, "complete": store.complete}
    if not evaluations:
        return out
    last = max(e["round"] for e in evaluations)
    at_last = [e for e in evaluations if e["round"] == last]
    accuracy = {(e["task"], e["difficulty"]): e["accuracy"] for e in at_last}
    frontiers = store.frontiers(last)
    finals = [accuracy[(s, d)] for s, d in frontiers.items() if (s, d) in accuracy]
    out["final_accuracy"] = sum(finals) / len(finals) if finals else None
    reach = 0
    for skill in sorted({e["task"] for e in at_last}):
        cells = sorted((d, a) for (s, d), a in accuracy.items() if s == skill)
        top = cells[0][0] - 1
        for d, a in cells:
            if a < REACH_AT:
                break
            top = d
        reach += top
    out["reach"] = reach
    out["last_round"] = last
    return out


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"median": None, "min": None, "max": None, "values": []}
    ordered = sorted(values)
    n = len(ordered)
    median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
    return {"median": median, "min": ordered[0], "max": ordered[-1], "values": values}


def compare_sweep(sweep_dir: Path, plots: bool = True) -> dict[str, Any]:
    """Per point: median and range over seeds of final accuracy, reach, training steps and wall seconds, from the
    runs' stores (read-only). Writes ``SWEEP_DIR/compare/compare.json`` and, with ``plots``, the PNGs."""
    index = read_index(sweep_dir)
    rows = []
    for p in index.get("points", []):
        runs = []
        for r in p.get("runs", []):
            run_dir = sweep_dir / r["dir"]
            if not (run_dir / DB_NAME).is_file():
                continue
            store = open_run_store(run_dir)
            try:
                runs.append({"seed": r["seed"], "dir": r["dir"], **run_summary(store)})
            finally:
                store.close()
        name = shown_settings(p["settings"]) or "(base)"

        def values(key: str, runs: list[dict[str, Any]] = runs) -> list[float]:
            return [r[key] for r in runs if r[key] is not None]

        rows.append(
            {
                "point": p["point"],
                "name": name,
                "settings": p["settings"],
                "runs": len(p.get("runs", [])),
                "measured": len(runs),
                "complete": sum(r["complete"] for r in runs),
                **{key: _spread(values(key)) for key in ("final_accuracy", "reach", "steps", "seconds")},
                "per_run": runs,
            }
        )
    out_dir = sweep_dir / "compare"
    try:
        out_dir.mkdir(exist_ok=True)
        result = {"sweep": index.get("sweep"), "reach_at": REACH_AT, "points": rows, "plots": []}
        if plots:
            final, reach = "final accuracy (newest difficulty)", f"reach (largest difficulty at >= {REACH_AT:.0%})"
            result["plots"] = [
                str(plot_spread(rows, "final_accuracy", final, out_dir / "final_accuracy.png").path),
                str(plot_spread(rows, "reach", reach, out_dir / "reach.png", integer=True).path),
            ]
        (out_dir / "compare.json").write_text(json.dumps(result, indent=2, default=str))
    except OSError as e:
        raise SelftaughtError(f"cannot write {out_dir}: {e.strerror or e}") from None
    return result
