"""Length generalisation by self-improvement: run the `length-gen` preset, then measure how far it reaches.

Prints the largest difficulty whose exact-match accuracy on 1,000 fresh held-out problems is >= 99 %, the largest
difficulty trained with labels, and the wall time. `--quick` runs a shortened version (smaller labelled range,
a one-minute budget, 200 problems per difficulty) with the same metric.

    python benchmarks/length_gen.py [--quick] [--out DIR]
"""

from __future__ import annotations

import sys
import time

from _common import Bench, parser

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


def reach(student: GPTStudent, task, seed: int, n: int, threshold: float = 0.99) -> tuple[int, dict]:
    """Evaluate difficulties from 1 upward on ``n`` fresh problems each until two in a row miss ``threshold``."""
    best, misses, d, accuracy = 0, 0, 1, {}
    while misses < 2:
        problems = [task.sample(rng_for(seed, "bench", d, i), d) for i in range(n)]
        answers = student.generate([p.prompt for p in problems], max_new_tokens=task.max_answer_len(d) + 1)
        acc = sum(a[0] == p.target for a, p in zip(answers, problems)) / n
        accuracy[d] = round(acc, 4)
        print(f"  difficulty {d}: {acc:.1%}", file=sys.stderr)
        if acc >= threshold and misses == 0:
            best = d
        elif acc < threshold:
            misses += 1
        d += 1
    return best, accuracy


def main() -> None:
    bench = Bench("length_gen", parser(__doc__, out=True).parse_args())
    exp, text = load_experiment(preset="length-gen", overrides=QUICK if bench.quick else [])
    with bench.workdir() as root:
        run_dir = bench.args.out or root / "run"  # --out is the run directory itself
        t0 = time.perf_counter()
        loop = Loop.create(run_dir, exp, text)
        reason = loop.run()
        wall = time.perf_counter() - t0
        store = Store.open(run_dir / "run.db")
        last = max(r["round"] for r in store.rounds())
        student = GPTStudent.load(run_dir / store.checkpoints(last)[0])
        n = 200 if bench.quick else 1000
        task = loop.parts.skills.tasks[exp.task.name]
        best, accuracy = reach(student, task, derive_seed(exp.seed, "length-gen-bench"), n)
        frontier = store.round_summary(last)["difficulty"]
    print(f"stopped: {reason}", file=sys.stderr)
    bench.emit(
        "largest_difficulty_at_99pct",
        best,
        "digits",
        labelled_max=exp.loop.labelled_max,
        rounds=last,
        frontier_trained=frontier,
        wall_seconds=round(wall, 1),
        problems_per_difficulty=n,
        stop_reason=reason,
        accuracy=accuracy,
        target="reach >= 32 digits from <= 8 labelled within 30 minutes",
    )


if __name__ == "__main__":
    main()
