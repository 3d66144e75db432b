"""Learning-curve prediction and the stopping rule, on the default experiment.

Part 1 (prediction): the quickstart loop (labelled round, then self-labelled rounds at growing difficulty) runs with
the stopping rule in shadow mode, so every round trains its whole budget while the held-out slice is measured every
``every`` steps. Each round of each seed is one curve. From the measurements in the first 25 % of a round the curve
ensemble (pow3, exp3, log-power) predicts the accuracy at the round's end; the metric is the mean absolute error
against the accuracy measured there. Target <= 0.03.

Part 2 (stopping): the same seeds with the stopping rule on (the planner off, so saved steps are not spent again)
against the fixed-length runs of part 1: the share of training steps saved, and the change in final held-out
accuracy (mean over difficulties 1..labelled_max + rounds at the last evaluation), in points. Target: >= 30 % saved
for <= 1 point lost.

Runs go to two single-threaded worker processes side by side.

    python benchmarks/curve_prediction.py [--quick] [--seeds 4]
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from _common import Bench, log, parser
from _runs import run_experiment

from selftaught.curves import CurveEnsemble

EARLY = 0.25  # the share of a round the prediction may see


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {
            "labelled": 300,
            "labelled_max": 3,
            "round": 80,
            "rounds": 2,
            "problems": 4000,
            "per_round": 150,
            "every": 10,
            "slice": 24,
            "eval": 40,
        }
    return {
        "labelled": 2000,
        "labelled_max": 5,
        "round": 400,
        "rounds": 4,
        "problems": 20000,
        "per_round": 500,
        "every": 25,
        "slice": 48,
        "eval": 200,
    }


def run(seed: int, stop: bool, quick: bool, stop_sets: tuple[str, ...] = ()) -> dict:
    """One run: every round's slice curve, steps used and budgeted, final held-out accuracy. ``stop_sets`` are
    further ``stop.*`` settings for the runs whose rule stops."""
    torch.set_num_threads(1)
    size = _sizes(quick)
    sets = [
        f"seed={seed}",
        f"train.labelled_steps={size['labelled']}",
        f"train.round_steps={size['round']}",
        f"loop.max_rounds={size['rounds']}",
        f"loop.labelled_max={size['labelled_max']}",
        f"loop.labelled_problems={size['problems']}",
        f"loop.problems_per_round={size['per_round']}",
        "loop.stop_accuracy=0.0",
        "loop.min_accepted=0.0",
        f"stop.every={size['every']}",
        f"stop.shadow={'false' if stop else 'true'}",
        "stop.carry=0",  # steps saved are counted, not spent again by later rounds
        f"eval.slice={size['slice']}",
        f"eval.problems={size['eval']}",
        *(stop_sets if stop else ()),
    ]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = run_experiment(Path(tmp) / "run", sets)
        decisions = store.stop_decisions()
        rounds = store.round_summaries()
        last = rounds[-1]["round"]
        top = size["labelled_max"] + size["rounds"]
        final = [e["accuracy"] for e in store.evaluations(last) if e["difficulty"] <= top]
        store.close()
    curves: dict[int, list[tuple[int, float]]] = {}
    for d in decisions:
        curves.setdefault(d["round"], []).append((d["step"], d["value"]))
    out = {
        "seed": seed,
        "stop": stop,
        "curves": {r: pts for r, pts in curves.items()},
        "budgets": {s["round"]: s["budget"] for s in rounds},
        "steps": {s["round"]: s["train_steps"] for s in rounds},
        "stopped_at": {s["round"]: s["stopped_at"] for s in rounds},
        "final_accuracy": statistics.fmean(final),
        "seconds": time.perf_counter() - t0,
    }
    log(
        f"  seed {seed} {'stop' if stop else 'fixed'}: steps {sum(out['steps'].values())}, "
        f"final {out['final_accuracy']:.4f}, stopped at {out['stopped_at']}, {out['seconds']:.0f} s"
    )
    return out


def predict_end(points: list[tuple[int, float]], budget: int, seed: int) -> tuple[float, float, float]:
    """(predicted, actual, seen points): the ensemble fitted on the first EARLY share of the round."""
    early = [(s, v) for s, v in points if s <= EARLY * budget]
    steps, values = zip(*early)
    ens = CurveEnsemble(bootstrap=20, seed=seed).fit(steps, values)
    mean, _, _ = ens.predict(budget)
    end = [v for s, v in points if s == budget]
    return mean, end[0], len(early)


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stop-set", action="append", default=[], help="a stop.* setting for the stopping runs")
    ap.add_argument("--save-runs", type=Path, help="write every run's record to this JSON file")
    ap.add_argument("--fixed-from", type=Path, help="take the fixed-length runs from a file --save-runs wrote")
    args = ap.parse_args()
    bench = Bench("curve_prediction", args, threads=args.workers)  # one thread per worker process
    seeds = list(range(1 if args.quick else args.seeds))
    results: dict[tuple[int, bool], dict] = {}
    if args.fixed_from:  # the fixed-length runs do not depend on the stop settings
        for rec in json.loads(args.fixed_from.read_text()):
            if not rec["stop"] and rec["seed"] in seeds:
                rec["curves"] = {int(r): [tuple(p) for p in pts] for r, pts in rec["curves"].items()}
                for key in ("budgets", "steps", "stopped_at"):
                    rec[key] = {int(r): v for r, v in rec[key].items()}
                results[(rec["seed"], False)] = rec
    jobs = [(s, stop) for s in seeds for stop in (False, True) if (s, stop) not in results]
    with ProcessPoolExecutor(args.workers) as pool:
        futures = [(s, stop, pool.submit(run, s, stop, args.quick, tuple(args.stop_set))) for s, stop in jobs]
        results |= {(s, stop): f.result() for s, stop, f in futures}
    if args.save_runs:
        args.save_runs.write_text(json.dumps(list(results.values())))

    errors, details = [], []
    for s in seeds:
        fixed = results[(s, False)]
        for r, points in sorted(fixed["curves"].items()):
            budget = fixed["budgets"][r]
            predicted, actual, seen = predict_end(points, budget, s)
            errors.append(abs(predicted - actual))
            details.append(
                {
                    "seed": s,
                    "round": r,
                    "budget": budget,
                    "seen": seen,
                    "predicted": round(predicted, 4),
                    "actual": round(actual, 4),
                    "start": round(points[0][1], 4),
                }
            )
    mae = statistics.fmean(errors)

    fixed_steps = sum(sum(results[(s, False)]["steps"].values()) for s in seeds)
    stop_steps = sum(sum(results[(s, True)]["steps"].values()) for s in seeds)
    saved = 1 - stop_steps / fixed_steps
    change = [100 * (results[(s, True)]["final_accuracy"] - results[(s, False)]["final_accuracy"]) for s in seeds]
    bench.emit(
        "end_of_round_accuracy_mae_from_first_25pct",
        round(mae, 4),
        "accuracy",
        target=0.03,
        meets_target=mae <= 0.03,
        curves=len(errors),
        max_error=round(max(errors), 4),
        median_error=round(statistics.median(errors), 4),
        stopping={
            "steps_saved_share": round(saved, 4),
            "final_accuracy_change_points": [round(c, 2) for c in change],
            "median_change_points": round(statistics.median(change), 2),
            "mean_change_points": round(statistics.fmean(change), 2),
            "fixed_final_accuracy": [round(results[(s, False)]["final_accuracy"], 4) for s in seeds],
            "stopped_final_accuracy": [round(results[(s, True)]["final_accuracy"], 4) for s in seeds],
            "fixed_steps": fixed_steps,
            "stopped_steps": stop_steps,
            "stopped_at": {s: results[(s, True)]["stopped_at"] for s in seeds},
            "budgets": {s: results[(s, True)]["budgets"] for s in seeds},
            "stop_settings": args.stop_set,
            "target": {"saved": 0.3, "lost_points": 1.0},
            "meets_target": saved >= 0.3 and statistics.median(change) >= -1.0,
        },
        per_curve=details,
        seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
