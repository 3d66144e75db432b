"""Filtered fine-tuning (``train.method = "sft"``) vs GRPO (``train.method = "grpo"``) in the loop, from the same
round 0 and for the same wall-clock budget.

Two tasks with a reward: reversed addition (the quickstart's model and labels, direct attempts, the oracle as the
verifier: reward 1 for a right sum) and ``list-functions`` (the ``code-selftrain`` preset: the tests verifier runs the
model's programs in the sandbox, reward = share of the examples passed). Per task, round 0 is trained once; each arm
is a copy of it (``fork_run``) with the method and a seed (0, 1, 2) for its later rounds, and runs self-labelled
rounds until its run has spent round 0's time plus ``BUDGET`` seconds (a round that has begun is finished). SFT rounds
train on the accepted answers with replay; GRPO rounds learn from the round's attempts and their rewards (offline:
the attempts VERIFY scored, grouped by problem). Both fine-tune at the same learning rate (``train.round_lr``).

Reported per task and arm (medians over seeds, with min and max): held-out greedy accuracy at the watched difficulty
(6 digits, one past the labels; depth 2, the deepest labelled) after each round, with the seconds spent since round
0; the final accuracy; completions scored per second (attempts of the self-labelled rounds / their seconds). Arms run
A B A B. ``value``: the median over tasks of (GRPO's final accuracy - SFT's).

    python benchmarks/grpo_vs_sft.py [--quick] [--out DIR]
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
QUICK = ["loop.labelled_problems=500", "train.labelled_steps=30", "loop.problems_per_round=16", "train.round_steps=4",
         "eval.problems=8", "loop.max_rounds=1"]  # fmt: skip
BUDGET, QUICK_BUDGET = 60.0, 1.0
SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)


def rows(run_dir: Path, sql: str, args: tuple = ()) -> list[tuple]:
    with sqlite3.connect(f"{(run_dir / 'run.db').resolve().as_uri()}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


def round_zero(task: str, quick: bool, root: Path) -> tuple[Path, float]:
    preset, sets, _ = TASKS[task]
    train_round_zero(root / task / "round-0", preset, [*COMMON, *sets, *(QUICK if quick else [])])
    spent = rows(root / task / "round-0", "SELECT SUM(seconds) FROM phases")[0][0]
    print(f"{task}: round 0 in {spent:.0f} s", file=sys.stderr)
    return root / task / "round-0", spent


def arm(task: str, start: Path, round0: float, method: str, seed: int, budget: float, root: Path) -> dict:
    run_dir = root / task / f"{method}-{seed}"
    minutes = (round0 + budget) / 60
    run_fork(start, run_dir, [f'train.method="{method}"', f"seed={seed}", f"loop.max_minutes={minutes}"])
    d = TASKS[task][2]
    accuracy = dict(rows(run_dir, "SELECT round, accuracy FROM evaluations WHERE difficulty = ?", (d,)))
    seconds = dict(rows(run_dir, "SELECT round, SUM(seconds) FROM phases GROUP BY round"))
    curve, spent = [], 0.0
    for r in sorted(seconds):
        spent += seconds[r] if r > 0 else 0.0
        if r in accuracy:
            curve.append((round(spent, 1), round(accuracy[r], 3)))
    scored = rows(run_dir, "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id WHERE p.round > 0")
    out = {"curve": curve, "final": curve[-1][1], "rounds": len(curve) - 1, "seconds": curve[-1][0],
           "scored_per_s": round(scored[0][0] / curve[-1][0], 1) if curve[-1][0] else None}  # fmt: skip
    print(f"  {task} {method} seed {seed}: {out}", file=sys.stderr)
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


def main() -> None:
    bench = Bench("grpo_vs_sft", parser(__doc__, out=True).parse_args())
    budget, seeds = (QUICK_BUDGET, QUICK_SEEDS) if bench.quick else (BUDGET, SEEDS)
    tasks: dict[str, dict] = {}
    with bench.workdir() as root:
        for task in TASKS:
            start, round0 = round_zero(task, bench.quick, root)
            runs: dict[str, list[dict]] = {"sft": [], "grpo": []}
            for seed in seeds:  # A B A B
                for method in ("sft", "grpo"):
                    runs[method].append(arm(task, start, round0, method, seed, budget, root))
            res: dict = {m: summary(v) for m, v in runs.items()}
            res["watched_difficulty"] = TASKS[task][2]
            res["grpo_minus_sft"] = round(res["grpo"]["final_median"] - res["sft"]["final_median"], 4)
            res["winner"] = "grpo" if res["grpo_minus_sft"] > 0 else "sft" if res["grpo_minus_sft"] < 0 else "tie"
            res["round_0_seconds"] = round(round0, 1)
            tasks[task] = res
    bench.emit(
        "median over tasks of held-out greedy accuracy, GRPO minus filtered fine-tuning, same budget",
        statistics.median(t["grpo_minus_sft"] for t in tasks.values()),
        "accuracy difference",
        budget_s_per_arm=budget,
        seeds=list(seeds),
        tasks=tasks,
        wall_seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
