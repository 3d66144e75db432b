"""Tests for the terminal progress: round k of N, a whole-run estimate, and a live line for every running phase."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from selftaught.cli.progress import RichProgress, RunEstimate, clock, run_estimate


def _round(round_: int, seconds: float, decision: str | None = "continue") -> dict[str, Any]:
    return {"round": round_, "seconds": seconds, "decision": decision}


def test_run_estimate_from_the_mean_of_finished_rounds() -> None:
    # Nothing finished yet: no estimate, only the time so far.
    assert run_estimate([_round(0, 3.0, None)], 3, 3.0) == RunEstimate(3.0, None)
    # Only round 0 finished (100 s): it stands for every round; round 1 has spent 5 s of its 100; rounds 2, 3 to go.
    estimate = run_estimate([_round(0, 100.0), _round(1, 5.0, None)], 3, 105.0)
    assert estimate == RunEstimate(105.0, 95.0 + 2 * 100.0, False, 100.0, 3)
    # Self-labelled rounds finished: their mean (25 s), not round 0's, for the rounds 3 and 4 still to run.
    rounds = [_round(0, 100.0), _round(1, 20.0), _round(2, 30.0)]
    assert run_estimate(rounds, 4, 150.0) == RunEstimate(150.0, 50.0, False, 25.0, 2)
    # A running round past the mean counts as nearly done, not as negative time.
    assert run_estimate([*rounds, _round(3, 40.0, None)], 4, 190.0).remaining == 25.0
    # The wall-time budget bounds it: 3 minutes, 150 s spent, so at most 30 s left.
    assert run_estimate(rounds, 4, 150.0, max_minutes=3) == RunEstimate(150.0, 30.0, True, 25.0, 2)
    assert run_estimate(rounds, 4, 150.0, max_minutes=10).bounded is False
    # A run that decided to stop, or whose round budget is spent, has nothing left.
    assert run_estimate([_round(0, 100.0), _round(1, 20.0, "round budget spent")], 5, 120.0).remaining == 0.0
    assert run_estimate(rounds, 2, 150.0).remaining == 0.0


def test_clock() -> None:
    assert [clock(s) for s in (0, 44.6, 60, 185, 3600 + 125, -3)] == ["0s", "45s", "1m00s", "3m05s", "1h02m", "0s"]


class _Store:
    """The store reads RichProgress makes: round 0 finished in 100 s, round 1 running for 5 s so far."""

    def __init__(self, loop: dict[str, Any]) -> None:
        self.loop = loop
        self.rounds = [_round(0, 100.0), _round(1, 5.0, None)]

    def config(self) -> dict[str, Any]:
        return {"loop": self.loop}

    def round_summaries(self) -> list[dict[str, Any]]:
        return self.rounds

    def elapsed_seconds(self) -> float:
        return sum(r["seconds"] for r in self.rounds)

    def round_summary(self, n: int) -> dict[str, Any]:
        return {"round": n, "difficulty": 6, "proposed": 64, "accepted": 48}

    def evaluations(self, n: int) -> list[dict[str, Any]]:
        return [{"task": "add", "difficulty": d, "accuracy": a} for d, a in ((5, 1.0), (6, 0.5), (7, 0.0))]

    def frontiers(self, n: int) -> dict[str, int]:
        return {"add": 6}


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _terminal() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=120, record=True, color_system=None), buffer


def test_every_phase_shows_a_live_line_with_round_of_n_and_the_run_estimate() -> None:
    console, buffer = _terminal()
    progress = RichProgress(console, _Store({"max_rounds": 3, "max_minutes": 0}), now=_Clock())
    assert progress.heading(1) == "round 1 of 3"

    progress.on_phase_start(1, "ATTEMPT")
    try:
        assert progress.progress is not None and progress.progress.live.is_started
        shown = buffer.getvalue()
        # Elapsed 105 s; remaining: round 1's 95 s left of round 0's 100, then rounds 2 and 3.
        assert "round 1 of 3 ATTEMPT ..." in shown and "run 1m45s, ~4m55s left" in shown
    finally:
        progress.on_phase_end(1, "ATTEMPT", 12.0)
    assert progress.progress is None
    assert console.export_text().endswith("round 1 of 3 ATTEMPT  done in   12.0s\n")


def test_train_bar_counts_steps_and_advances_the_run_clock() -> None:
    console, buffer = _terminal()
    now = _Clock()
    progress = RichProgress(console, _Store({"max_rounds": 3}), now=now)
    progress.on_phase_start(1, "TRAIN")
    try:
        now.t += 30.0
        progress.on_train_step(1, 10, 40, 0.5)
        task = progress.progress.tasks[0]
        assert (task.completed, task.total, task.fields["loss"]) == (10, 40, "0.5000")
        assert task.fields["run"] == "run 2m15s, ~4m25s left"
        progress.progress.refresh()
        assert "round 1 of 3 TRAIN" in buffer.getvalue()
    finally:
        progress.on_phase_end(1, "TRAIN", 31.0)
    assert progress.progress is None


def test_round_end_prints_the_summary_and_the_run_estimate_or_the_stop() -> None:
    console, _ = _terminal()
    store = _Store({"max_rounds": 3, "max_minutes": 2.5})
    progress = RichProgress(console, store)
    store.rounds[1].update(seconds=20.0, decision="continue")
    progress.on_round_end(1, "continue")
    # Rounds 2 and 3 at round 1's 20 s would take 40 s, but 120 s are spent of a 150 s budget: 30 s, and it says why.
    progress.on_round_end(1, "round budget spent (3 self-labelled rounds)")
    lines = console.export_text().splitlines()
    assert lines == [
        "round 1 of 3 difficulty 6  accepted 48/64  accuracy 5:100%  6:50%  7:0%",
        "run 2m00s, ~30s left (time budget)",
        "round 1 of 3 difficulty 6  accepted 48/64  accuracy 5:100%  6:50%  7:0%",
        "stopped: round budget spent (3 self-labelled rounds)",
    ]


def test_a_log_file_gets_the_lines_without_live_leftovers() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=80)
    progress = RichProgress(console, _Store({}))  # no max_rounds in the config: "round k" alone
    for phase in ("ATTEMPT", "TRAIN"):
        progress.on_phase_start(2, phase)
        assert progress.progress is None
        progress.on_train_step(2, 10, 10, 0.25)
        progress.on_phase_end(2, phase, 1.5)
    assert buffer.getvalue() == "round 2 ATTEMPT  done in    1.5s\nround 2 TRAIN    done in    1.5s\n"


@pytest.mark.parametrize("phase", ["PROPOSE", "VERIFY", "CURATE", "EVALUATE", "DECIDE"])
def test_other_phases_get_the_spinner_too(phase: str) -> None:
    console, buffer = _terminal()
    progress = RichProgress(console, _Store({"max_rounds": 3}))
    progress.on_phase_start(1, phase)
    try:
        assert f"round 1 of 3 {phase} ..." in buffer.getvalue()
    finally:
        progress.on_phase_end(1, phase, 0.1)
