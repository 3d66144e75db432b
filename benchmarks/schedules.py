"""Schedules and warm starts on the default task at a fixed step budget.

Schedules: round 0 of the quickstart experiment alone (labelled reversed addition, 1..5 digits), trained for a
fixed number of steps under each schedule; ``refined`` is computed from the gradient norms of the linear-decay run of
the same seed (``train.refined_from``), as the refinement method prescribes. Measured: greedy accuracy on the
held-out problems (mean over difficulties 1..5) and the held-out loss per answer token.

Warm starts: the quickstart loop cut short (a labelled round, then self-labelled rounds of fixed length) with each
warm start; measured after the last round on difficulties 1..5 + rounds.

The LR-annealing loss law, fitted on the cosine run's training-loss curve, predicts every other schedule's final
training loss from its learning rates alone (mean absolute error reported).

Every (setting, seed) is a separate run, executed by two single-threaded worker processes side by side; seeds are
the outer loop, so settings alternate. Medians and spreads over seeds; the best schedule and warm start are named by
median accuracy (ties broken by loss).

    python benchmarks/schedules.py [--quick] [--seeds 3]
"""

from __future__ import annotations

import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _common import Bench, log, parser
from _runs import held_out_loss, run_experiment

from selftaught.curves import AnnealingLaw

SCHEDULES: dict[str, list[str]] = {
    "constant": ["train.schedule=constant"],
    "linear": ["train.schedule=linear"],
    "cosine": ["train.schedule=cosine"],
    "wsd": ["train.schedule=wsd"],
    "wsd-sqrt": ["train.schedule=wsd", "train.decay_form=sqrt"],
    "rex": ["train.schedule=rex"],
    "step": ["train.schedule=step"],
    "refined": ["train.schedule=refined"],  # + refined_from the linear run of the same seed
}
WARM_STARTS = ["continue", "re-warm", "shrink-perturb", "fresh"]
LABELLED_MAX = 5


def _sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"steps": 120, "problems": 3000, "eval": 40, "warm_labelled": 150, "round": 40, "rounds": 1}
    return {"steps": 800, "problems": 20000, "eval": 200, "warm_labelled": 2000, "round": 300, "rounds": 2}


def _common(seed: int, size: dict[str, int]) -> list[str]:
    return [
        f"seed={seed}",
        f"loop.labelled_problems={size['problems']}",
        f"eval.problems={size['eval']}",
        "eval.ahead=0",
    ]


def _measure(run_dir: Path, store, top: int) -> dict[str, float]:
    last = max(r["round"] for r in store.rounds())
    rows = [e for e in store.evaluations(last) if e["difficulty"] <= top]
    return {
        "accuracy": statistics.fmean(e["accuracy"] for e in rows),
        "loss": held_out_loss(run_dir, store, range(1, top + 1)),
        "steps": sum(store.round_steps().values()),
    }


def schedule_job(seed: int, quick: bool) -> dict[str, dict[str, float]]:
    """Every schedule for one seed (linear before refined, which refines from it)."""
    torch.set_num_threads(1)
    size = _sizes(quick)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, sets in SCHEDULES.items():
            run_dir = Path(tmp) / name
            extra = [f"train.refined_from={Path(tmp) / 'linear'}"] if name == "refined" else []
            t0 = time.perf_counter()
            store = run_experiment(
                run_dir,
                [*_common(seed, size), "loop.max_rounds=0", f"train.labelled_steps={size['steps']}", *sets, *extra],
            )
            out[name] = _measure(run_dir, store, LABELLED_MAX) | {"seconds": time.perf_counter() - t0}
            metrics = store.train_metrics()
            out[name]["train"] = ([m["lr"] for m in metrics], [m["loss"] for m in metrics])
            store.close()
            log(f"  seed {seed} schedule {name}: accuracy {out[name]['accuracy']:.4f}, loss {out[name]['loss']:.4f}")
    return out


def warm_job(seed: int, how: str, quick: bool) -> dict[str, float]:
    torch.set_num_threads(1)
    size = _sizes(quick)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / how
        t0 = time.perf_counter()
        store = run_experiment(
            run_dir,
            [
                *_common(seed, size),
                f"train.warm_start={how}",
                f"train.labelled_steps={size['warm_labelled']}",
                f"train.round_steps={size['round']}",
                f"loop.max_rounds={size['rounds']}",
                f"loop.problems_per_round={500 if not quick else 100}",
                "loop.stop_accuracy=0.0",
                "loop.min_accepted=0.0",
            ],
        )
        out = _measure(run_dir, store, LABELLED_MAX + size["rounds"]) | {"seconds": time.perf_counter() - t0}
        store.close()
    log(f"  seed {seed} warm start {how}: {out}")
    return out


def _summary(values: list[dict[str, float]]) -> dict:
    acc = [v["accuracy"] for v in values]
    loss = [v["loss"] for v in values]
    return {
        "median_accuracy": round(statistics.median(acc), 4),
        "accuracy_spread": [round(min(acc), 4), round(max(acc), 4)],
        "accuracies": [round(a, 4) for a in acc],
        "median_loss": round(statistics.median(loss), 4),
        "loss_spread": [round(min(loss), 4), round(max(loss), 4)],
        "steps": values[0]["steps"],
    }


def annealing_law(per_seed: dict[int, dict], fit_on: str = "cosine") -> dict:
    """Fit the LR-annealing loss law on one schedule's training-loss curve and predict every other schedule's
    final training loss (the mean over the last 5 % of steps) from its learning rates alone."""
    errors: dict[str, list[float]] = {}
    for runs in per_seed.values():
        lrs, losses = runs[fit_on]["train"]
        law = AnnealingLaw().fit(lrs, losses, start=len(lrs) // 10)  # past the warmup and the first fall
        for name, run in runs.items():
            if name == fit_on:
                continue
            other_lrs, other_losses = run["train"]
            tail = max(1, len(other_losses) // 20)
            predicted = float(np.mean(law.predict(other_lrs)[-tail:]))
            errors.setdefault(name, []).append(abs(predicted - float(np.mean(other_losses[-tail:]))))
    flat = [e for es in errors.values() for e in es]
    return {
        "fit_on": fit_on,
        "mae_final_train_loss": round(float(np.mean(flat)), 4),
        "per_schedule_mae": {k: round(float(np.mean(v)), 4) for k, v in errors.items()},
    }


def _best(table: dict[str, dict]) -> str:
    return max(table, key=lambda k: (table[k]["median_accuracy"], -table[k]["median_loss"]))


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-warm", action="store_true")
    args = ap.parse_args()
    bench = Bench("schedules", args, threads=args.workers)  # one thread per worker process
    seeds = list(range(1 if args.quick else args.seeds))
    with ProcessPoolExecutor(args.workers) as pool:
        sched_futures = {s: pool.submit(schedule_job, s, args.quick) for s in seeds}
        warm_futures = {}
        if not args.skip_warm:
            for s in seeds:
                for how in WARM_STARTS:
                    warm_futures[(s, how)] = pool.submit(warm_job, s, how, args.quick)
        per_seed = {s: f.result() for s, f in sched_futures.items()}
        warm = {k: f.result() for k, f in warm_futures.items()}
    schedules = {name: _summary([per_seed[s][name] for s in seeds]) for name in SCHEDULES}
    warm_starts = {h: _summary([warm[(s, h)] for s in seeds]) for h in WARM_STARTS if (seeds[0], h) in warm}
    best = _best(schedules)
    size = _sizes(args.quick)
    bench.emit(
        "best_schedule_heldout_accuracy",
        schedules[best]["median_accuracy"],
        "accuracy",
        best_schedule=best,
        best_warm_start=_best(warm_starts) if warm_starts else None,
        schedules=schedules,
        warm_starts=warm_starts,
        annealing_law=annealing_law(per_seed),
        seeds=len(seeds),
        schedule_steps=size["steps"],
        warm_start_rounds={
            "labelled_steps": size["warm_labelled"],
            "round_steps": size["round"],
            "rounds": size["rounds"],
        },
        seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
