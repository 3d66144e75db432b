"""Code by self-training: the `code-selftrain` preset (list-functions, labelled at depth 1-2), verified by running
the model's programs against the examples in the sandbox (`tests`), and the same loop with votes over the
programs' outputs instead (`output-vote`, which never reads an expected output).

Round 0 (labelled) is trained once; both arms continue from a copy of it (``fork_run``), so they differ only in the
verifier. For each: the deepest depth at >= 90 % pass@1 (greedy, on held-out problems, checked by the hidden tests)
with every shallower depth there too, after round 0 and at the end; the share of accepted programs the task's
reference confirms on its hidden tests (label precision); accepted programs per round; wall time. The metric is the
tests variant's depth reached after self-training.

    python benchmarks/code_selftrain.py [--quick] [--out DIR]
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from _common import Bench, deepest, parser
from _runs import run_fork, train_round_zero

QUICK = [
    "loop.labelled_problems=1000",
    "loop.problems_per_round=40",
    "loop.max_rounds=1",
    "train.labelled_steps=40",
    "train.round_steps=10",
    "eval.problems=10",
    "eval.ahead=1",
    "verifier.samples=4",
]


def measure(run_dir: Path) -> dict:
    with sqlite3.connect(f"{(run_dir / 'run.db').resolve().as_uri()}?mode=ro", uri=True) as db:
        last = db.execute("SELECT MAX(round) FROM evaluations").fetchone()[0]

        def acc(r: int) -> dict[int, float]:
            rows = db.execute("SELECT difficulty, accuracy FROM evaluations WHERE round = ?", (r,))
            return {d: round(a, 3) for d, a in rows}

        precision = db.execute("SELECT AVG(correct), COUNT(*) FROM verdicts WHERE round > 0 AND accepted = 1")
        share, accepted = precision.fetchone()
        per_round = db.execute(
            "SELECT round, SUM(accepted), COUNT(*) FROM verdicts WHERE round > 0 GROUP BY round ORDER BY round"
        ).fetchall()
    return {
        "depth_after_round_0": deepest(acc(0)),
        "depth_at_end": deepest(acc(last)),
        "depth_at_50pct_after_round_0": deepest(acc(0), 0.5),
        "depth_at_50pct_at_end": deepest(acc(last), 0.5),
        "accuracy_after_round_0": acc(0),
        "accuracy_at_end": acc(last),
        "rounds": last,
        "label_precision": None if share is None else round(share, 4),
        "accepted": accepted,
        "accepted_per_round": {r: f"{a}/{n}" for r, a, n in per_round},
    }


def run(name: str, start: Path, overrides: list[str], root: Path) -> dict:
    """The self-labelled rounds on a copy of round 0, with ``overrides`` (the verifier) applied."""
    reason, wall, _ = run_fork(start, root / name, overrides)
    out = measure(root / name)
    out.update(wall_seconds=round(wall, 1), stop_reason=reason)
    print(f"{name}: {out}", file=sys.stderr)
    return out


def main() -> None:
    bench = Bench("code_selftrain", parser(__doc__, out=True).parse_args())
    base = QUICK if bench.quick else []
    with bench.workdir() as root:
        start = root / "round-0"
        round_0_seconds = train_round_zero(start, "code-selftrain", base)
        print(f"round 0: {round_0_seconds:.0f} s", file=sys.stderr)
        tests = run("tests", start, ['verifier.filters=["tests"]'], root)
        vote = run("output-vote", start, ['verifier.filters=["output-vote"]'], root)
        bench.emit(
            "depth_at_90pct_pass1_after_selftraining",
            tests["depth_at_end"],
            "composition depth",
            tests=tests,
            output_vote=vote,
            round_0_seconds=round(round_0_seconds, 1),
            wall_seconds=bench.seconds(),
            budget_seconds=1200,
        )


if __name__ == "__main__":
    main()
