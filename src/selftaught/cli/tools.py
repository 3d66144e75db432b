"""What there is to choose from: ``tasks``, ``teachers``, ``presets``, and ``schedules`` (the built-in
learning-rate schedules; with ``--plot``, all of them drawn over a round of ``--steps`` steps into a PNG)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from selftaught.cli.shell import app, out
from selftaught.config import preset_description, preset_names
from selftaught.errors import SelftaughtError
from selftaught.report.schedule_plot import plot_schedules
from selftaught.tasks import BUILTIN_TASKS
from selftaught.teachers import BUILTIN_TEACHERS, EXTRA_TEACHERS
from selftaught.training.schedules import SCHEDULES, Refined, Schedule


def _listing(kind: str) -> Table:
    """A two-column table whose descriptions wrap, never cut short."""
    table = Table()
    table.add_column(kind, no_wrap=True)
    table.add_column("description", overflow="fold")
    return table


@app.command()
def tasks() -> None:
    """List the built-in tasks."""
    table = _listing("task")
    for name, cls in BUILTIN_TASKS.items():
        table.add_row(name, cls.description)
    out.print(table)


@app.command()
def teachers() -> None:
    """List the built-in teachers."""
    table = _listing("teacher")
    for name, cls in {**BUILTIN_TEACHERS, **EXTRA_TEACHERS}.items():
        table.add_row(name, (cls.__doc__ or "").strip().splitlines()[0])
    out.print(table)


@app.command()
def presets() -> None:
    """List the built-in presets."""
    table = _listing("preset")
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


def _plot(drawn: dict[str, Schedule], steps: int, plot: Path) -> Path:
    """Draw ``drawn`` into ``plot``; a failure is one line and leaves no file behind."""
    try:
        return plot_schedules(drawn, steps, plot)
    except OSError as e:
        # The figure is written to NAME.tmp and renamed into place: a failed write must not leave that behind.
        with contextlib.suppress(OSError):
            plot.with_name(plot.name + ".tmp").unlink(missing_ok=True)
        raise SelftaughtError(f"--plot {plot}: cannot write the file ({e.strerror or e})") from None


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
    if plot is not None and plot.is_dir():
        raise SelftaughtError(f"--plot {plot}: is a directory; give the PNG file's path")
    table = _listing("schedule")
    for name, cls in SCHEDULES.items():
        table.add_row(name, next(iter((cls.__doc__ or "").strip().splitlines()), ""))
    out.print(table)
    if plot is not None:
        path = _plot(drawn, steps, plot)
        out.print(f"wrote {path} (T = {steps} steps; refined from demonstration l1 norms falling like 1/sqrt(t + 10))")
