"""The plots of a sweep's comparison (``selftaught compare``): one value per point over its seeds.

Drawn with the report's conventions (an Agg figure of its own, a layout that keeps titles and labels inside, an
atomic write) from the rows ``compare_sweep`` builds: per point a ``name`` and, per measure, the ``median``, ``min``,
``max`` and every seed's ``values``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.ticker import MaxNLocator

from selftaught.report.figure import Drawn, new_figure, save, set_title, wrapped

__all__ = ["plot_spread"]

_BAR = "#9ecae1"
_SEEDS = "#08519c"


def plot_spread(rows: list[dict[str, Any]], key: str, label: str, path: Path, integer: bool = False) -> Drawn:
    """Each point's seeds as dots, its median as a bar and its range as a line, for the measure ``key``.

    ``integer`` is for a whole-number measure (a difficulty reached): its axis has whole-number ticks and, when
    every value is the same, a range of one step around it and zero rather than matplotlib's ±4 % of nothing.
    ``series["values"]`` holds each point's values by name.
    """
    title = f"{label}: median (bar), range and seeds (dots)"
    width, height = max(5.0, 0.9 * len(rows) + 2), 4.2
    fig = new_figure(width, height)
    ax = fig.add_subplot()
    every = []
    for x, row in enumerate(rows):
        spread = row[key]
        if spread["median"] is None:
            continue
        ax.bar(x, spread["median"], width=0.6, color=_BAR)
        ax.vlines(x, spread["min"], spread["max"], color=_SEEDS, linewidth=2)
        ax.scatter([x] * len(spread["values"]), spread["values"], color=_SEEDS, s=14, zorder=3)
        every += spread["values"]
    ax.set_xticks(range(len(rows)), [row["name"] for row in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(wrapped(label, 0.7 * height, 10.0))
    set_title(ax, title, fontsize=9)
    if integer:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if every:
            # The bars start at 0, so the view holds 0 and every value, with a step to spare when they are all one.
            low, high = min(0, *every), max(0, *every)
            ax.set_ylim(low - (0.5 if low < 0 else 0), high + (1 if high == low else 0.5))
    if not rows:
        ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
    series = {"values": {row["name"]: list(row[key]["values"]) for row in rows}}
    return Drawn(save(fig, path), title, series, figure=fig)
