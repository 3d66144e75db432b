"""What every report plot shares: the plot record the page iterates, what a drawing returns, and the figure helpers.

Figures are built as ``matplotlib.figure.Figure`` objects with an Agg canvas rather than through ``pyplot``: pyplot
keeps global state (the current figure, the chosen backend) and would fight a user's interactive session when the
report is written from a notebook or alongside a live plot. Every plot draws a "no data yet" figure for empty input,
because the report is regenerated after each round and the first one is written before anything exists.

A plot is one ``Plot`` record beside its draw function, in the module of its concern; ``selftaught.report.page``
lists the records in the page's order, and that list is the only place that names them all.
"""

from __future__ import annotations

import math
import textwrap
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from selftaught.report.data import ReportData

__all__ = [
    "DPI",
    "Drawn",
    "Plot",
    "annotate_percentages",
    "colours",
    "finite_number",
    "mark_rounds",
    "never",
    "new_figure",
    "no_data",
    "round_boundaries",
    "round_lengths",
    "round_starts",
    "save",
    "set_suptitle",
    "set_title",
    "tick_positions",
    "usable",
    "wrapped",
]

DPI = 100
# Above this many cells per side the percentages overlap and become noise, so only colour is shown.
MAX_ANNOTATED_COLUMNS = 30
MAX_ANNOTATED_ROWS = 40
# Tick labels are thinned beyond this many so categorical axes stay legible on long runs.
MAX_TICK_LABELS = 25
# A title's characters per inch of figure width at the default 12 pt font (10 pt fits more; wrapping errs short).
CHARS_PER_INCH = 11.0


@dataclass
class Drawn:
    """What a plot function put on its figure: the PNG's path, the title, the data series drawn (empty for the "no
    data yet" placeholder), any notes written on the figure (a poor fit, curves left out and why) and the figure.

    Series are the numbers as drawn, keyed by what they are, so a caller or a test can check the picture's content
    without reading pixels; the figure is kept so a test can check where its texts landed.
    """

    path: Path
    title: str
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    figure: Figure | None = field(default=None, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        """True for the "no data yet" placeholder."""
        return not self.series


def never(data: ReportData) -> str | None:
    """A plot that is always drawn (a placeholder while its records are empty)."""
    return None


@dataclass(frozen=True)
class Plot:
    """One plot of the report, everything about it in one place.

    ``key`` names it in ``PLOTS`` and in ``draw_plots``' answer; ``file`` is its PNG beside the page; ``draw(data,
    path)`` writes it and returns a ``Drawn``; ``left_out(data)`` returns None when it is drawn, or the short reason
    it has nothing to show on this run (the page says that in one line instead); ``heading``, ``alt`` and ``caption``
    (trusted HTML, a paragraph under the heading or "") are what the page shows with it.
    """

    key: str
    file: str
    draw: Callable[[ReportData, Path], Drawn]
    heading: str
    alt: str
    caption: str = ""
    left_out: Callable[[ReportData], str | None] = never


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a finite number; ``None`` for missing, NaN, infinite or non-numeric values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def usable(row: dict, *keys: str) -> bool:
    """True when ``row`` has a value for every one of ``keys``."""
    return all(row.get(key) is not None for key in keys)


def new_figure(width: float, height: float) -> Figure:
    """A figure attached to its own Agg canvas, independent of pyplot and of the user's chosen backend, laid out so
    titles, labels and legends stay inside it."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def wrapped(text: str, width_inches: float, fontsize: float = 12.0) -> str:
    """``text`` broken into lines that fit ``width_inches`` at ``fontsize`` points; existing line breaks stay."""
    chars = max(20, int(width_inches * CHARS_PER_INCH * 12.0 / fontsize))
    return "\n".join(textwrap.fill(line, chars) if line else line for line in text.split("\n"))


def set_title(ax: Axes, text: str, fontsize: float = 12.0, **kwargs: Any) -> None:
    """``ax``'s title, wrapped to the axes' width so that a long one breaks into lines rather than run off the
    figure."""
    width = ax.get_position().width * ax.figure.get_figwidth()
    ax.set_title(wrapped(text, width, fontsize), fontsize=fontsize, **kwargs)


def set_suptitle(fig: Figure, text: str, fontsize: float = 11.0) -> None:
    """``fig``'s title over all its panels, wrapped to the figure's width."""
    fig.suptitle(wrapped(text, 0.95 * fig.get_figwidth(), fontsize), fontsize=fontsize)


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG via a temporary file, so a reader never sees a half-written image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=DPI)
    tmp.replace(path)
    return path


def no_data(path: Path, title: str) -> Drawn:
    """A small placeholder figure that says there is nothing to draw yet."""
    fig = new_figure(6.0, 3.0)
    ax = fig.add_subplot()
    ax.set_axis_off()
    set_title(ax, title)
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=16, color="0.4", transform=ax.transAxes)
    return Drawn(save(fig, path), title, figure=fig)


def tick_positions(count: int) -> list[int]:
    """Indices of the categories to label, every k-th one so that at most ``MAX_TICK_LABELS`` appear."""
    step = max(1, math.ceil(count / MAX_TICK_LABELS))
    return list(range(0, count, step))


def annotate_percentages(ax: Axes, grid: np.ndarray) -> None:
    """Write each measured cell's value as a percentage, when the grid is small enough to read them."""
    n_rows, n_cols = grid.shape
    if n_cols > MAX_ANNOTATED_COLUMNS or n_rows > MAX_ANNOTATED_ROWS:
        return
    fontsize = 8 if n_cols <= 15 and n_rows <= 20 else 6
    for i, j in zip(*np.nonzero(np.isfinite(grid)), strict=True):
        value = float(grid[i, j])
        # viridis is dark below the middle, light above it.
        color = "white" if value < 0.6 else "black"
        ax.text(j, i, f"{value * 100:.0f}%", ha="center", va="center", fontsize=fontsize, color=color)


def colours(count: int) -> list:
    """Distinct colours for ``count`` series: tab10 while it suffices, tab20 beyond (repeating past 20)."""
    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"].colors
    return [palette[i % len(palette)] for i in range(count)]


# --- the run's global step axis: rounds laid end to end ------------------------------------------------------------


def round_lengths(round_steps: dict[int, int]) -> dict[int, int]:
    """``round_steps`` with integer keys and non-negative integer lengths; unusable entries are dropped."""
    lengths = {}
    for round_, steps in round_steps.items():
        number = finite_number(steps)
        if round_ is not None and number is not None:
            lengths[int(round_)] = max(0, int(number))
    return lengths


def round_starts(round_steps: dict[int, int]) -> Callable[[int], int]:
    """A function giving each round's first global step: the summed lengths of all earlier rounds in ``round_steps``.

    A round missing from ``round_steps`` (one that has not trained yet) starts where the known rounds before it end.
    """
    lengths = sorted(round_lengths(round_steps).items())
    rounds = [round_ for round_, _ in lengths]
    ends = [0, *accumulate(steps for _, steps in lengths)]

    def start(round_: int) -> int:
        return ends[bisect_left(rounds, round_)]

    return start


def round_boundaries(round_steps: dict[int, int], rounds: Iterable[int]) -> list[int]:
    """Global steps between two rounds: where each round after the first starts, over ``round_steps``' rounds and any
    other ``rounds`` seen in the data."""
    start = round_starts(round_steps)
    every = sorted(set(round_lengths(round_steps)) | {int(r) for r in rounds})
    return sorted({start(round_) for round_ in every[1:]})


def mark_rounds(ax: Axes, boundaries: list[int], low: float, high: float) -> None:
    """Vertical dotted lines at the round boundaries strictly inside the plotted range ``low``..``high``."""
    for boundary in boundaries:
        if low < boundary < high:
            ax.axvline(boundary, color="0.35", linestyle=":", linewidth=1.0, zorder=3)
