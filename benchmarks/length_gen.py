"""Length generalisation by self-improvement: run the `length-gen` preset, then measure how far it reaches.

Prints the largest difficulty whose exact-match accuracy on 1,000 fresh held-out problems is >= 99 % with every
shorter one there too, the largest difficulty trained, the rounds and training steps taken and the wall time. Beside
it, the same preset with ``direct`` attempts (the model answers each problem whole instead of its split parts) under a
shorter budget, measured the same way. ``climb`` lists, per round, the minutes spent so far and the ladder's frontier
(the highest length with every length up to it at >= 95 % on the run's 100 held-out problems); ``--plot FILE`` draws
digits against minutes for both runs. ``--quick`` runs a shortened version (smaller labelled range, a one-minute
budget, 200 problems per difficulty) with the same metric.

    python benchmarks/length_gen.py [--quick] [--out DIR] [--plot FILE] [--direct-minutes 5]
"""

from __future__ import annotations

import time
from pathlib import Path

from _common import Bench, log, parser

from selftaught.config import load_experiment
from selftaught.run.loop import Loop
from selftaught.seeding import derive_seed, rng_for
from selftaught.store import Store
from selftaught.students.builtin import GPTStudent

QUICK = [
    "loop.labelled_max=3",
    "loop.labelled_problems=6000",
    "loop.max_minutes=0.8",
    "train.labelled_steps=2000",
    "train.round_steps=150",
    "loop.problems_per_round=400",
]
TARGET = "reach >= 100 digits (every shorter length >= 99 % too) from <= 8 labelled within 30 minutes"


def reach(student: GPTStudent, task, seed: int, n: int, threshold: float = 0.99) -> tuple[int, dict]:
    """Evaluate difficulties from 1 upward on ``n`` fresh problems each until two in a row miss ``threshold``."""
    best, misses, d, accuracy = 0, 0, 1, {}
    while misses < 2:
        problems = [task.sample(rng_for(seed, "bench", d, i), d) for i in range(n)]
        answers = student.generate([p.prompt for p in problems], max_new_tokens=task.max_answer_len(d) + 1)
        acc = sum(a[0] == p.target for a, p in zip(answers, problems)) / n
        accuracy[d] = round(acc, 4)
        log(f"  difficulty {d}: {acc:.1%}")
        if acc >= threshold and misses == 0:
            best = d
        elif acc < threshold:
            misses += 1
        d += 1
    return best, accuracy


def climb(store: Store) -> list[dict]:
    """Per round: minutes of completed phases so far, the ladder's frontier after it, and its training steps."""
    frontier = {row["round"]: int(row["value"]) for row in store.teacher_scores()}
    minutes, out = 0.0, []
    for s in store.round_summaries():
        minutes += s["seconds"] / 60
        r = s["round"]
        out.append({"round": r, "minutes": round(minutes, 2), "frontier": frontier.get(r), "steps": s["train_steps"]})
    return out


def train(root: Path, name: str, overrides: list[str]) -> tuple[Loop, Path, str, float]:
    exp, text = load_experiment(preset="length-gen", overrides=overrides)
    run_dir = root / name
    t0 = time.perf_counter()
    loop = Loop.create(run_dir, exp, text)
    reason = loop.run()
    wall = time.perf_counter() - t0
    log(f"{name}: stopped: {reason} after {wall / 60:.1f} minutes")
    return loop, run_dir, reason, wall


def measure(bench: Bench, loop: Loop, run_dir: Path, reason: str, wall: float) -> dict:
    """The run's reach on fresh problems, its rounds, steps and climb."""
    exp = loop.exp
    store = Store.open(run_dir / "run.db")
    last = max(r["round"] for r in store.rounds())
    student = GPTStudent.load(run_dir / store.checkpoints(last)[0])
    n = 200 if bench.quick else 1000
    task = loop.parts.skills.tasks[exp.task.name]
    best, accuracy = reach(student, task, derive_seed(exp.seed, "length-gen-bench"), n)
    return {
        "reach": best,
        "labelled_max": exp.loop.labelled_max,
        "rounds": last,
        "steps": sum(store.round_steps().values()),
        "frontier_trained": max(store.frontiers(last).values()),
        "wall_seconds": round(wall, 1),
        "problems_per_difficulty": n,
        "stop_reason": reason,
        "accuracy": accuracy,
        "climb": climb(store),
    }


def plot(path: Path, runs: dict[str, dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, run in runs.items():
        xs = [c["minutes"] for c in run["climb"] if c["frontier"] is not None]
        ys = [c["frontier"] for c in run["climb"] if c["frontier"] is not None]
        ax.step(xs, ys, where="post", label=f"{name} attempts: {run['reach']} digits at >= 99 %")
    ax.axhline(100, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("minutes on 2 CPU cores")
    ax.set_ylabel("digits mastered (frontier)")
    ax.set_title("reversed addition, labelled up to 8 digits")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = parser(__doc__, out=True)
    ap.add_argument("--plot", type=Path, default=None, help="draw digits against minutes here (PNG)")
    ap.add_argument("--direct-minutes", type=float, default=5.0, help="wall-time budget of the direct run")
    bench = Bench("length_gen", ap.parse_args())
    base = QUICK if bench.quick else []
    direct_minutes = min(bench.args.direct_minutes, 0.8) if bench.quick else bench.args.direct_minutes
    with bench.workdir() as root:
        root = bench.args.out or root
        # Both runs train first (the timed part), the shorter first; measuring their reach comes after.
        trained = {
            "direct": train(root, "direct", [*base, "loop.attempts=direct", f"loop.max_minutes={direct_minutes}"]),
            "split": train(root, "split", base),
        }
        runs = {name: measure(bench, *trained[name]) for name in ("split", "direct")}
    if bench.args.plot:
        plot(bench.args.plot, runs)
    main_run = runs.pop("split")
    best = main_run.pop("reach")
    bench.emit(
        "largest_difficulty_at_99pct",
        best,
        "digits",
        **main_run,
        direct=runs["direct"],
        meets_target=bool(best >= 100 and main_run["wall_seconds"] <= 1800 and main_run["labelled_max"] <= 8),
        target=TARGET,
    )


if __name__ == "__main__":
    main()
