"""The command line. The only module that talks to the terminal.

Commands: run, resume, status, report, tasks, teachers, presets, and schedules (list the built-in learning-rate
schedules and, with --plot, draw them all over a round of --steps steps into a PNG).
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.table import Table

from selftaught.cli import extra as cli_extra
from selftaught.cli.progress import RichProgress, clock
from selftaught.config import load_experiment, preset_description, preset_names
from selftaught.errors import SelftaughtError
from selftaught.experiments.tracking import build_trackers
from selftaught.report import write_report
from selftaught.report.schedule_plot import plot_schedules
from selftaught.report.status import accuracy_ranges, learning_lines, reached_together, report_data, run_status
from selftaught.run.loop import DB_NAME, Loop, check_run_dir, pause_if_asked
from selftaught.store import Store
from selftaught.store.lock import no_writer
from selftaught.tasks import BUILTIN_TASKS
from selftaught.teachers import BUILTIN_TEACHERS
from selftaught.training.schedules import SCHEDULES, Refined, Schedule

app = typer.Typer(
    help="selftaught: a model that teaches itself harder problems, round after round.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, so no ``except Exception`` on the way swallows it; every
    transaction it passes through rolls back."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Session:
    """What the running command holds, for ``main`` to release at its end, however it ends: stores to checkpoint
    and close, the run lock; the loop, to say where an interrupt caught it."""

    def __init__(self) -> None:
        self.closers: list[Callable[[], object]] = []
        self.loop: Loop | None = None
        self.writing_report = False
        self.deferred: list[int] = []  # signals that arrived while closing
        self.closing = False

    def close(self) -> None:
        self.closing = True
        while self.closers:
            self.closers.pop()()


_session = _Session()


def _on_signal(signum: int, frame: object) -> None:
    if _session.closing:  # the store is being checkpointed and the lock released: let that finish
        _session.deferred.append(signum)
        return
    _session.closing = True  # a second Ctrl-C must not cut the clean-up short either
    raise Interrupted(signum)


def _interrupted_line() -> str:
    loop = _session.loop
    if loop is None:
        return "interrupted"
    if _session.writing_report:
        where = "while writing the report"
    elif loop.at is not None:
        where = f"in round {loop.at[0]} {loop.at[1]}"
    else:
        where = "before the first phase"
    return f"interrupted {where}; resume with: selftaught resume {loop.run_dir}"


def _hold(loop: Loop) -> Loop:
    """Close ``loop`` (checkpoint, release the lock) when the command ends."""
    _session.closers.append(loop.close)
    _session.loop = loop
    return loop


def _write_report(loop: Loop) -> Path:
    _session.writing_report = True
    pause_if_asked("REPORT")
    try:
        path = write_report(report_data(loop.store), loop.run_dir / "report")
    except OSError as e:
        raise SelftaughtError(f"cannot write the report in {loop.run_dir / 'report'}: {e.strerror or e}") from None
    _session.writing_report = False
    return path


def _run_loop(loop: Loop, trackers: list | None = None) -> None:
    loop.callbacks.append(RichProgress(out, loop.store))
    loop.callbacks.extend(build_trackers(loop.exp) if trackers is None else trackers)
    reason = loop.run()
    report = _write_report(loop)
    out.print(f"run complete ({reason}); store {loop.run_dir / DB_NAME}; report {report}")


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="experiment TOML; default: the quickstart preset")] = None,
    preset: Annotated[str | None, typer.Option(help="start from this preset (see 'selftaught presets')")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="run directory; default runs/<run id>")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key: --set train.lr=0.001")] = None,
) -> None:
    """Start a new run of an experiment."""
    exp, text = load_experiment(config, preset, set_ or [])
    trackers = build_trackers(exp)  # checked before the run directory exists
    loop = _hold(Loop.create(out_dir, exp, text, command="selftaught run"))
    out.print(f"run {loop.store.run_id} in {loop.run_dir}")
    _run_loop(loop, trackers)


@app.command()
def resume(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """Finish an interrupted run from its last completed phase."""
    loop = _hold(Loop.resume(run_dir, command="selftaught resume"))
    r = loop.current_round()
    if r is None:
        done = f"run {loop.store.run_id} is already complete ({loop.store.meta('stop_reason')})"
        if (loop.run_dir / "report" / "report.html").is_file():
            out.print(done)
        else:  # the run ended before its report was written
            out.print(f"{done}; its report was missing: wrote {_write_report(loop)}")
        return
    out.print(f"resuming run {loop.store.run_id} at round {r}")
    _run_loop(loop)


def _open(run_dir: Path) -> Store:
    """The run's store, to read; checkpointed at the command's end unless a writer is running (it will be)."""
    check_run_dir(run_dir)
    store = Store.open(run_dir / DB_NAME)

    def close() -> None:
        shared = no_writer(run_dir)
        try:
            store.close(checkpoint=shared is not None)
        finally:
            if shared is not None:
                shared.release()

    _session.closers.append(close)
    return store


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Show a run's rounds, phases, counts and accuracy."""
    st = run_status(_open(run_dir))
    if as_json:
        print(json.dumps(st, indent=2))
        return
    # Laid out to read at 80 columns: short headers that never wrap, accuracies as ranges of difficulties (one line
    # per skill in a mix) in the one column that may wrap, and only between groups.
    state = "complete" if st["complete"] else "not complete"
    took = f"{clock(st['elapsed_seconds'])} wall, {clock(st['elapsed_cpu_seconds'])} CPU"
    out.print(f"run {st['run_id']}: {state}; {took}", soft_wrap=True)
    if st["stop_reason"]:
        out.print(f"stop reason: {st['stop_reason']}", soft_wrap=True)

    def titled(title: str) -> Table:
        return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=f"\n{title}", title_justify="left")

    with_phases = any(not all(r["phases"].values()) for r in st["rounds"])  # a finished run has them all done
    table = titled("rounds")
    for header in ("round", "diff", *(["phases"] if with_phases else []), "accepted", "correct", "steps"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("held-out accuracy", min_width=20, overflow="fold")
    for r in st["rounds"]:
        accepted = f"{r['proposed']} labelled" if r["round"] == 0 else f"{r['accepted']}/{r['proposed']}"
        correct = "-" if r["label_accuracy"] is None or r["round"] == 0 else f"{r['label_accuracy']:.1%}"
        steps = str(r["train_steps"]) + (f"/{r['budget']}" if r["budget"] and r["budget"] != r["train_steps"] else "")
        phases = [f"{sum(r['phases'].values())}/{len(r['phases'])}"] if with_phases else []
        cells = [str(r["round"]), str(r["difficulty"]), *phases, accepted, correct, steps]
        table.add_row(*cells, "\n".join(accuracy_ranges(r["accuracy"])) or "-")
    out.print(table)
    if extra := learning_lines(st):
        out.print("\n" + "\n".join(extra), soft_wrap=True)
    if st["time_to_result"]:
        reached = titled("time to result (targets first reached)")
        for header in ("skill", "diff", "reached", "round", "step", "wall", "CPU"):
            reached.add_column(header, justify="left" if header in ("skill", "reached") else "right", no_wrap=True)
        for t in reached_together(st["time_to_result"]):
            reached.add_row(
                t["task"],
                str(t["difficulty"]),
                " ".join(f"{target:.0%}" for target in t["targets"]),
                str(t["round"]),
                str(t["steps"]),
                f"{t['seconds']:.1f}s",
                f"{t['cpu_seconds']:.1f}s",
            )
        out.print(reached)
    if len(st["skills"]) > 1:
        skills = titled("skills")
        for header in ("skill", "frontier", "mastered up to", "share"):
            skills.add_column(header, justify="left" if header == "skill" else "right", no_wrap=True)
        skills.add_column("held-out accuracy (newest)", min_width=20, overflow="fold")
        for name, p in st["skills"].items():
            accuracy = " ".join(accuracy_ranges(p["accuracy"])) or "-"
            mastered = "-" if p["mastered"] is None else str(p["mastered"])
            skills.add_row(name, str(p["frontier"]), mastered, f"{p['share']:.1%}", accuracy)
        out.print(skills)


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """Write report/report.html with plots."""
    path = write_report(report_data(_open(run_dir)), run_dir / "report")
    out.print(f"wrote {path}")


@app.command()
def tasks() -> None:
    """List the built-in tasks."""
    table = Table("task", "description")
    for name, cls in BUILTIN_TASKS.items():
        table.add_row(name, cls.description)
    out.print(table)


@app.command()
def teachers() -> None:
    """List the built-in teachers."""
    table = Table("teacher", "description")
    for name, cls in BUILTIN_TEACHERS.items():
        table.add_row(name, (cls.__doc__ or "").strip().splitlines()[0])
    out.print(table)


@app.command()
def presets() -> None:
    """List the built-in presets."""
    table = Table("preset", "description")
    for name in preset_names():
        table.add_row(name, preset_description(name))
    out.print(table)


# The refined schedule needs an earlier run's gradient norms; the plot uses norms falling like 1/sqrt(t + 10), as a
# loss settling down would give, over at most this many evenly spaced steps of the round.
DEMO_NORM_STEPS = 10_000


def _demo_norms(steps: int) -> np.ndarray:
    t = np.linspace(0.0, steps - 1, max(2, min(steps, DEMO_NORM_STEPS)))
    return 1.0 / np.sqrt(t + 10.0)


def _builtin_schedules(steps: int, warmup: float) -> dict[str, Schedule]:
    """Every built-in schedule with its defaults and ``warmup``, keyed by its legend label."""
    made: dict[str, Schedule] = {}
    for name, cls in SCHEDULES.items():
        try:
            if cls is Refined:
                made[f"{name} (demo norms)"] = Refined(_demo_norms(steps), form="adam", warmup=warmup)
            else:
                made[name] = cls(warmup=warmup)
        except ValueError as e:
            raise SelftaughtError(f"schedule {name!r}: {e}") from None
    return made


@app.command()
def schedules(
    plot: Annotated[Path | None, typer.Option(help="also draw every schedule into this PNG file")] = None,
    steps: Annotated[int, typer.Option(help="round length T for --plot, in steps")] = 1000,
    warmup: Annotated[float, typer.Option(help="warmup for --plot, a fraction of the round in [0, 1)")] = 0.0,
) -> None:
    """List the built-in learning-rate schedules; with --plot, draw them."""
    if steps < 1:
        raise SelftaughtError(f"--steps {steps}: a round needs at least one step")
    if not 0.0 <= warmup < 1.0:
        raise SelftaughtError(f"--warmup {warmup}: must be a fraction of the round in [0, 1)")
    drawn = _builtin_schedules(steps, warmup) if plot is not None else {}  # bad combinations fail before output
    table = Table("schedule", "description")
    for name, cls in SCHEDULES.items():
        table.add_row(name, next(iter((cls.__doc__ or "").strip().splitlines()), ""))
    out.print(table)
    if plot is not None:
        try:
            path = plot_schedules(drawn, steps, plot)
        except OSError as e:
            raise SelftaughtError(f"--plot {plot}: cannot write the file ({e.strerror or e})") from None
        out.print(f"wrote {path} (T = {steps} steps; refined from demonstration l1 norms falling like 1/sqrt(t + 10))")


cli_extra.register(app)  # sweep, compare, export


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code: 0, 2 for a user error (one line on stderr), 130 / 143 when SIGINT /
    SIGTERM stopped it (one line saying where and how to resume). Whatever the ending, the stores it opened are
    checkpointed (``run.db`` alone holds the run) and closed and the run lock is released."""
    global _session
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    _session = _Session()
    handlers = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread: signals stay as they were
        pass
    try:
        return _main(argv)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    try:
        try:
            app(args=argv, standalone_mode=False)
        finally:
            _session.close()
        if _session.deferred:
            raise Interrupted(_session.deferred[0])
    except Interrupted as e:
        err.print(_interrupted_line(), markup=False, highlight=False, soft_wrap=True)
        return 128 + e.signum
    except SelftaughtError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except typer.Abort:
        err.print("aborted")
        return 130
    except Exception as e:
        # Bad arguments (typer's usage errors carry format_message): one line, not a usage screen.
        if callable(getattr(e, "format_message", None)) and isinstance(getattr(e, "exit_code", None), int):
            err.print(f"error: {e.format_message()}", markup=False, highlight=False, soft_wrap=True)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())


def _entry() -> None:
    sys.exit(main())
