"""Learning-curve prediction and the stopping rule, on the default experiment.

Part 1 (prediction): the quickstart loop (labelled round, then self-labelled rounds at growing difficulty) runs with
the stopping rule in shadow mode, so every round trains its whole budget while the held-out slice is measured every
``every`` steps. Each round of each seed is one curve. From the measurements in the first 25 % of a round the curve
ensemble predicts the accuracy at the round's end; the metric is the mean absolute error against the accuracy
measured there. Target <= 0.03. Four predictors side by side (``by_variant``): "old", the saturating ensemble
(pow3, exp3, log-power); "new", the ``stop.curves`` defaults (with the S-shaped models) and no earlier rounds;
"new+prior", the same given the run's earlier rounds' curves (``stop.prior`` of them, steps rescaled to the round's
budget; the template member's share ``stop.prior_share``), as the loop's rule has them; "new+prior+runs", the same
with the other seeds' runs as ``stop.prior_from`` (their same round's curve first: round 0 has a prior too), the
headline. Leaving the seed out is how a user's earlier runs of the preset stand to a new one. Beside them a
reference that fits nothing, "last end": the previous round's last measurement (round 0: the mean of the other
seeds' round 0 ends). Each has its error by kind of round: round 0 or self-labelled, and S-shaped or not. A curve
is S-shaped when every measurement in its first 25 % is less than 0.05 above its first measurement and its end is
at least 0.1 above it (it sits, then rises).

Each variant's stopping rule (the ``[stop]`` defaults otherwise) is also replayed on every whole-budget curve
(``replayed_stop``): the first step at which it would stop, plus the cooldown; the share of steps that saves, and
the points of slice accuracy between the curve's end and its value there. A replay sees no later round trained from
the earlier stop, so the points lost are a lower bound on what a stopping run loses.

Part 2 (stopping): the same seeds with the stopping rule on (the planner off, so saved steps are not spent again),
each given the other seeds' fixed-length runs as ``stop.prior_from``, against the fixed-length runs of part 1: the
share of training steps saved, and the change in final held-out accuracy (mean over difficulties
1..labelled_max + rounds at the last evaluation), in points. Target: >= 30 % saved for <= 1 point lost.

Runs go to two single-threaded worker processes side by side, the fixed-length runs first. ``--save-runs FILE``
keeps every run's record (its curves among them); ``--curves FILE`` scores such a file again without training (part
1 and the replays; part 2 too when the file holds stopping runs), in a few minutes. ``--runs-dir DIR`` keeps the run
directories (default: a temporary folder).

``--set KEY=VALUE`` is a setting for every run, fixed and stopping (``--set train.average=0.99``: the slice is
measured on an average of recent weights, and a stopped round keeps it); ``--stop-set`` one for the stopping runs only.

    python benchmarks/curve_prediction.py [--quick] [--seeds 4] [--save-runs runs.json]
    python benchmarks/curve_prediction.py --set train.average=0.99 --stop-set stop.gain=false
    python benchmarks/curve_prediction.py --curves runs.json
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from _common import Bench, log, parser
from _runs import run_experiment

from selftaught.config import StopConfig
from selftaught.curves import SATURATING, CurveEnsemble, StopRule, run_prior

EARLY = 0.25  # the share of a round the prediction may see
S_EARLY, S_END = 0.05, 0.1  # S-shaped: the first EARLY share under S_EARLY above the start, the end S_END above it
_ST = StopConfig()
# name: curve models, how many earlier rounds are given as the prior (0: none), the template's share of the weight.
# "new+prior" is the loop's own ([stop]'s defaults); "new" the same models without earlier rounds; "old" the
# saturating ensemble the loop used before.
VARIANTS: dict[str, dict] = {
    "old": {"models": SATURATING, "prior": 0, "share": None, "runs": False},
    "new": {"models": tuple(_ST.curves), "prior": 0, "share": None, "runs": False},
    "new+prior": {"models": tuple(_ST.curves), "prior": _ST.prior, "share": _ST.prior_share, "runs": False},
    "new+prior+runs": {"models": tuple(_ST.curves), "prior": _ST.prior, "share": _ST.prior_share, "runs": True},
}
HEADLINE = "new+prior+runs"


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


def run(
    seed: int,
    stop: bool,
    quick: bool,
    run_dir: Path,
    stop_sets: tuple[str, ...] = (),
    prior_from: tuple[str, ...] = (),
    common: tuple[str, ...] = (),
) -> dict:
    """One run, into ``run_dir``: every round's slice curve, steps used and budgeted, final held-out accuracy.
    ``common`` are further settings for every run, ``stop_sets`` for the runs whose rule stops, ``prior_from``
    their ``stop.prior_from``."""
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
        *common,
        *(stop_sets if stop else ()),
        *([f"stop.prior_from={json.dumps(list(prior_from))}"] if stop and prior_from else []),
    ]
    t0 = time.perf_counter()
    store = run_experiment(run_dir, sets)
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
        "prior_from": list(prior_from) if stop else [],
    }
    log(
        f"  seed {seed} {'stop' if stop else 'fixed'}: steps {sum(out['steps'].values())}, "
        f"final {out['final_accuracy']:.4f}, stopped at {out['stopped_at']}, {out['seconds']:.0f} s"
    )
    return out


def load_runs(path: Path, seeds: list[int] | None = None) -> dict[tuple[int, bool], dict]:
    """Run records from a file ``--save-runs`` wrote, by (seed, stop); JSON's string keys made integers again."""
    out = {}
    for rec in json.loads(path.read_text()):
        if seeds is None or rec["seed"] in seeds:
            rec["curves"] = {int(r): [tuple(p) for p in pts] for r, pts in rec["curves"].items()}
            for key in ("budgets", "steps", "stopped_at"):
                rec[key] = {int(r): v for r, v in rec[key].items()}
            out[(rec["seed"], rec["stop"])] = rec
    return out


def kind_of(points: list[tuple[int, float]], budget: int, r: int) -> tuple[str, bool]:
    """("round 0" or "self-labelled", S-shaped): S-shaped when every measurement in the first EARLY share is less
    than S_EARLY above the round's first measurement and the end at least S_END above it."""
    start = points[0][1]
    early = [v for s, v in points if s <= EARLY * budget]
    end = points[-1][1]
    s_shaped = max(early) - start < S_EARLY and end - start >= S_END
    return ("round 0" if r == 0 else "self-labelled"), s_shaped


def prior_for(rec: dict, r: int, keep: int, others: list[dict] = ()) -> list | None:
    """As the loop's ``earlier_curves`` gives them: round ``r``'s curve in each of ``others`` (earlier runs, as
    ``stop.prior_from``), then the ``keep`` latest earlier rounds of this run, all on this round's step axis; None
    when there are none."""
    same_round = [(o["budgets"][r], o["curves"][r]) for o in others if r in o["curves"]]
    own = [(rec["budgets"][q], rec["curves"][q]) for q in sorted(rec["curves"]) if q < r]
    return run_prior(same_round, own, keep, rec["budgets"][r])


def last_end(rec: dict, r: int, others: list[dict]) -> float:
    """The reference that fits nothing: the previous round's last measurement; round 0, the mean of the others'
    round 0 ends."""
    if r > 0:
        return rec["curves"][r - 1][-1][1]
    return statistics.fmean(o["curves"][0][-1][1] for o in others)


def predict_end(points, budget: int, spec: dict, prior) -> tuple[float, float, int]:
    """(predicted, actual, seen points): the ensemble fitted on the first EARLY share of the round."""
    early = [(s, v) for s, v in points if s <= EARLY * budget]
    steps, values = zip(*early)
    ens = CurveEnsemble(spec["models"], bootstrap=0, prior_share=spec["share"]).fit(steps, values, prior=prior)
    end = [v for s, v in points if s == budget]
    return ens.predict(budget)[0], end[0], len(early)


def simulate_stop(points, budget: int, rule: StopRule, cooldown: float) -> tuple[int, float]:
    """Replay the rule on a whole-budget curve: (steps a stopping run would train: the first stop plus its
    cooldown, or the budget; the measured value there, linearly interpolated)."""
    taken = budget
    for i in range(1, len(points) + 1):
        steps, values = zip(*points[:i])
        if steps[-1] < budget and rule.decide(steps, values, budget).stop:
            taken = min(budget, round(steps[-1] * (1 + cooldown)))
            break
    steps, values = zip(*points)
    return taken, float(np.interp(taken, steps, values))


def score(results: dict, seeds: list[int], variants: dict[str, dict], stop: bool) -> dict:
    """Per variant (models, earlier rounds given as a prior): the prediction error by kind of round, and with
    ``stop`` the stopping rule replayed on each whole-budget curve (steps saved, value lost at the stop)."""
    st = StopConfig()
    out: dict[str, dict] = {}
    per_curve: list[dict] = []
    for name, spec in variants.items():
        errors: dict[str, list[float]] = {}
        saved, budgets, lost = 0, 0, []
        for s in seeds:
            rec = results[(s, False)]
            others = [results[(o, False)] for o in seeds if o != s] if spec["runs"] else []
            for r, points in sorted(rec["curves"].items()):
                budget = rec["budgets"][r]
                prior = prior_for(rec, r, spec["prior"], others)
                predicted, actual, seen = predict_end(points, budget, spec, prior)
                kind, s_shaped = kind_of(points, budget, r)
                err = abs(predicted - actual)
                for key in ("all", kind, "S-shaped" if s_shaped else "not S-shaped"):
                    errors.setdefault(key, []).append(err)
                row = {"variant": name, "seed": s, "round": r, "kind": kind, "s_shaped": s_shaped, "seen": seen}
                row |= {"predicted": round(predicted, 4), "actual": round(actual, 4), "start": round(points[0][1], 4)}
                if stop:
                    rule = StopRule(
                        target=st.target, epsilon=st.epsilon, confidence=st.confidence, min_points=st.min_points,
                        min_fraction=st.min_fraction, min_accuracy=st.min_accuracy, bootstrap=st.bootstrap,
                        seed=s * 100 + r, models=spec["models"], prior=prior, prior_share=spec["share"],
                    )  # fmt: skip
                    taken, value = simulate_stop(points, budget, rule, st.cooldown)
                    saved, budgets = saved + budget - taken, budgets + budget
                    lost.append(actual - value)
                    row |= {"stop_steps": taken, "value_at_stop": round(value, 4)}
                per_curve.append(row)
        out[name] = {
            "models": list(spec["models"]),
            "prior_rounds": spec["prior"],
            "prior_share": spec["share"],
            "mae": {k: round(statistics.fmean(v), 4) for k, v in errors.items()},
            "curves": {k: len(v) for k, v in errors.items()},
            "max_error": round(max(errors["all"]), 4),
            "median_error": round(statistics.median(errors["all"]), 4),
        }
        if stop:
            out[name]["replayed_stop"] = {
                "steps_saved_share": round(saved / budgets, 4),
                "mean_points_lost": round(100 * statistics.fmean(lost), 2),
                "worst_points_lost": round(100 * max(lost), 2),
            }
        log(f"  {name}: {out[name]}")
    errors = {}
    for s in seeds:
        rec = results[(s, False)]
        others = [results[(o, False)] for o in seeds if o != s]
        for r, points in sorted(rec["curves"].items()):
            err = abs(last_end(rec, r, others) - points[-1][1]) if others or r else None
            for key in ("all", "round 0" if r == 0 else "self-labelled") if err is not None else ():
                errors.setdefault(key, []).append(err)
    reference = {k: round(statistics.fmean(v), 4) for k, v in errors.items()}
    log(f"  last end (reference): {reference}")
    return {"variants": out, "per_curve": per_curve, "last_end": reference}


def stopping(results: dict, seeds: list[int], stop_sets: list[str]) -> dict:
    """Part 2: the stopping runs against the fixed-length ones."""
    fixed_steps = sum(sum(results[(s, False)]["steps"].values()) for s in seeds)
    stop_steps = sum(sum(results[(s, True)]["steps"].values()) for s in seeds)
    saved = 1 - stop_steps / fixed_steps
    change = [100 * (results[(s, True)]["final_accuracy"] - results[(s, False)]["final_accuracy"]) for s in seeds]
    return {
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
        "stop_settings": stop_sets,
        "target": {"saved": 0.3, "lost_points": 1.0},
        "meets_target": saved >= 0.3 and statistics.median(change) >= -1.0,
    }


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--stop-set", action="append", default=[], help="a stop.* setting for the stopping runs")
    ap.add_argument("--set", action="append", default=[], help="a setting for every run (fixed and stopping)")
    ap.add_argument("--save-runs", type=Path, help="write every run's record (its curves among them) to this JSON file")
    ap.add_argument("--fixed-from", type=Path, help="take the fixed-length runs from a file --save-runs wrote")
    ap.add_argument("--curves", type=Path, help="train nothing: score the curves of a file --save-runs wrote")
    ap.add_argument("--no-replay", action="store_true", help="do not replay the stopping rule on the curves")
    ap.add_argument("--runs-dir", type=Path, help="keep the run directories here (default: a temporary folder)")
    args = ap.parse_args()
    bench = Bench("curve_prediction", args, threads=args.workers)  # one thread per worker process
    if args.curves:
        results = load_runs(args.curves)
        seeds = sorted({s for s, stop in results if not stop})
    else:
        seeds = list(range(1 if args.quick else args.seeds))
        results = load_runs(args.fixed_from, seeds) if args.fixed_from else {}
        results = {k: v for k, v in results.items() if not k[1]}  # the fixed-length runs do not depend on stop.*
        with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(args.workers) as pool:
            where = args.runs_dir or Path(tmp)
            where.mkdir(parents=True, exist_ok=True)

            def run_dir(s: int, stop: bool) -> Path:
                return where / f"seed{s}-{'stop' if stop else 'fixed'}"

            # The fixed-length runs first: each stopping run is given the other seeds' as stop.prior_from (those
            # whose directory is there: run now, or earlier into the same --runs-dir).
            fixed = [
                (s, pool.submit(run, s, False, args.quick, run_dir(s, False), common=tuple(args.set)))
                for s in seeds
                if (s, False) not in results
            ]
            results |= {(s, False): f.result() for s, f in fixed}
            made = {s for s in seeds if (run_dir(s, False) / "run.db").is_file()}
            stop_jobs = [
                (s, pool.submit(
                    run, s, True, args.quick, run_dir(s, True), tuple(args.stop_set),
                    tuple(str(run_dir(o, False)) for o in seeds if o != s and o in made), tuple(args.set),
                ))
                for s in seeds
            ]  # fmt: skip
            results |= {(s, True): f.result() for s, f in stop_jobs}
        if args.save_runs:
            args.save_runs.write_text(json.dumps(list(results.values())))

    scored = score(results, seeds, VARIANTS, stop=not args.no_replay)
    headline = scored["variants"][HEADLINE]
    mae = headline["mae"]["all"]
    ran_stop = all((s, True) in results for s in seeds)
    bench.emit(
        "end_of_round_accuracy_mae_from_first_25pct",
        mae,
        "accuracy",
        target=0.03,
        meets_target=mae <= 0.03,
        predictor=HEADLINE,
        curves=headline["curves"]["all"],
        max_error=headline["max_error"],
        median_error=headline["median_error"],
        by_variant=scored["variants"],
        last_end=scored["last_end"],
        s_shaped=f"every measurement in the first {EARLY:.0%} under {S_EARLY} above the first, the end {S_END} above",
        replay="each variant's models under the current rule ([stop] defaults: the gain's interval), on each "
        "whole-budget curve; later rounds as the fixed-length runs had them",
        stopping=stopping(results, seeds, args.stop_set) if ran_stop else None,
        settings=args.set,
        curves_from=str(args.curves) if args.curves else None,
        per_curve=scored["per_curve"],
        seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
