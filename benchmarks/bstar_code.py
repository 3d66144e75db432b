"""B-STaR where answers differ: list-functions, where many programs are right for one problem, with two students:
the built-in GPT of the `code-selftrain` preset (2 layers, 64 wide, rotary positions) and a Hugging Face Llama built
from a config (2 layers, 64 wide, character tokens).

Per student, round 0 (labels at depths 1-2) is trained once; every arm continues from a copy of it (``run_fork``)
for the same wall time (round 0's recorded phases plus ``--arm-seconds``), A B A B over ``--repeats`` seeds (a
repeat's seed draws its self-labelled rounds' problems and samples; both arms of a repeat share it):

- `bstar`: ``[control] kind = "bstar"``: each round picks the temperature x sample count x reward threshold of the
  grid with the best balance score on a held-out slice, and pays for the grid out of its wall time;
- `fixed-T`: the preset's sampling (8 programs per problem, the `tests` verifier) at one temperature of the grid,
  every round. The best fixed setting is the fixed arm with the best median final pass@1.

What it shows, per student:

- that the balance score separates the settings: per round of every `bstar` arm, the spread of the grid's scores
  (max - min over every setting, and over temperature x count at the chosen threshold), and the best score each
  temperature reaches;
- how the chosen settings move over rounds: the chosen (temperature, count, threshold) per round;
- the controller against the best fixed setting at equal wall time: greedy pass@1 of the final model on held-out
  problems per depth 1-4 (checked on the hidden tests), its mean over depths 1-3 (the self-labelled depths), the
  rounds done, label precision, and each round's balance score measured on its own attempts.

The metric: the controller's median pass@1 (mean over depths 1-3) minus the best fixed arm's, in points, averaged
over the two students (>= 0: the controller at least matches the best fixed setting in hindsight).
The full form takes about 15 minutes on 2 idle cores (per student: round 0 of 1,500 steps, about 90 s, then 2 repeats
x 4 arms x ``--arm-seconds`` 30, each arm finishing the round it is in, and the final measure of each); ``--quick``
under a minute (one repeat, one fixed arm, a tiny round 0, one round per arm: the plumbing, not the learning).

    python benchmarks/bstar_code.py [--quick] [--out DIR] [--arm-seconds S] [--repeats N] [--students gpt,llama]
"""

from __future__ import annotations

import sqlite3
import statistics
import sys
from pathlib import Path

from _common import Bench, parser
from _runs import run_fork, train_round_zero

from selftaught.config import load_experiment
from selftaught.run.build import build_student
from selftaught.run.control import balance_score
from selftaught.store import Reader
from selftaught.tasks import ListFunctions

PRESET = "code-selftrain"
STUDENTS = {
    "gpt": [],  # the preset's own: 2 x 64, rope
    "llama": [
        'student.kind="hf"',
        'student.params={architecture="llama", layers=2, heads=4, hidden=64, intermediate=256}',
    ],
}
FULL = [
    "loop.labelled_problems=4000",
    "train.labelled_steps=1500",
    "loop.problems_per_round=120",
    "train.round_steps=60",
    "loop.min_accepted=0.0",  # every arm keeps going for its whole wall time
    "eval.problems=100",
]
QUICK = [
    "loop.labelled_problems=200",
    "train.labelled_steps=20",
    "loop.problems_per_round=8",
    "train.round_steps=2",
    "loop.min_accepted=0.0",
    "eval.problems=4",
    "verifier.samples=4",
]
FULL_GRID = ["control.temperatures=[0.6, 1.0, 1.4]", "control.samples=[4, 8]", "control.slice=24"]
QUICK_GRID = ["control.temperatures=[0.6, 1.2]", "control.samples=[2, 4]", "control.slice=4"]
THRESHOLDS = [0.5, 1.0]  # tests: reward = share of the shown examples passed; an accepted program has 1.0
SELF_DEPTHS = (1, 2, 3)  # the preset's self-labelled depths (task.high = 3); depth 4 is evaluated ahead


def final_accuracy(run_dir: Path, per_depth: int) -> dict[int, float]:
    """Greedy pass@1 of the run's newest model 0 on up to ``per_depth`` of its held-out problems per depth 1-4,
    checked on the shown and hidden tests in the sandbox."""
    exp, _ = load_experiment(run_dir / "config.toml")
    with Reader.open(run_dir / "run.db") as store:
        last = max(r["round"] for r in store.rounds() if store.checkpoints(r["round"]))
        path = run_dir / store.checkpoints(last)[0]
        problems = [p for _, p in store.eval_problems()]
    student = build_student(exp, 0)
    student.load_weights(path)
    task = ListFunctions()
    out = {}
    for d in range(1, 5):
        group = [p for p in problems if p.difficulty == d][:per_depth]
        if not group:
            continue
        answers = student.generate(
            [p.prompt for p in group], n=1, temperature=0.0, max_new_tokens=task.max_answer_len(d) + 1
        )
        scores = task.check_many([(p, task.extract(a)) for p, (a,) in zip(group, answers, strict=True)])
        out[d] = round(sum(s == 1.0 for s in scores) / len(group), 3)
    return out


def mean_self(acc: dict[int, float]) -> float:
    return round(sum(acc.get(d, 0.0) for d in SELF_DEPTHS) / len(SELF_DEPTHS), 4)


def grid_rounds(store: Reader) -> dict[int, dict]:
    """Per round of a controlled run: the chosen setting, how far the grid's scores spread (over every setting, and
    over temperature x count at the chosen threshold) and the best score per temperature."""
    out: dict[int, dict] = {}
    rows = store.control()
    for r in sorted({row["round"] for row in rows}):
        grid = [row for row in rows if row["round"] == r]
        chosen = next(row for row in grid if row["chosen"])
        scores = [row["score"] for row in grid]
        at_h = [row["score"] for row in grid if row["threshold"] == chosen["threshold"]]
        by_t: dict[float, float] = {}
        for row in grid:
            by_t[row["temperature"]] = max(by_t.get(row["temperature"], 0.0), row["score"])
        out[r] = {
            "chosen": {k: chosen[k] for k in ("temperature", "samples", "threshold")},
            "score": round(chosen["score"], 4),
            "spread": round(max(scores) - min(scores), 4),
            "spread_at_threshold": round(max(at_h) - min(at_h), 4),
            "distinct_scores": len({round(s, 6) for s in scores}),
            "best_by_temperature": {t: round(s, 4) for t, s in sorted(by_t.items())},
            "unique_correct": chosen["unique_correct"],
        }
    return out


def measure(run_dir: Path, n_star: int) -> dict:
    """Rounds, label precision, accepted programs, each round's balance score on its own attempts (at the chosen
    threshold, or 1.0: what the tests verifier accepts), and the control grid per round."""
    with sqlite3.connect(f"{(run_dir / 'run.db').resolve().as_uri()}?mode=ro", uri=True) as db:
        share, accepted = db.execute(
            "SELECT AVG(correct), COUNT(*) FROM verdicts WHERE round > 0 AND accepted = 1"
        ).fetchone()
        rounds = db.execute("SELECT MAX(round) FROM rounds WHERE finished IS NOT NULL").fetchone()[0]
    with Reader.open(run_dir / "run.db") as store:
        balance = {}
        for r in range(1, (rounds or 0) + 1):
            chosen = store.chosen_control(r)
            h = 1.0 if chosen is None else chosen["threshold"]
            atts = store.attempt_scores(r).values()
            b = balance_score([[(a["text"], a["reward"], a["correct"]) for a in q] for q in atts], h, n_star)
            balance[r] = round(b.score, 4)
        grids = grid_rounds(store)
    return {
        "rounds": rounds,
        "label_precision": None if share is None else round(share, 4),
        "accepted": accepted,
        "balance_per_round": balance,
        "grid": grids,
    }


def median(xs: list[float]) -> float:
    return round(float(statistics.median(xs)), 4)


def student_arms(bench: Bench, root: Path, student: str) -> dict:
    """One student: round 0, then the arms A B A B from copies of it; per arm its runs and medians."""
    args = bench.args
    base = [*STUDENTS[student], *(QUICK if bench.quick else FULL)]
    start = root / student / "round-0"
    r0 = train_round_zero(start, PRESET, base)
    with sqlite3.connect(f"{(start / 'run.db').resolve().as_uri()}?mode=ro", uri=True) as db:
        recorded = db.execute("SELECT SUM(seconds) FROM phases").fetchone()[0] or 0.0
    start_acc = final_accuracy(start, args.per_depth)
    print(f"{student} round 0: {r0:.0f} s, pass@1 {start_acc}", file=sys.stderr)
    minutes = (recorded + args.arm_seconds) / 60.0
    grid = [*(QUICK_GRID if bench.quick else FULL_GRID), f"control.thresholds={THRESHOLDS}"]
    arms = {"bstar": ['control.kind="bstar"', *grid]}
    arms |= {f"fixed-{t:g}": [f"verifier.temperature={t}"] for t in args.fixed}
    runs: dict[str, list[dict]] = {name: [] for name in arms}
    for rep in range(args.repeats):
        for name, overrides in arms.items():  # A B A B: each repeat runs every arm once, in turn
            run_dir = root / student / f"{name}-{rep}"
            sets = [*overrides, f"seed={rep + 1}", f"loop.max_minutes={minutes:.4f}", "loop.max_rounds=1000"]
            reason, wall, exp = run_fork(start, run_dir, sets)
            acc = final_accuracy(run_dir, args.per_depth)
            out = {"seed": rep + 1, "pass1": acc, "pass1_mean_1_3": mean_self(acc), "wall_seconds": round(wall, 1)}
            out |= {"stop_reason": reason, **measure(run_dir, exp.control.n_star)}
            print(f"{student} {name} repeat {rep + 1}: {out}", file=sys.stderr)
            runs[name].append(out)
    medians = {name: median([o["pass1_mean_1_3"] for o in got]) for name, got in runs.items()}
    fixed = [name for name in arms if name != "bstar"]
    best = max(fixed, key=lambda name: (medians[name], -fixed.index(name)))
    grids = [o["grid"] for o in runs["bstar"]]
    spreads = [g["spread"] for grid in grids for g in grid.values()]
    return {
        "round_0": {"pass1": start_acc, "pass1_mean_1_3": mean_self(start_acc), "seconds": round(r0, 1)},
        "median_pass1_mean_1_3": medians,
        "best_fixed": best,
        "bstar_minus_best_fixed_points": round(100 * (medians["bstar"] - medians[best]), 2),
        "grid_spread_median": median(spreads) if spreads else None,
        "grid_spread_min": min(spreads) if spreads else None,
        "chosen_per_round": [{r: g["chosen"] for r, g in grid.items()} for grid in grids],
        "arms": runs,
    }


def main() -> None:
    ap = parser(__doc__, out=True)
    ap.add_argument("--arm-seconds", type=float, default=None, help="each arm's wall time after round 0")
    ap.add_argument("--repeats", type=int, default=None, help="A B A B repeats (seeds 1..N)")
    ap.add_argument("--per-depth", type=int, default=None, help="held-out problems per depth in the final measure")
    ap.add_argument("--students", default=",".join(STUDENTS), help="which students, comma-separated (gpt, llama)")
    ap.add_argument("--fixed", default=None, help="the fixed arms' temperatures, comma-separated")
    args = ap.parse_args()
    quick = args.quick
    args.arm_seconds = args.arm_seconds or (1.0 if quick else 30.0)
    args.repeats = args.repeats or (1 if quick else 2)
    args.per_depth = args.per_depth or (4 if quick else 100)
    args.fixed = [float(t) for t in (args.fixed or ("1.0" if quick else "0.6,1.0,1.4")).split(",")]
    bench = Bench("bstar_code", args)
    with bench.workdir() as root:
        students = {name: student_arms(bench, root, name) for name in args.students.split(",")}
    gaps = [s["bstar_minus_best_fixed_points"] for s in students.values()]
    bench.emit(
        "bstar_minus_best_fixed_pass1_points",
        round(sum(gaps) / len(gaps), 2),
        "points of held-out pass@1 (mean of depths 1-3), mean over students",
        students=students,
        arm_seconds=args.arm_seconds,
        repeats=args.repeats,
        per_depth=args.per_depth,
        wall_seconds=bench.seconds(),
    )


if __name__ == "__main__":
    main()
