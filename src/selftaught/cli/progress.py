"""What the terminal shows while a run goes: which round of how many, the phase running, and a whole-run estimate.

``RichProgress`` is the loop callback the CLI attaches. Every phase gets a transient live line while it runs (TRAIN a
bar with steps, loss and the round's ETA; the others a spinner, since they have no step count to show), then one
line when it is done, and each round ends with a summary line and the run's elapsed and estimated remaining time.
The estimate is a plain function of the store's records (``run_estimate``) so it can be tested without a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from selftaught.run.loop import CONTINUE, LoopCallback
from selftaught.store import Store

__all__ = ["RichProgress", "RunEstimate", "clock", "run_estimate"]


@dataclass(frozen=True)
class RunEstimate:
    """The whole run's time: ``elapsed`` seconds in finished phases, and ``remaining`` seconds estimated (None with
    no finished round to go by). ``bounded`` when the wall-time budget (``loop.max_minutes``) cut the estimate.
    ``per_round`` is the mean seconds the estimate took per round, ``rounds_left`` the rounds it counted (the
    running one included)."""

    elapsed: float
    remaining: float | None
    bounded: bool = False
    per_round: float | None = None
    rounds_left: int = 0


def run_estimate(
    rounds: list[dict[str, Any]], max_rounds: int | None, elapsed: float, max_minutes: float | None = None
) -> RunEstimate:
    """Estimate the run's remaining time from its rounds so far (``Store.round_summaries``: ``round``,
    ``decision``, ``seconds``).

    A finished round has a decision. The time per round is the mean of the finished self-labelled rounds, or
    round 0's while it is the only one finished (it trains on many labelled problems, so it overstates later
    rounds). The rounds to go are those up to ``max_rounds`` not finished yet, the running one counted by what it has
    left of that mean. The run may stop sooner (accuracy, too few accepted); with ``max_minutes`` set, the estimate
    is at most the wall-time budget left. A run whose last round decided to stop has nothing left.
    """
    finished = [r for r in rounds if r.get("decision") is not None]
    if finished and finished[-1]["decision"] != CONTINUE and len(finished) == len(rounds):
        return RunEstimate(elapsed, 0.0)
    if not finished or max_rounds is None:
        return RunEstimate(elapsed, None)
    later = [float(r["seconds"] or 0.0) for r in finished if r["round"] > 0]
    per_round = sum(later) / len(later) if later else float(finished[0]["seconds"] or 0.0)
    running = next((r for r in rounds if r.get("decision") is None), None)
    spent = float(running["seconds"] or 0.0) if running else 0.0
    next_round = running["round"] if running else finished[-1]["round"] + 1
    rounds_left = max(0, max_rounds - next_round + 1)
    remaining = 0.0
    if rounds_left:
        remaining = max(0.0, per_round - spent) + per_round * (rounds_left - 1)
    bounded = False
    if max_minutes:
        budget = max(0.0, max_minutes * 60 - elapsed)
        bounded = budget < remaining
        remaining = min(remaining, budget)
    return RunEstimate(elapsed, remaining, bounded, per_round, rounds_left)


def clock(seconds: float) -> str:
    """A duration in the largest two units: 45s, 3m05s, 1h02m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _describe(estimate: RunEstimate, since: float = 0.0) -> str:
    """The run's elapsed and remaining time, ``since`` seconds after the estimate was made."""
    text = f"run {clock(estimate.elapsed + since)}"
    if estimate.remaining is not None:
        left = max(0.0, estimate.remaining - since)
        text += f", ~{clock(left)} left" + (" (time budget)" if estimate.bounded else "")
    return text


class RichProgress(LoopCallback):
    """A live line per running phase (TRAIN: a bar with steps, loss and ETA; other phases: a spinner), one line per
    finished phase and round, each naming the round of how many and the whole run's time so far and to go.

    ``now`` is the clock the live lines advance the run's time by between store reads (a test passes its own).
    """

    def __init__(self, console: Console, store: Store, now: Callable[[], float] = time.monotonic) -> None:
        self.console, self.store, self.now = console, store, now
        loop = store.config().get("loop", {})
        self.max_rounds: int | None = loop.get("max_rounds")
        self.max_minutes: float | None = loop.get("max_minutes") or None
        self.progress: Progress | None = None
        self.task_id: TaskID | None = None
        self.estimate = RunEstimate(0.0, None)
        self._phase_started = 0.0

    def heading(self, round_: int) -> str:
        """``round k of N``, N the run's last round (``loop.max_rounds``; round 0 is the labelled one)."""
        return f"round {round_}" if self.max_rounds is None else f"round {round_} of {self.max_rounds}"

    def run_estimate(self) -> RunEstimate:
        """The whole run's elapsed and estimated remaining time, from the store as it is now."""
        return run_estimate(
            self.store.round_summaries(), self.max_rounds, self.store.elapsed_seconds(), self.max_minutes
        )

    def on_phase_start(self, round_: int, phase: str) -> None:
        self.estimate, self._phase_started = self.run_estimate(), self.now()
        if not self.console.is_terminal:  # a log file gets the lines below, not a live display's leftovers
            return
        if phase == "TRAIN":
            columns = [
                TextColumn("[bold]{task.fields[heading]}[/] TRAIN"),
                BarColumn(bar_width=None),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[run]}"),
            ]
        else:
            columns = [
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[heading]}[/] {task.fields[phase]} ..."),
                TimeElapsedColumn(),
                TextColumn("{task.fields[run]}"),
            ]
        self.progress = Progress(*columns, console=self.console, transient=True)
        self.progress.start()
        self.task_id = self.progress.add_task(
            phase, total=None, heading=self.heading(round_), phase=phase, loss="-", run=_describe(self.estimate)
        )
        self.progress.refresh()  # shown at once, not at the next tick

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None:
        if self.progress is not None and self.task_id is not None and (step % 10 == 0 or step == total):
            run = _describe(self.estimate, self.now() - self._phase_started)
            self.progress.update(self.task_id, completed=step, total=total, loss=f"{loss:.4f}", run=run)

    def on_phase_end(self, round_: int, phase: str, seconds: float) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress, self.task_id = None, None
        self.console.print(f"{self.heading(round_)} {phase:<8} done in {seconds:6.1f}s")

    def on_round_end(self, round_: int, decision: str) -> None:
        s = self.store.round_summary(round_)
        evaluations = self.store.evaluations(round_)
        frontiers = self.store.frontiers(round_)
        parts = []
        for task in sorted({e["task"] for e in evaluations}):  # each skill at its frontier and beyond; the rest: status
            top = s["difficulty"] if len(frontiers) == 1 else frontiers.get(task, 0)
            near = [e for e in evaluations if e["task"] == task and e["difficulty"] >= top - 1]
            shown = "  ".join(f"{e['difficulty']}:{e['accuracy']:.0%}" for e in near)
            parts.append(shown if len(frontiers) == 1 else f"{task} {shown}")
        shown = "  |  ".join(parts)
        accepted = f"accepted {s['accepted']}/{s['proposed']}" if round_ else f"labelled {s['proposed']}"
        self.console.print(
            f"[bold]{self.heading(round_)}[/] difficulty {s['difficulty']}  {accepted}  accuracy {shown}"
        )
        if decision != CONTINUE:
            self.console.print(f"[bold]stopped:[/] {decision}")
        else:
            self.console.print(_describe(self.run_estimate()))
