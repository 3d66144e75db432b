"""Filtered fine-tuning (``train.method = "sft"``) against GRPO (``train.method = "grpo"``) on-policy and offline, in
the loop, from the same round 0 and for the same wall-clock budget.

Two tasks with a reward: reversed addition (the quickstart's model and labels, the oracle as the verifier: reward 1 for
a right sum) and ``list-functions`` (the ``code-selftrain`` preset: the tests verifier runs the model's programs in the
sandbox, reward = share of the examples passed). Per task, round 0 is trained once; each arm is a copy of it
(``fork_run``) with its method and a seed (0, 1, 2) for its later rounds, and runs self-labelled rounds of 200 problems
until its run has spent round 0's time plus ``BUDGET`` seconds (a round that has begun is finished). The arms:

- ``sft``: each round trains on the accepted answers of its ATTEMPT/VERIFY (8 samples at temperature 1), with replay,
  100 steps at ``train.round_lr`` 1e-3;
- ``grpo-on-policy`` (GRPO's default): each step samples 8 answers to each of 8 of the round's problems with the
  current weights, scores them and learns from exactly the tokens sampled (100 steps a round, ``train.grpo.lr`` 3e-4),
  the held-out slice measured every ``train.grpo.eval_every`` steps and the best weights kept;
- ``grpo-offline``: each round learns from its ATTEMPT/VERIFY records (the same 8 samples per problem as ``sft``),
  ``OFFLINE_PASSES`` passes over them (``train.grpo.num_iterations``), then ends.

Everything else is each method's default. Reported per task and arm (medians over seeds, with min and max): held-out
greedy accuracy at the watched difficulty (6 digits, one past the labels; depth 2, the deepest labelled) after each
round, with the seconds spent since round 0; the final accuracy; completions scored per second (ATTEMPT's attempts and
TRAIN's rollouts of the self-labelled rounds / their seconds). Arms run A B C A B C. Targets: every GRPO arm's median
at or above its start on both tasks; GRPO (its better arm) at least matching ``sft`` on one task. ``value``: the
median over tasks of (on-policy GRPO's final accuracy - SFT's).

    python benchmarks/grpo_vs_sft.py [--quick] [--out DIR]

About 15 minutes on 2 quiet cores (round 0: about 1.3 minutes for addition, 4 for list functions; then 18 arms of
25 s and the round each finishes past it: an on-policy round of list functions takes about 40 s); ``--quick`` about
15 s.
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
from pathlib import Path

from _common import Bench, parser
from _runs import run_fork, train_round_zero

COMMON = ["verifier.samples=8", "verifier.temperature=1.0", "loop.max_rounds=100", "loop.min_accepted=0.0",
          "loop.stop_accuracy=0.0", "train.round_lr=0.001", "eval.ahead=1"]  # fmt: skip
TASKS = {
    # name: (preset, settings, the watched difficulty)
    "reversed-addition": (
        "quickstart",
        [
            'verifier.filters=["oracle"]',
            "loop.attempts=direct",
            "loop.problems_per_round=200",
            "train.round_steps=100",
            "eval.problems=100",
        ],  # fmt: skip
        6,
    ),
    "list-functions": ("code-selftrain", ["loop.problems_per_round=200", "train.round_steps=100"], 2),
}
OFFLINE_PASSES = 2
ARMS = {
    "sft": ['train.method="sft"'],
    "grpo-on-policy": ['train.method="grpo"', "train.grpo.on_policy=true"],
    "grpo-offline": [
        'train.method="grpo"',
        "train.grpo.on_policy=false",
        f"train.grpo.num_iterations={OFFLINE_PASSES}",
    ],
}
GRPO_ARMS = ("grpo-on-policy", "grpo-offline")
QUICK = ["loop.labelled_problems=500", "train.labelled_steps=30", "loop.problems_per_round=16", "train.round_steps=4",
         "eval.problems=8", "loop.max_rounds=1"]  # fmt: skip
BUDGET, QUICK_BUDGET = 25.0, 1.0
SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)


def rows(run_dir: Path, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(f"{(run_dir / 'run.db').resolve().as_uri()}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def round_zero(task: str, quick: bool, root: Path) -> tuple[Path, float]:
    preset, sets, _ = TASKS[task]
    start = root / task / "round-0"
    train_round_zero(start, preset, [*COMMON, *sets, *(QUICK if quick else [])])
    spent = rows(start, "SELECT SUM(seconds) FROM phases")[0][0]
    print(f"{task}: round 0 in {spent:.0f} s", file=sys.stderr)
    return start, spent


def scored(run_dir: Path) -> int:
    """Completions scored in the self-labelled rounds: ATTEMPT's attempts and on-policy TRAIN's rollouts."""
    attempts = rows(run_dir, "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id WHERE p.round > 0")
    rollouts = rows(run_dir, "SELECT COUNT(*) FROM rollouts WHERE round > 0")
    return attempts[0][0] + rollouts[0][0]


def arm(task: str, start: Path, round0: float, name: str, seed: int, budget: float, root: Path) -> dict:
    run_dir = root / task / f"{name}-{seed}"
    minutes = (round0 + budget) / 60
    run_fork(start, run_dir, [*ARMS[name], f"seed={seed}", f"loop.max_minutes={minutes}"])
    d = TASKS[task][2]
    accuracy = dict(rows(run_dir, "SELECT round, accuracy FROM evaluations WHERE difficulty = ?", (d,)))
    seconds = dict(rows(run_dir, "SELECT round, SUM(seconds) FROM phases GROUP BY round"))
    curve, spent = [], 0.0
    for r in sorted(seconds):
        spent += seconds[r] if r > 0 else 0.0
        if r in accuracy:
            curve.append((round(spent, 1), round(accuracy[r], 3)))
    out = {"curve": curve, "final": curve[-1][1], "rounds": len(curve) - 1, "seconds": curve[-1][0],
           "scored_per_s": round(scored(run_dir) / curve[-1][0], 1) if curve[-1][0] else None}  # fmt: skip
    print(f"  {task} {name} seed {seed}: {out}", file=sys.stderr)
    return out


def summary(runs: list[dict]) -> dict:
    finals = [r["final"] for r in runs]
    rates = [r["scored_per_s"] for r in runs if r["scored_per_s"] is not None]
    return {
        "start": runs[0]["curve"][0][1],
        "final_median": statistics.median(finals),
        "final_min": min(finals),
        "final_max": max(finals),
        "rounds_median": statistics.median(r["rounds"] for r in runs),
        "scored_per_s_median": statistics.median(rates) if rates else None,
        "curves": [r["curve"] for r in runs],
    }


def judged(res: dict) -> dict:
    """One task's comparisons: each GRPO arm against SFT and against its start, and the targets."""
    sft = res["sft"]["final_median"]
    best = max(GRPO_ARMS, key=lambda a: res[a]["final_median"])
    out = {f"{a}_minus_sft": round(res[a]["final_median"] - sft, 4) for a in GRPO_ARMS}
    out["winner"] = max(ARMS, key=lambda a: res[a]["final_median"])
    out["targets"] = {
        **{f"{a} >= start": res[a]["final_median"] >= res[a]["start"] for a in GRPO_ARMS},
        "grpo matches sft": res[best]["final_median"] >= sft,
    }
    return out


def main() -> None:
    bench = Bench("grpo_vs_sft", parser(__doc__, out=True).parse_args())
    budget, seeds = (QUICK_BUDGET, QUICK_SEEDS) if bench.quick else (BUDGET, SEEDS)
    tasks: dict[str, dict] = {}
    with bench.workdir() as root:
        for task in TASKS:
            start, round0 = round_zero(task, bench.quick, root)
            runs: dict[str, list[dict]] = {a: [] for a in ARMS}
            for seed in seeds:  # A B C A B C
                for name in ARMS:
                    runs[name].append(arm(task, start, round0, name, seed, budget, root))
            res: dict = {a: summary(v) for a, v in runs.items()}
            res["watched_difficulty"] = TASKS[task][2]
            res["round_0_seconds"] = round(round0, 1)
            tasks[task] = res | judged(res)
    targets = {
        "every grpo arm >= its start on both tasks": all(
            t["targets"][f"{a} >= start"] for t in tasks.values() for a in GRPO_ARMS
        ),
        "grpo matches sft on a task": any(t["targets"]["grpo matches sft"] for t in tasks.values()),
    }
    bench.emit(
        "median over tasks of held-out greedy accuracy, on-policy GRPO minus filtered fine-tuning, same budget",
        statistics.median(t["grpo-on-policy_minus_sft"] for t in tasks.values()),
        "accuracy difference",
        targets=targets,
        arms={a: " ".join(v) for a, v in ARMS.items()},
        budget_s_per_arm=budget,
        seeds=list(seeds),
        tasks=tasks,
        wall_seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
