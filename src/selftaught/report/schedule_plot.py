"""A picture of learning-rate schedules: each one's factor of the base learning rate over the steps of a round.

Drawn like the report's plots (a ``Figure`` on its own Agg canvas, no pyplot), so it is safe from any thread and
needs no display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selftaught.report.plots import _new_figure, _save
from selftaught.training.schedules import Schedule

__all__ = ["MAX_POINTS", "plot_schedules"]

# Longer rounds are drawn from this many evenly spaced steps (always including the first and the last): a line
# cannot show more detail than that, and evaluating every step of a very long round would only cost time.
MAX_POINTS = 4000


def _steps(total: int) -> np.ndarray:
    if total <= MAX_POINTS:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, MAX_POINTS).round().astype(int))


def plot_schedules(schedules: dict[str, Schedule], total: int, path: Path) -> Path:
    """Draw each schedule's factor at steps ``0..total-1`` as one labelled line and write the PNG to ``path``."""
    if total < 1:
        raise ValueError(f"total={total}: a schedule needs at least one step")
    if not schedules:
        raise ValueError("schedules: nothing to plot")
    steps = _steps(total)
    fig = _new_figure(8.0, 4.5)
    ax = fig.add_subplot()
    marker = "o" if steps.size <= 2 else None  # a one- or two-step round would otherwise be (nearly) invisible
    for label, schedule in schedules.items():
        factors = [schedule.factor(int(t), total) for t in steps]
        ax.plot(steps, factors, linewidth=1.5, marker=marker, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("factor of the base learning rate")
    ax.set_title(f"Learning-rate schedules over a round of T = {total} steps")
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlim(0, max(1, total - 1))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
