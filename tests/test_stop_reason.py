"""The stop reason says how the newest difficulty's accuracy went: it "fell to" a value only from a higher one."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from selftaught.cli import main
from selftaught.run.phases.decide import course


def test_a_first_measure_under_the_threshold_did_not_fall(tmp_path: Path) -> None:
    """Round 0 is the frontier's first evaluation: the run stops there, and says the accuracy is under the bar."""
    run_dir = tmp_path / "run"
    sets = ["loop.stop_accuracy=1.0", "train.labelled_steps=5", "loop.labelled_problems=100", "eval.problems=8"]
    assert main(["run", "--preset", "smoke", "--out", str(run_dir), *(a for s in sets for a in ("--set", s))]) == 0
    with sqlite3.connect(run_dir / "run.db") as conn:
        reason = conn.execute("SELECT value FROM meta WHERE key = 'stop_reason'").fetchone()[0]
        rounds = [r for (r,) in conn.execute("SELECT round FROM rounds")]
        (accuracy,) = conn.execute("SELECT accuracy FROM evaluations WHERE round = 0 AND difficulty = 2").fetchone()
    assert rounds == [0]
    assert reason == f"accuracy at difficulty 2 is {accuracy:.1%} < 100.0%"


def test_the_course_of_a_stuck_frontier() -> None:
    assert course(0.0, None) == "is"  # not measured before
    assert course(0.0, 0.0) == "stayed at"  # never rose
    assert course(0.3, 0.3) == "stayed at"
    assert course(0.1, 0.4) == "fell to"
