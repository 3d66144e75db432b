"""B-STaR control against a fixed sampling temperature, on the `length-gen` preset (reversed addition, labelled up to
8 digits, split attempts voted on) shortened to 10 minutes per arm.

Round 0 is trained once; both arms continue from a copy of it (``fork_run``: control only acts from round 1 on), and
each stops when its run, round 0 included, has used 10 minutes. Two arms: `fixed` samples every round at the
verifier's temperature and count and accepts by the verifier alone; `bstar` runs `[control] kind = "bstar"` (each
round picks the temperature, sample count and reward threshold with the best balance score on a held-out slice). For
each: digits reached (the deepest difficulty at >= 90 % held-out greedy accuracy, with every shallower one there
too), label precision (the oracle's verdict on the accepted labels, from the store's `verdicts.correct`), the
balance score per round computed from the round's own attempts (the fixed arm at its vote threshold, the bstar arm
at its chosen threshold; plus the bstar arm's slice score of the chosen setting), and wall time. The metric is the
bstar arm's digits reached; the fixed arm's is beside it.
Reversed addition has one right answer per problem (the task declares ``unique_answer``), so the `bstar` arm skips
its grid every round (``grid_skipped``: the rounds and why, from the store's meta) and samples as the fixed arm does:
what this benchmark now shows is that the controller costs nothing where it cannot choose (the arms should tie, in
the same time). Where answers differ, see ``bstar_code.py``.
The full run takes about 17 minutes on 2 cores (round 0 once, then 2 x the rest of 10 minutes); `--quick` under a
minute.

    python benchmarks/bstar.py [--quick] [--out DIR]
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

from _common import Bench, parser
from _runs import run_fork, train_round_zero

from selftaught.run.control import balance_score
from selftaught.store import Store

VOTE_THRESHOLD = 0.6  # the fixed arm keeps what its vote keeps; also the lowest threshold the bstar arm may pick
FULL = [  # the preset as it is, for 10 minutes
    "loop.max_minutes=10",
    f"verifier.vote_threshold={VOTE_THRESHOLD}",
    "verifier.samples=4",
    "verifier.temperature=0.5",
]
FULL_CONTROL = [
    "control.temperatures=[0.5, 0.8, 1.1]",
    f"control.thresholds=[{VOTE_THRESHOLD}, 0.8, 1.0]",
    "control.samples=[4, 8]",
    "control.slice=24",
]
QUICK = [
    "loop.labelled_max=2",
    "loop.labelled_problems=500",
    "loop.problems_per_round=40",
    "loop.max_rounds=1",
    "loop.stop_accuracy=0.0",  # the plumbing, not the learning: always reach a self-labelled round
    "train.labelled_steps=100",
    "train.round_steps=20",
    "eval.problems=10",
    "eval.ahead=1",
    f"verifier.vote_threshold={VOTE_THRESHOLD}",
    "verifier.samples=4",
    "verifier.temperature=0.5",
]
QUICK_CONTROL = ["control.temperatures=[0.5, 1.0]", f"control.thresholds=[{VOTE_THRESHOLD}, 1.0]", "control.slice=8"]


def deepest(accuracy: dict[int, float], threshold: float = 0.9) -> int:
    """The largest difficulty d with every evaluated difficulty up to d at ``threshold`` or more, without gaps (0:
    not even the first). The preset evaluates a window of lengths from the labelled top down, so the shortest ones
    (labelled, never evaluated) count from the first evaluated."""
    best = 0
    for d in sorted(accuracy):
        if (best and d != best + 1) or accuracy[d] < threshold:
            break
        best = d
    return best


def measure(run_dir: Path, n_star: int) -> dict:
    store = Store.open(run_dir / "run.db")
    db = sqlite3.connect(f"{(run_dir / 'run.db').resolve().as_uri()}?mode=ro", uri=True)
    last = db.execute("SELECT MAX(round) FROM evaluations").fetchone()[0]
    # Each difficulty's accuracy where it was last evaluated (the preset evaluates a window below the newest).
    accuracy = {
        d: round(a, 3)
        for d, a in db.execute(
            "SELECT difficulty, accuracy FROM evaluations e WHERE round = "
            "(SELECT MAX(round) FROM evaluations WHERE difficulty = e.difficulty) ORDER BY difficulty"
        )
    }
    share, accepted = db.execute(
        "SELECT AVG(correct), COUNT(*) FROM verdicts WHERE round > 0 AND accepted = 1"
    ).fetchone()
    rounds = [r for (r,) in db.execute("SELECT DISTINCT round FROM verdicts WHERE round > 0 ORDER BY round")]
    per_round = {}
    for r in rounds:
        chosen = store.chosen_control(r)
        threshold = VOTE_THRESHOLD if chosen is None else chosen["threshold"]
        queries = [[(a["text"], a["reward"], a["correct"]) for a in atts] for atts in store.attempt_scores(r).values()]
        b = balance_score(queries, threshold, n_star)
        row = {"balance": round(b.score, 4), "threshold": threshold, "kept": b.kept, "unique_correct": b.unique_correct}
        if chosen is not None:
            row.update(
                temperature=chosen["temperature"], samples=chosen["samples"], slice_balance=round(chosen["score"], 4)
            )
        per_round[r] = row
    skipped = json.loads(store.meta("control_skipped") or "{}")
    db.close()
    store.close()
    return {
        "grid_skipped": {int(r): why for r, why in skipped.items()},
        "digits_reached": deepest(accuracy),
        "accuracy_at_end": accuracy,
        "rounds": last,
        "label_precision": None if share is None else round(share, 4),
        "accepted": accepted,
        "per_round": per_round,
    }


def run(name: str, start: Path, overrides: list[str], root: Path) -> dict:
    """The self-labelled rounds on a copy of round 0, with ``overrides`` applied."""
    reason, wall, exp = run_fork(start, root / name, overrides)
    out = measure(root / name, exp.control.n_star)
    out.update(wall_seconds=round(wall, 1), stop_reason=reason)
    print(f"{name}: {out}", file=sys.stderr)
    return out


def main() -> None:
    bench = Bench("bstar", parser(__doc__, out=True).parse_args())
    base, grid = (QUICK, QUICK_CONTROL) if bench.quick else (FULL, FULL_CONTROL)
    with bench.workdir() as root:
        start = root / "round-0"
        print(f"round 0: {train_round_zero(start, 'length-gen', base):.0f} s", file=sys.stderr)
        fixed = run("fixed", start, [], root)
        bstar = run("bstar", start, ['control.kind="bstar"', *grid], root)
        bench.emit(
            "digits_reached_at_90pct_with_bstar",
            bstar["digits_reached"],
            "digits",
            fixed_digits_reached=fixed["digits_reached"],
            bstar=bstar,
            fixed=fixed,
            wall_seconds=bench.seconds(),
        )


if __name__ == "__main__":
    main()
