"""Code that climbs: the `code-climb` preset (list-functions, labelled at depths 1-2) from one round 0, then three
arms forked from it, each given the same wall time for its self-labelled rounds:

- `plain`: today's self-training (the `tests` verifier keeps what passes the shown examples);
- `hindsight`: + hindsight relabelling (failed programs that ran, re-posed as the problems they solve);
- `search`: + hindsight + frontier search (more samples at a temperature where greedy fails, and programs joined
  from two of the model's own answers) and prioritised replay.

Per arm, at the end: greedy pass@1 on held-out problems per depth 1-5 (the run's held-out set, checked on the hidden
tests), the deepest depth at >= 90 % and at >= 50 % (every shallower depth there too), pass@k at the frontier per
round, label precision of accepted programs on the hidden tests, and relabels made, kept and trained on per depth.
The metric is the best arm's pass@1 at depth 3. Targets: >= 90 % at depth 3 and >= 50 % at depth 4, depths 1-2 no
more than 1 point under round 0.

    python benchmarks/code_climb.py [--quick] [--out DIR] [--arm-seconds S]
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from _common import Bench, deepest, parser
from _runs import run_fork, train_round_zero

PRESET = "code-climb"
ARMS = {
    "plain": ["loop.hindsight=false", "search.samples=0", "search.compose=0", "train.replay_priority=0.0"],
    "hindsight": ["loop.hindsight=true", "search.samples=0", "search.compose=0", "train.replay_priority=0.0"],
    "search": ["loop.hindsight=true"],  # the preset's frontier search and prioritised replay
}
QUICK = [
    "loop.labelled_problems=600",
    "loop.problems_per_round=24",
    "train.labelled_steps=40",
    "train.round_steps=10",
    "eval.problems=10",
    "search.samples=8",
    "search.eval_samples=4",
    "search.k=[1,4]",
    "verifier.samples=4",
]
DEPTHS = range(1, 6)


def final_accuracy(run_dir: Path, per_depth: int) -> dict[int, float]:
    """Greedy pass@1 of the run's newest model 0 on up to ``per_depth`` held-out problems per depth 1-5, checked on
    the shown and hidden tests in the sandbox."""
    from selftaught.config import load_experiment
    from selftaught.run.build import build_student
    from selftaught.store import Store
    from selftaught.tasks import ListFunctions

    exp, _ = load_experiment(run_dir / "config.toml")
    store = Store.open(run_dir / "run.db")
    try:
        last = max(r["round"] for r in store.rounds() if store.checkpoints(r["round"]))
        student = build_student(exp, 0)
        student.load_weights(run_dir / store.checkpoints(last)[0])
        problems = [p for _, p in store.eval_problems()]
    finally:
        store.close()
    task = ListFunctions()
    out = {}
    for d in DEPTHS:
        group = [p for p in problems if p.difficulty == d][:per_depth]
        if not group:
            continue
        answers = student.generate(
            [p.prompt for p in group], n=1, temperature=0.0, max_new_tokens=task.max_answer_len(d) + 1
        )
        scores = task.check_many([(p, task.extract(a)) for p, (a,) in zip(group, answers)])
        out[d] = round(sum(s == 1.0 for s in scores) / len(group), 3)
    return out


def measure(run_dir: Path) -> dict:
    with sqlite3.connect(f"{(run_dir / 'run.db').resolve().as_uri()}?mode=ro", uri=True) as db:
        precision = db.execute("SELECT AVG(correct), COUNT(*) FROM verdicts WHERE round > 0 AND accepted = 1")
        share, accepted = precision.fetchone()
        per_round = db.execute(
            "SELECT p.round, p.difficulty, SUM(v.accepted), COUNT(*) FROM verdicts v JOIN problems p "
            "ON p.id = v.problem_id WHERE p.round > 0 GROUP BY 1, 2 ORDER BY 1, 2"
        ).fetchall()
        pass_k = db.execute("SELECT round, difficulty, k, value FROM pass_at_k ORDER BY 1, 2, 3").fetchall()
        relabels = db.execute(
            "SELECT COALESCE(difficulty, from_difficulty), COUNT(*), SUM(prompt IS NOT NULL), SUM(kept) "
            "FROM relabels GROUP BY 1 ORDER BY 1"
        ).fetchall()
        trained = dict(
            db.execute("SELECT difficulty, COUNT(*) FROM examples WHERE source = 'hindsight' GROUP BY 1").fetchall()
        )
        rounds = db.execute("SELECT MAX(round) FROM rounds WHERE finished IS NOT NULL").fetchone()[0]
        evals = db.execute("SELECT round, difficulty, accuracy FROM evaluations ORDER BY 1, 2").fetchall()
    return {
        "rounds": rounds,
        "label_precision": None if share is None else round(share, 4),
        "accepted": accepted,
        "accepted_per_round_and_depth": {f"{r}:{d}": f"{a}/{n}" for r, d, a, n in per_round},
        "pass_at_k_frontier": {f"{r}:{d}:{k}": round(v, 3) for r, d, k, v in pass_k},
        "relabels_per_depth": {
            d: {"tried": n, "made": made, "kept": kept, "trained": trained.get(d, 0)} for d, n, made, kept in relabels
        },
        "evaluations": {f"{r}:{d}": round(a, 3) for r, d, a in evals},
    }


def main() -> None:
    ap = parser(__doc__, out=True, sets=True)
    ap.add_argument("--arm-seconds", type=float, default=None, help="each arm's wall time after round 0")
    ap.add_argument("--per-depth", type=int, default=None, help="held-out problems per depth in the final measure")
    ap.add_argument("--arms", default=",".join(ARMS), help="which arms, comma-separated")
    ap.add_argument(
        "--ceiling",
        action="store_true",
        help="also train a model on true labels at depths 1-3 for round 0's time plus one arm's (what the model can "
        "learn of depth 3 from labels in that time: a bound on what self-labelling can reach)",
    )
    bench = Bench("code_climb", ap.parse_args())
    with bench.workdir() as root:
        climb(bench, root)


def climb(bench: Bench, root: Path) -> None:
    """Round 0, then each arm (and the ceiling) from a copy of it, then the final line."""
    args = bench.args
    base = (QUICK if args.quick else []) + args.set
    arm_seconds = args.arm_seconds or (15.0 if args.quick else 330.0)
    per_depth = args.per_depth or (10 if args.quick else 200)
    start = root / "round-0"
    if not (start / "run.db").exists():
        round_0_seconds = train_round_zero(start, PRESET, base)
    else:
        round_0_seconds = 0.0
    print(f"round 0: {round_0_seconds:.0f} s", file=sys.stderr)
    r0_store = sqlite3.connect(f"{(start / 'run.db').resolve().as_uri()}?mode=ro", uri=True)
    recorded = r0_store.execute("SELECT SUM(seconds) FROM phases").fetchone()[0] or 0.0
    r0_store.close()
    budget_minutes = (recorded + arm_seconds) / 60.0  # the run's wall budget counts round 0's recorded phases
    start_acc = final_accuracy(start, per_depth)
    print(f"round 0 accuracy: {start_acc}", file=sys.stderr)
    arms = {}
    for name in args.arms.split(","):
        overrides = [*ARMS[name], *base, f"loop.max_minutes={budget_minutes:.4f}", "loop.max_rounds=1000"]
        reason, wall, _ = run_fork(start, root / name, overrides)
        acc = final_accuracy(root / name, per_depth)
        out = {
            "pass1": acc,
            "depth_at_90": deepest(acc, 0.9),
            "depth_at_50": deepest(acc, 0.5),
            "wall_seconds": round(wall, 1),
            "stop_reason": reason,
            **measure(root / name),
        }
        print(f"{name}: {out}", file=sys.stderr)
        arms[name] = out
    ceiling = None
    if args.ceiling:
        steps = int(4000 * (round_0_seconds + arm_seconds) / max(round_0_seconds, 1.0)) if not args.quick else 80
        t1 = time.perf_counter()
        train_round_zero(root / "labels-1-3", PRESET, [*base, "loop.labelled_max=3", f"train.labelled_steps={steps}"])
        acc = final_accuracy(root / "labels-1-3", per_depth)
        ceiling = {"pass1": acc, "steps": steps, "seconds": round(time.perf_counter() - t1, 1)}
        print(f"labels 1-3: {ceiling}", file=sys.stderr)
    best = max(arms, key=lambda a: (arms[a]["pass1"].get(3, 0.0), arms[a]["pass1"].get(4, 0.0)))
    b = arms[best]["pass1"]
    bench.emit(
        "best_arm_pass1_at_depth_3",
        b.get(3, 0.0),
        "share of held-out problems",
        best_arm=best,
        targets={
            "depth_3_at_90": b.get(3, 0.0) >= 0.9,
            "depth_4_at_50": b.get(4, 0.0) >= 0.5,
            "depths_1_2_within_1_point": all(b.get(d, 0.0) >= start_acc.get(d, 0.0) - 0.01 for d in (1, 2)),
        },
        round_0={"pass1": start_acc, "seconds": round(round_0_seconds, 1)},
        arm_seconds=arm_seconds,
        per_depth=per_depth,
        arms=arms,
        labels_1_3=ceiling,
        wall_seconds=bench.seconds(),
        budget_seconds=1800,
    )


if __name__ == "__main__":
    main()
