"""The report's plots, each one function that takes plain records and a path and writes a PNG.

Figures are built as ``matplotlib.figure.Figure`` objects with an Agg canvas rather than through ``pyplot``: pyplot
keeps global state (the current figure, the chosen backend) and would fight a user's interactive session when the
report is written from a notebook or alongside a live plot.  Every function draws a "no data yet" figure for empty
input, because the report is regenerated after each round and the first one is written before anything exists.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
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
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from selftaught.curves import CurveEnsemble

__all__ = [
    "MAX_CURVE_PANELS",
    "CurvePanel",
    "Drawn",
    "accuracy_grid",
    "global_steps",
    "learning_curve_panels",
    "plot_accepted_vs_proposed",
    "plot_accuracy_heatmap",
    "plot_learning_curves",
    "plot_lr_schedule",
    "plot_sampling_share",
    "plot_schedule_what_if",
    "plot_skill_success",
    "plot_teacher_scores",
    "plot_training_loss",
    "sampling_shares",
    "schedule_what_if",
    "skill_success_grid",
    "teacher_score_lines",
]

# Above this many cells per side the percentages overlap and become noise, so only colour is shown.
MAX_ANNOTATED_COLUMNS = 30
MAX_ANNOTATED_ROWS = 40
# Tick labels are thinned beyond this many so categorical axes stay legible on long runs.
MAX_TICK_LABELS = 25
# Round labels on the loss plot stop fitting above the segments after this many rounds.
MAX_ROUND_LABELS = 25
# The teacher-score plot draws at most this many keys; more lines than this are an unreadable tangle.
MAX_SCORE_LINES = 12
# The learning-curve figure draws at most this many rounds (the newest), three panels to a row.
MAX_CURVE_PANELS = 12
CURVE_COLUMNS = 3
# The prediction redrawn in a learning-curve panel: a smaller bootstrap than the stopping rule's, enough for a band.
CURVE_BOOTSTRAP = 50
DPI = 100


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a finite number; ``None`` for missing, NaN, infinite or non-numeric values."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _new_figure(width: float, height: float) -> Figure:
    """A figure attached to its own Agg canvas, independent of pyplot and of the user's chosen backend."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


@dataclass
class Drawn:
    """What a plot function put on its figure: the PNG's path, the title, the data series drawn (empty for the "no
    data yet" placeholder) and any notes written on the figure (a poor fit, curves left out and why).

    Series are the numbers as drawn, keyed by what they are, so a caller or a test can check the picture's content
    without reading pixels.
    """

    path: Path
    title: str
    series: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True for the "no data yet" placeholder."""
        return not self.series


def _save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as PNG via a temporary file, so a reader never sees a half-written image."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=DPI)
    tmp.replace(path)
    return path


def _no_data(path: Path, title: str) -> Drawn:
    """A small placeholder figure that says there is nothing to draw yet."""
    fig = _new_figure(6.0, 3.0)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title)
    ax.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=16, color="0.4", transform=ax.transAxes)
    return Drawn(_save(fig, path), title)


def _tick_positions(count: int) -> list[int]:
    """Indices of the categories to label, every k-th one so that at most ``MAX_TICK_LABELS`` appear."""
    step = max(1, math.ceil(count / MAX_TICK_LABELS))
    return list(range(0, count, step))


# --- accuracy heatmap -------------------------------------------------------------------------------------------


def _annotate_percentages(ax, grid: np.ndarray) -> None:
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


def accuracy_grid(evaluations: Iterable[dict]) -> tuple[list[int], list[int], np.ndarray]:
    """Arrange evaluation rows as a (difficulty x round) grid of accuracies.

    Returns ``(difficulties, rounds, grid)`` with both lists sorted ascending and ``grid[i, j]`` the accuracy at
    ``difficulties[i]`` in ``rounds[j]``, NaN where nothing was measured.  Several rows for one cell (several tasks,
    or a re-run evaluation) are combined weighted by ``n``, which is the accuracy over their pooled problems; rows
    without a usable accuracy are ignored.
    """
    cells: dict[tuple[int, int], list[float]] = {}
    for row in evaluations:
        accuracy = finite_number(row.get("accuracy"))
        if accuracy is None or row.get("round") is None or row.get("difficulty") is None:
            continue
        n = finite_number(row.get("n"))
        weight = n if n is not None and n > 0 else 0.0
        key = (int(row["difficulty"]), int(row["round"]))
        total = cells.setdefault(key, [0.0, 0.0, 0.0, 0.0])  # weighted sum, weight, plain sum, count
        total[0] += accuracy * weight
        total[1] += weight
        total[2] += accuracy
        total[3] += 1
    difficulties = sorted({d for d, _ in cells})
    rounds = sorted({r for _, r in cells})
    grid = np.full((len(difficulties), len(rounds)), np.nan)
    row_of = {d: i for i, d in enumerate(difficulties)}
    col_of = {r: j for j, r in enumerate(rounds)}
    for (difficulty, round_), (weighted, weight, plain, count) in cells.items():
        # Without sample sizes every row counts equally.
        grid[row_of[difficulty], col_of[round_]] = weighted / weight if weight > 0 else plain / count
    return difficulties, rounds, grid


def _by_task(evaluations: Iterable[dict]) -> list[tuple[str | None, list[dict]]]:
    """Group rows by ``task`` in first-seen order; rows without a task form one group of their own."""
    groups: dict[str | None, list[dict]] = {}
    for row in evaluations:
        task = row.get("task")
        groups.setdefault(None if task is None else str(task), []).append(row)
    return list(groups.items())


def plot_accuracy_heatmap(evaluations: list[dict], path: Path) -> Drawn:
    """Accuracy per difficulty (y) and round (x) on a fixed 0..1 colour scale; one panel per task.

    The colour scale is fixed so that the same colour means the same accuracy in every report of every run.
    """
    title = "Held-out accuracy by difficulty and round"
    panels = [(task, *accuracy_grid(rows)) for task, rows in _by_task(evaluations)]
    panels = [panel for panel in panels if panel[3].size]
    if not panels:
        return _no_data(path, title)

    max_cols = max(len(rounds) for _, _, rounds, _ in panels)
    max_rows = max(len(difficulties) for _, difficulties, _, _ in panels)
    panel_width = min(max(2.5 + 0.45 * max_cols, 4.5), 14.0)
    width = min(panel_width * len(panels) + 1.2, 30.0)
    height = min(max(1.5 + 0.32 * max_rows, 3.5), 14.0)
    fig = _new_figure(width, height)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))

    image = None
    for ax, (task, difficulties, rounds, grid) in zip(axes, panels, strict=True):
        image = ax.imshow(
            np.ma.masked_invalid(grid),
            cmap=cmap,
            vmin=0.0,
            vmax=1.0,
            origin="lower",
            aspect="auto",
            interpolation="nearest",
        )
        cols = _tick_positions(len(rounds))
        rows = _tick_positions(len(difficulties))
        ax.set_xticks(cols, [str(rounds[j]) for j in cols])
        ax.set_yticks(rows, [str(difficulties[i]) for i in rows])
        ax.set_xlabel("round")
        ax.set_ylabel("difficulty")
        if len(panels) > 1 or task is not None:
            ax.set_title(f"{title}\ntask: {'(unnamed)' if task is None else task}", fontsize=10)
        else:
            ax.set_title(title, fontsize=10)
        _annotate_percentages(ax, grid)
    fig.colorbar(image, ax=list(axes), label="accuracy", fraction=0.05)
    drawn = [{"task": task, "difficulties": d, "rounds": r, "grid": grid} for task, d, r, grid in panels]
    return Drawn(_save(fig, path), title, {"panels": drawn})


# --- training loss ----------------------------------------------------------------------------------------------


def global_steps(train_metrics: Iterable[dict]) -> tuple[list[dict], np.ndarray, list[tuple[int, int, int]]]:
    """Lay the rounds' steps end to end on one global step axis.

    Returns ``(rows, x, segments)``: the rows sorted by (round, step), each row's global step, and one
    ``(round, first_x, last_x)`` per round.  Each round starts one step after the previous round's last step, with
    its own first logged step as zero, so rounds counting from 0 and from 1 line up the same way.
    """
    rows = sorted(
        (row for row in train_metrics if row.get("round") is not None and row.get("step") is not None),
        key=lambda row: (int(row["round"]), int(row["step"])),
    )
    x = np.zeros(len(rows), dtype=int)
    segments: list[tuple[int, int, int]] = []
    offset = 0
    index = 0
    while index < len(rows):
        round_ = int(rows[index]["round"])
        first_step = int(rows[index]["step"])
        start = index
        while index < len(rows) and int(rows[index]["round"]) == round_:
            x[index] = offset + int(rows[index]["step"]) - first_step
            index += 1
        segments.append((round_, int(x[start]), int(x[index - 1])))
        offset = int(x[index - 1]) + 1
    return rows, x, segments


def plot_training_loss(train_metrics: list[dict], path: Path) -> Drawn:
    """Training loss over the global step axis, one colour per round, with the learning rate in a panel below."""
    title = "Training loss (rounds concatenated)"
    rows, x, segments = global_steps(train_metrics)
    losses = np.array([finite_number(row.get("loss")) for row in rows], dtype=float)
    rates = np.array([finite_number(row.get("lr")) for row in rows], dtype=float)
    if not rows or not np.isfinite(losses).any():
        return _no_data(path, title)

    fig = _new_figure(10.0, 6.0)
    ax_loss, ax_lr = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    colours = matplotlib.colormaps["tab10"].colors
    start = 0
    for k, (round_, first_x, last_x) in enumerate(segments):
        stop = start + int(np.count_nonzero((x >= first_x) & (x <= last_x)))
        colour = colours[k % len(colours)]
        seg_x, seg_loss, seg_lr = x[start:stop], losses[start:stop], rates[start:stop]
        marker = "." if stop - start <= 2 else None
        ax_loss.plot(seg_x, seg_loss, color=colour, linewidth=1.2, marker=marker, label=f"round {round_}")
        ax_lr.plot(seg_x, seg_lr, color=colour, linewidth=1.2, marker=marker)
        if k > 0:
            for ax in (ax_loss, ax_lr):
                ax.axvline(first_x - 0.5, color="0.6", linestyle="--", linewidth=0.8)
        if len(segments) <= MAX_ROUND_LABELS:
            # Data x, axes y: the label stays at the top whatever the loss range.
            ax_loss.text(
                (first_x + last_x) / 2,
                1.01,
                f"r{round_}",
                transform=blended_transform_factory(ax_loss.transData, ax_loss.transAxes),
                ha="center",
                va="bottom",
                fontsize=8,
                color=colour,
            )
        start = stop

    finite_losses = losses[np.isfinite(losses)]
    if finite_losses.size and (finite_losses > 0).all():
        ax_loss.set_yscale("log")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title(title, pad=16)
    ax_loss.grid(True, which="major", alpha=0.3)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("global step")
    ax_lr.grid(True, alpha=0.3)
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    if not np.isfinite(rates).any():
        ax_lr.text(
            0.5, 0.5, "no learning rate logged", ha="center", va="center", color="0.4", transform=ax_lr.transAxes
        )
    return Drawn(_save(fig, path), title, {"x": x, "loss": losses, "lr": rates, "rounds": segments})


# --- accepted vs proposed ---------------------------------------------------------------------------------------


def plot_accepted_vs_proposed(rounds: list[dict], path: Path) -> Drawn:
    """Per self-labelled round, the share of its problems that got an accepted answer (a bar, with "accepted of
    proposed" above it) and the share of accepted labels that were right (a line), both on one 0-100 % axis.

    Round 0 trains on labelled problems, often twenty times as many as a later round proposes: on one count axis the
    self-labelled bars would vanish beside it, so round 0 gets its count written in its slot instead of a bar.
    """
    title = "Round 0: labelled problems; later rounds: self-labelled problems accepted"
    rows = sorted((row for row in rounds if row.get("round") is not None), key=lambda row: int(row["round"]))
    if not rows:
        return _no_data(path, title)

    count = len(rows)
    fig = _new_figure(min(max(4.0 + 0.5 * count, 6.0), 24.0), 4.5)
    ax = fig.add_subplot()
    positions = np.arange(count)
    labelled: dict[int, float] = {}
    share: dict[int, float] = {}
    accepted: dict[int, float] = {}
    proposed: dict[int, float] = {}
    accuracy: dict[int, float] = {}
    bar_x, bar_y = [], []
    annotate = count <= MAX_ANNOTATED_COLUMNS
    for position, row in zip(positions, rows, strict=True):
        round_ = int(row["round"])
        asked = finite_number(row.get("proposed")) or 0.0
        kept = finite_number(row.get("accepted")) or 0.0
        if round_ == 0:
            labelled[0] = asked
            ax.axvspan(position - 0.4, position + 0.4, color="0.93", linewidth=0.0)
            ax.text(position, 0.5, f"labelled\n{asked:,.0f}", ha="center", va="center", fontsize=8, color="0.3")
            continue
        proposed[round_], accepted[round_] = asked, kept
        value = finite_number(row.get("label_accuracy"))
        if value is not None:
            accuracy[round_] = value
        if asked <= 0:
            if annotate:
                ax.text(position, 0.02, "none\nproposed", ha="center", va="bottom", fontsize=7, color="0.4")
            continue
        share[round_] = kept / asked
        bar_x.append(position)
        bar_y.append(share[round_])
        if annotate:
            ax.annotate(
                f"{kept:,.0f}/{asked:,.0f}",
                (position, share[round_]),
                textcoords="offset points",
                xytext=(0, 2),
                ha="center",
                va="bottom",
                fontsize=7,
            )
    handles = [ax.bar(bar_x, bar_y, 0.6, color="#3182bd", label="accepted (of proposed)")]
    round_position = {int(row["round"]): position for position, row in zip(positions, rows, strict=True)}
    if accuracy:
        (line,) = ax.plot(
            [round_position[r] for r in accuracy],
            list(accuracy.values()),
            color="#e6550d",
            marker="o",
            label="label accuracy (of accepted)",
        )
        handles.append(line)
    labels = []
    for row in rows:
        difficulty = row.get("difficulty")
        labels.append(f"{row['round']}" if difficulty is None else f"{row['round']}\nd{difficulty}")
    ticks = _tick_positions(count)
    ax.set_xticks(positions[ticks], [labels[i] for i in ticks])
    ax.set_xlim(-0.6, count - 0.4)
    ax.set_ylim(0.0, 1.15)  # headroom for the counts above full bars
    ax.set_yticks(np.linspace(0.0, 1.0, 6), [f"{v:.0f}%" for v in np.linspace(0, 100, 6)])
    ax.set_xlabel("round (d = frontier difficulty)")
    ax.set_ylabel("share of the round's problems")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    series = {
        "labelled": labelled,
        "share": share,
        "accepted": accepted,
        "proposed": proposed,
        "label_accuracy": accuracy,
    }
    return Drawn(_save(fig, path), title, series)


# --- curriculum: shared time axis ---------------------------------------------------------------------------------


def _round_lengths(round_steps: dict[int, int]) -> dict[int, int]:
    """``round_steps`` with integer keys and non-negative integer lengths; unusable entries are dropped."""
    lengths = {}
    for round_, steps in round_steps.items():
        number = finite_number(steps)
        if round_ is not None and number is not None:
            lengths[int(round_)] = max(0, int(number))
    return lengths


def _round_starts(round_steps: dict[int, int]) -> Callable[[int], int]:
    """A function giving each round's first global step: the summed lengths of all earlier rounds in ``round_steps``.

    A round missing from ``round_steps`` (one that has not trained yet) starts where the known rounds before it end.
    """
    lengths = sorted(_round_lengths(round_steps).items())
    rounds = [round_ for round_, _ in lengths]
    ends = [0, *accumulate(steps for _, steps in lengths)]

    def start(round_: int) -> int:
        return ends[bisect_left(rounds, round_)]

    return start


def _round_boundaries(round_steps: dict[int, int], rounds: Iterable[int]) -> list[int]:
    """Global steps between two rounds: where each round after the first starts, over ``round_steps``' rounds and any
    other ``rounds`` seen in the data."""
    start = _round_starts(round_steps)
    every = sorted(set(_round_lengths(round_steps)) | {int(r) for r in rounds})
    return sorted({start(round_) for round_ in every[1:]})


def _mark_rounds(ax: Axes, boundaries: list[int], low: float, high: float) -> None:
    """Vertical dotted lines at the round boundaries strictly inside the plotted range ``low``..``high``."""
    for boundary in boundaries:
        if low < boundary < high:
            ax.axvline(boundary, color="0.35", linestyle=":", linewidth=1.0, zorder=3)


def _colours(count: int) -> list:
    """Distinct colours for ``count`` series: tab10 while it suffices, tab20 beyond (repeating past 20)."""
    palette = matplotlib.colormaps["tab10" if count <= 10 else "tab20"].colors
    return [palette[i % len(palette)] for i in range(count)]


def _usable(row: dict, *keys: str) -> bool:
    return all(row.get(key) is not None for key in keys)


# --- curriculum: sampling share -----------------------------------------------------------------------------------


def sampling_shares(
    curriculum: Iterable[dict], round_steps: dict[int, int]
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Each training block's share of samples per skill, placed on the global step axis.

    A block is the rows of one (round, step): the counts that applied from that step on.  It lasts until the next
    block of the same round, or else to the end of its round (``round_steps``); when the round's length is unknown or
    does not reach past the block's step (a round still training) the block is given one step so it stays visible.

    Returns ``(starts, ends, skills, shares)``: the blocks' first and end global steps (ends exclusive), the skills
    sorted by name, and ``shares[k, b]`` the share of block ``b``'s samples that went to ``skills[k]`` (counts summed
    over difficulties).  Each column sums to 1; blocks without a positive count are left out.
    """
    blocks: dict[tuple[int, int], dict[str, float]] = {}
    for row in curriculum:
        if not _usable(row, "round", "step", "skill"):
            continue
        block = blocks.setdefault((int(row["round"]), int(row["step"])), {})
        count = finite_number(row.get("count"))
        if count is not None and count > 0:
            skill = str(row["skill"])
            block[skill] = block.get(skill, 0.0) + count
    start = _round_starts(round_steps)
    lengths = _round_lengths(round_steps)
    keys = sorted(blocks)
    kept: list[tuple[int, int, dict[str, float]]] = []
    for index, (round_, step) in enumerate(keys):
        following = keys[index + 1] if index + 1 < len(keys) else None
        if following is not None and following[0] == round_:
            end_step = following[1]
        else:
            end_step = max(lengths.get(round_, 0), step + 1)
        if sum(blocks[round_, step].values()) > 0:
            offset = start(round_)
            kept.append((offset + step, offset + end_step, blocks[round_, step]))
    skills = sorted({skill for _, _, counts in kept for skill in counts})
    shares = np.zeros((len(skills), len(kept)))
    for b, (_, _, counts) in enumerate(kept):
        total = sum(counts.values())
        for k, skill in enumerate(skills):
            shares[k, b] = counts.get(skill, 0.0) / total
    starts = np.array([first for first, _, _ in kept], dtype=int)
    ends = np.array([end for _, end, _ in kept], dtype=int)
    return starts, ends, skills, shares


def plot_sampling_share(curriculum: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """Stacked share of training samples per skill over the global step, constant within each block of training."""
    title = "Sampling share per skill"
    starts, ends, skills, shares = sampling_shares(curriculum, round_steps)
    if not skills:
        return _no_data(path, title)

    # Two points per block (its start and end) draw each block flat; a NaN point leaves a gap where blocks do not
    # meet, instead of a slope across steps that had no recorded curriculum.
    x: list[float] = []
    columns: list[np.ndarray] = []
    for b in range(len(starts)):
        if b > 0 and starts[b] != ends[b - 1]:
            x.append(float(ends[b - 1]))
            columns.append(np.full(len(skills), np.nan))
        x.extend([float(starts[b]), float(ends[b])])
        columns.extend([shares[:, b], shares[:, b]])
    y = np.column_stack(columns)

    fig = _new_figure(10.0, 4.5)
    ax = fig.add_subplot()
    polys = ax.stackplot(x, y, labels=skills, colors=_colours(len(skills)), linewidth=0.0)
    low, high = float(starts.min()), float(ends.max())
    rounds = {int(row["round"]) for row in curriculum if row.get("round") is not None}
    _mark_rounds(ax, _round_boundaries(round_steps, rounds), low, high)
    ax.set_xlim(low, high)
    ax.set_ylim(0.0, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("global step")
    ax.set_ylabel("share of training samples")
    ax.set_title(f"{title} (dotted: round boundaries)")
    # Reversed so the legend reads top to bottom in the same order as the stack.
    ax.legend(
        polys[::-1],
        skills[::-1],
        title="skill",
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        title_fontsize=8,
    )
    return Drawn(_save(fig, path), title, {"starts": starts, "ends": ends, "skills": skills, "shares": shares})


# --- curriculum: success per cell over time -----------------------------------------------------------------------


def skill_success_grid(
    skill_results: Iterable[dict], round_steps: dict[int, int]
) -> tuple[list[tuple[str, int]], list[int], np.ndarray]:
    """Arrange "evaluation" and "slice" results as a (cell x global step) grid of success rates.

    Returns ``(cells, steps, grid)``: the (skill, difficulty) cells sorted by skill then difficulty, the global steps
    at which anything was measured in ascending order, and ``grid[i, j]`` the success rate of ``cells[i]`` at
    ``steps[j]``, NaN where it was not measured.  Results that land on the same cell and global step (a round's final
    evaluation and the next round's first slice) are pooled: summed successes over summed trials.  Other kinds and
    rows without positive trials are ignored.
    """
    start = _round_starts(round_steps)
    totals: dict[tuple[tuple[str, int], int], list[float]] = {}
    for row in skill_results:
        if row.get("kind") not in ("evaluation", "slice"):
            continue
        if not _usable(row, "round", "step", "skill", "difficulty"):
            continue
        successes, trials = finite_number(row.get("successes")), finite_number(row.get("trials"))
        if successes is None or trials is None or trials <= 0:
            continue
        key = ((str(row["skill"]), int(row["difficulty"])), start(int(row["round"])) + int(row["step"]))
        total = totals.setdefault(key, [0.0, 0.0])
        total[0] += successes
        total[1] += trials
    cells = sorted({cell for cell, _ in totals})
    steps = sorted({step for _, step in totals})
    grid = np.full((len(cells), len(steps)), np.nan)
    row_of = {cell: i for i, cell in enumerate(cells)}
    col_of = {step: j for j, step in enumerate(steps)}
    for (cell, step), (successes, trials) in totals.items():
        grid[row_of[cell], col_of[step]] = successes / trials
    return cells, steps, grid


def plot_skill_success(skill_results: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """Success rate per cell (rows, grouped by skill) at each measured global step (columns), on a fixed 0..1 scale.

    Only held-out evaluations and the teacher's slices are shown: "attempts" measure the round's own problems.
    """
    title = "Success per skill and difficulty over time"
    cells, steps, grid = skill_success_grid(skill_results, round_steps)
    if not grid.size:
        return _no_data(path, title)

    n_rows, n_cols = grid.shape
    fig = _new_figure(min(max(3.5 + 0.4 * n_cols, 6.0), 16.0), min(max(1.8 + 0.3 * n_rows, 3.5), 14.0))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.88")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    cols = _tick_positions(n_cols)
    rows = _tick_positions(n_rows)
    ax.set_xticks(cols, [str(steps[j]) for j in cols], rotation=45 if len(cols) > 10 else 0)
    ax.set_yticks(rows, [f"{cells[i][0]}:{cells[i][1]}" for i in rows])
    ax.set_xlabel("global step")
    ax.set_ylabel("skill:difficulty")
    ax.set_title(f"{title}\n(grey: not measured; dotted: round boundaries)", fontsize=10)
    # Solid lines between skills; dotted lines after the last column of each round (a measurement exactly at a
    # boundary is the earlier round's final evaluation).
    for i in range(1, n_rows):
        if cells[i][0] != cells[i - 1][0]:
            ax.axhline(i - 0.5, color="white", linewidth=1.5)
    rounds = {int(row["round"]) for row in skill_results if row.get("round") is not None}
    for boundary in _round_boundaries(round_steps, rounds):
        j = bisect_right(steps, boundary) - 1
        if 0 <= j < n_cols - 1:
            ax.axvline(j + 0.5, color="0.3", linestyle=":", linewidth=1.0)
    _annotate_percentages(ax, grid)
    fig.colorbar(image, ax=ax, label="success rate", fraction=0.05)
    return Drawn(_save(fig, path), title, {"cells": cells, "steps": steps, "grid": grid})


# --- curriculum: teacher scores -----------------------------------------------------------------------------------


def _key_order(key: str) -> tuple[str, int, int]:
    """Sort "skill:difficulty" keys by skill then numeric difficulty, a bare skill name before its cells."""
    skill, sep, difficulty = key.rpartition(":")
    if sep and difficulty.lstrip("-").isdigit():
        return skill, 1, int(difficulty)
    return key, 0, 0


def teacher_score_lines(
    teacher_scores: Iterable[dict], round_steps: dict[int, int], max_lines: int = MAX_SCORE_LINES
) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], int]:
    """The teacher's scores as one ``(key, global_steps, values)`` line per key, each in time order.

    Returns ``(lines, total)``: ``total`` keys had a finite value; when that exceeds ``max_lines`` only the
    ``max_lines`` keys with the largest maximum value are kept.  Lines come in key order (skill, then difficulty).
    """
    start = _round_starts(round_steps)
    # (global step, round, step, value): a round's end and the next round's start share a global step, and the
    # (round, step) tie-break keeps them in the order they happened.
    points: dict[str, list[tuple[int, int, int, float]]] = {}
    for row in teacher_scores:
        value = finite_number(row.get("value"))
        if value is None or not _usable(row, "round", "step", "key"):
            continue
        round_, step = int(row["round"]), int(row["step"])
        points.setdefault(str(row["key"]), []).append((start(round_) + step, round_, step, value))
    keys = list(points)
    if len(keys) > max_lines:
        keys = sorted(keys, key=lambda k: (-max(p[3] for p in points[k]), _key_order(k)))[:max_lines]
    lines = []
    for key in sorted(keys, key=_key_order):
        ordered = sorted(points[key], key=lambda p: p[:3])
        lines.append((key, np.array([p[0] for p in ordered], dtype=int), np.array([p[3] for p in ordered])))
    return lines, len(points)


def plot_teacher_scores(teacher_scores: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """The teacher's internal scores (learning progress, UCB score or mixture weight), one line per key."""
    title = "Teacher scores"
    lines, total = teacher_score_lines(teacher_scores, round_steps)
    if not lines:
        return _no_data(path, title)

    fig = _new_figure(10.0, 4.5)
    ax = fig.add_subplot()
    for (key, x, y), colour in zip(lines, _colours(len(lines)), strict=True):
        ax.plot(x, y, color=colour, linewidth=1.2, marker="." if len(x) <= 30 else None, label=key)
    low = min(float(x.min()) for _, x, _ in lines)
    high = max(float(x.max()) for _, x, _ in lines)
    rounds = {int(row["round"]) for row in teacher_scores if row.get("round") is not None}
    _mark_rounds(ax, _round_boundaries(round_steps, rounds), low, high)
    if total > len(lines):
        title = f"{title}: the {len(lines)} of {total} keys with the largest maximum"
    ax.set_title(f"{title} (dotted: round boundaries)", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("global step")
    ax.set_ylabel("score")
    ax.grid(True, alpha=0.3)
    ax.legend(title="key", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title_fontsize=8)
    return Drawn(_save(fig, path), title, {"lines": lines, "total": total})


# --- step control: learning curves inside rounds ------------------------------------------------------------------

_MEASURED = "#3182bd"
_LET_RUN = "#e6550d"
_PREDICTED = "#31a354"


@dataclass(frozen=True)
class CurvePanel:
    """One round's measurements by the stopping rule, as one learning-curve panel draws them.

    ``steps`` and ``values`` are the measured held-out slice accuracies in step order (steps within the round).
    ``stop_step`` is the first step at which the rule said stop (None: it never did); in shadow mode the round went on
    training, and the measurements after it show what that bought.  ``anchor`` is the decision whose prediction the
    panel draws: the first stop when the rule predicted there, or, in a round that never stopped, the last decision
    with a prediction (the last one before the budget's end when there is one); None when there is none (the rule
    stopped on reaching its target, or never got past "too early").  ``reason`` is the first stop's reason, or else
    the last decision's.
    """

    round: int
    budget: int | None
    steps: np.ndarray
    values: np.ndarray
    stop_step: int | None
    anchor: dict | None
    reason: str | None


def learning_curve_panels(
    stop_decisions: Iterable[dict], max_panels: int = MAX_CURVE_PANELS
) -> tuple[list[CurvePanel], int]:
    """Group the stopping rule's decisions into one ``CurvePanel`` per round, oldest first.

    Returns ``(panels, total)``: ``total`` rounds had decisions; when that exceeds ``max_panels`` only the newest
    ``max_panels`` rounds get a panel.  Measurements without a finite value are left out of the curve, but a stop
    recorded there still counts.
    """
    by_round: dict[int, list[dict]] = {}
    for row in stop_decisions:
        if _usable(row, "round", "step"):
            by_round.setdefault(int(row["round"]), []).append(row)
    total = len(by_round)
    panels = []
    for round_ in sorted(by_round)[max(0, total - max(0, max_panels)) :]:
        rows = sorted(by_round[round_], key=lambda row: int(row["step"]))
        points = [(int(row["step"]), finite_number(row.get("value"))) for row in rows]
        points = [(step, value) for step, value in points if value is not None and step >= 0]
        budgets = [number for number in (finite_number(row.get("budget")) for row in rows) if number is not None]
        stops = [row for row in rows if row.get("stop")]
        budget = int(max(budgets)) if budgets else None
        if stops:
            candidate: dict | None = stops[0]
        else:
            # The rule also decides at the budget's end, where its prediction is only the fitted value; the last
            # prediction made with steps still to go says more about where it thought the round was heading.
            predicted = [row for row in rows if finite_number(row.get("mean")) is not None]
            ahead = [row for row in predicted if budget is None or int(row["step"]) < budget]
            candidate = (ahead or predicted or [None])[-1]
        if candidate is not None and finite_number(candidate.get("mean")) is None:
            candidate = None
        reason = (stops[0] if stops else rows[-1]).get("reason")
        panels.append(
            CurvePanel(
                round=round_,
                budget=budget,
                steps=np.array([step for step, _ in points], dtype=int),
                values=np.array([value for _, value in points], dtype=float),
                stop_step=int(stops[0]["step"]) if stops else None,
                anchor=candidate,
                reason=None if reason is None else str(reason),
            )
        )
    return panels, total


def _refit_prediction(
    panel: CurvePanel, at: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None:
    """The curve ensemble refitted on the panel's measurements up to step ``at``, predicted from ``at`` to the budget.

    Returns ``(x, mean, low, high, confidence)``, or None when there is nothing to extrapolate: fewer than two
    points, no budget beyond ``at``, or a fit that could not be made.
    """
    keep = panel.steps <= at
    if np.count_nonzero(keep) < 2 or panel.budget is None or panel.budget <= at:
        return None
    ensemble = CurveEnsemble(bootstrap=CURVE_BOOTSTRAP, seed=max(0, panel.round))
    x = np.linspace(at, panel.budget, 60)
    try:
        mean, low, high = ensemble.fit(panel.steps[keep], panel.values[keep]).predict_many(x)
    except (ValueError, ArithmeticError, RuntimeError, np.linalg.LinAlgError):
        return None
    return x, mean, low, high, ensemble.confidence


def _draw_curve_panel(ax: Axes, panel: CurvePanel) -> list[tuple[str, object]]:
    """Draw one round's curve, stop and prediction on ``ax``; return the (label, handle) pairs for the legend."""
    handles: list[tuple[str, object]] = []
    steps, values = panel.steps, panel.values
    before = np.ones(steps.size, dtype=bool) if panel.stop_step is None else steps <= panel.stop_step
    if before.any():
        (line,) = ax.plot(
            steps[before], values[before], color=_MEASURED, marker="o", markersize=3.5, linewidth=1.2, zorder=4
        )
        handles.append(("measured", line))
    if (~before).any():
        # A thin line from the last point before the stop keeps the curve continuous across it.
        ax.plot(
            np.r_[steps[before][-1:], steps[~before]],
            np.r_[values[before][-1:], values[~before]],
            color=_LET_RUN,
            linewidth=1.0,
            zorder=4,
        )
        (points,) = ax.plot(
            steps[~before], values[~before], color=_LET_RUN, marker="s", markersize=3.5, linestyle="none", zorder=5
        )
        handles.append(("after the stop (let run)", points))
    if panel.stop_step is not None:
        handles.append(("rule said stop", ax.axvline(panel.stop_step, color="0.3", linestyle="--", linewidth=1.0)))

    anchor = panel.anchor
    if anchor is not None:
        name = "prediction at the stop" if panel.stop_step is not None else "last prediction"
        prediction = _refit_prediction(panel, int(anchor["step"]))
        if prediction is not None:
            x, mean, low, high, confidence = prediction
            band = ax.fill_between(x, low, high, color=_PREDICTED, alpha=0.2, linewidth=0.0)
            (line,) = ax.plot(x, mean, color=_PREDICTED, linewidth=1.4)
            handles.append((f"{name}: mean and {confidence * 100:.0f}% band (refit)", (band, line)))
        mean = finite_number(anchor.get("mean"))
        low, high = finite_number(anchor.get("low")), finite_number(anchor.get("high"))
        if panel.budget is not None and mean is not None:
            yerr = None if low is None or high is None else [[max(0.0, mean - low)], [max(0.0, high - mean)]]
            bar = ax.errorbar(
                [panel.budget], [mean], yerr=yerr, fmt="D", color="black", markersize=4.5, capsize=4, zorder=6
            )
            handles.append((f"{name}: as recorded at the budget", bar))

    if not steps.size:
        ax.text(0.5, 0.5, "no measured value", ha="center", va="center", color="0.4", transform=ax.transAxes)
    right = max([1, *([panel.budget] if panel.budget is not None else []), *steps.tolist()])
    ax.set_xlim(-0.03 * right, 1.05 * right)
    ax.set_ylim(-0.03, 1.03)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("step in round", fontsize=8)
    heading = f"round {panel.round}" + ("" if panel.budget is None else f", budget {panel.budget}")
    if panel.stop_step is not None:
        detail = f"stop at {panel.stop_step}" + (f": {panel.reason}" if panel.reason else "")
    else:
        detail = "never stopped" + (f" (last: {panel.reason})" if panel.reason else "")
    ax.set_title(f"{heading}\n{detail}", fontsize=9)
    return handles


def plot_learning_curves(stop_decisions: list[dict], path: Path) -> Drawn:
    """The stopping rule's view of each round: the measured held-out slice accuracy, where it said stop, and the
    prediction it stopped on, one panel per round (the newest ``MAX_CURVE_PANELS``).

    The prediction is drawn twice: the curve ensemble refitted on the points the rule had seen (mean and band from
    that step to the budget), and the interval the rule recorded at the budget, which is exactly what it decided on.
    """
    title = "Learning curves inside rounds and the stopping rule's prediction"
    panels, total = learning_curve_panels(stop_decisions)
    if not panels:
        return _no_data(path, title)

    columns = min(CURVE_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = _new_figure(max(4.2 * columns, 7.0), 2.9 * rows + 1.4)
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    legend: dict[str, object] = {}
    for ax, panel in zip(axes, panels, strict=False):
        for label, handle in _draw_curve_panel(ax, panel):
            legend.setdefault(label, handle)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if total > len(panels):
        title = f"{title}\n(the newest {len(panels)} of {total} rounds)"
    fig.suptitle(title, fontsize=11)
    fig.supylabel("held-out slice accuracy", fontsize=10)
    if legend:
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="outside lower center",
            ncols=min(3, len(legend)),
            fontsize=8,
        )
    return Drawn(_save(fig, path), title, {"panels": panels, "total": total})


# --- step control: learning rate and gradient norm ----------------------------------------------------------------


def plot_lr_schedule(train_metrics: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """The learning rate each step used (top) and the gradient's l2 norm (bottom, log scale when positive) over the
    global step, round boundaries dotted.

    Rounds are laid end to end by ``round_steps``; a round missing there is given its logged steps' length.
    """
    title = "Learning rate and gradient norm per step"
    rows = [row for row in train_metrics if _usable(row, "round", "step")]
    lengths: dict[int, int] = {}
    for row in rows:
        round_ = int(row["round"])
        lengths[round_] = max(lengths.get(round_, 0), int(row["step"]) + 1)
    lengths.update(_round_lengths(round_steps))
    start = _round_starts(lengths)
    segments: dict[int, list[tuple[int, float, float]]] = {}
    for row in sorted(rows, key=lambda row: (int(row["round"]), int(row["step"]))):
        round_ = int(row["round"])
        lr, norm = finite_number(row.get("lr")), finite_number(row.get("grad_norm"))
        segments.setdefault(round_, []).append(
            (start(round_) + int(row["step"]), math.nan if lr is None else lr, math.nan if norm is None else norm)
        )
    arrays = {round_: np.array(points, dtype=float) for round_, points in segments.items()}
    every = np.concatenate(list(arrays.values())) if arrays else np.empty((0, 3))
    has_lr, has_norm = np.isfinite(every[:, 1]).any(), np.isfinite(every[:, 2]).any()
    if not has_lr and not has_norm:
        return _no_data(path, title)

    fig = _new_figure(10.0, 5.5)
    ax_lr, ax_norm = fig.subplots(2, 1, sharex=True)
    for points in arrays.values():
        marker = "." if len(points) <= 2 else None
        ax_lr.plot(points[:, 0], points[:, 1], color=_MEASURED, linewidth=1.2, marker=marker)
        ax_norm.plot(points[:, 0], points[:, 2], color="#756bb1", linewidth=0.9, marker=marker)
    low, high = float(every[:, 0].min()), float(every[:, 0].max())
    boundaries = _round_boundaries(lengths, arrays.keys())
    for ax in (ax_lr, ax_norm):
        _mark_rounds(ax, boundaries, low, high)
        ax.grid(True, alpha=0.3)
    if high > low:
        ax_lr.set_xlim(low, high)
    ax_lr.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_lr.set_title(f"{title} (dotted: round boundaries)")
    ax_lr.set_ylabel("learning rate")
    ax_lr.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax_norm.set_ylabel("gradient l2 norm")
    ax_norm.set_xlabel("global step")
    norms = every[:, 2][np.isfinite(every[:, 2])]
    if norms.size and (norms > 0).all():
        ax_norm.set_yscale("log")
    for ax, present, what in ((ax_lr, has_lr, "learning rate"), (ax_norm, has_norm, "gradient norm")):
        if not present:
            ax.text(0.5, 0.5, f"no {what} logged", ha="center", va="center", color="0.4", transform=ax.transAxes)
    series = {"x": every[:, 0], "lr": every[:, 1], "grad_norm": every[:, 2], "boundaries": boundaries}
    return Drawn(_save(fig, path), title, series)


def schedule_what_if(train_metrics: list[dict], round_: int = 0) -> dict[str, np.ndarray] | None:
    """The LR-annealing loss law fitted on round ``round_``'s training loss, and the loss curve it predicts for that
    round under each built-in schedule (same length, peak rate and warmup; ``refined`` from the round's own l1
    gradient norms when logged). The fit skips the warmup and the next 5 % of the round. Keys: ``"actual"`` (the
    measured losses), ``"fit"`` (the law under the schedule used), then one key per schedule. None when the round
    has too few usable steps or the fit fails."""
    from selftaught.curves import AnnealingLaw
    from selftaught.training.schedules import SCHEDULES, Refined

    rows = sorted((r for r in train_metrics if r.get("round") == round_), key=lambda r: r["step"])
    lrs = np.array([finite_number(r.get("lr")) or 0.0 for r in rows], dtype=float)
    losses = np.array([finite_number(r.get("loss")) or math.nan for r in rows], dtype=float)
    if len(rows) < 20 or not np.isfinite(losses).all() or lrs.max() <= 0:
        return None
    total, peak = len(rows), float(lrs.max())
    rising = int(np.argmax(lrs >= peak * (1 - 1e-9)))  # the step at which the rate first reaches its peak
    warmup = min((rising + 1) / total, 0.5) if rising else 0.0  # a linear warmup's ramp ends at that step
    try:
        law = AnnealingLaw().fit(lrs, losses, start=round((warmup + 0.05) * total))
    except (ValueError, RuntimeError, ArithmeticError):
        return None
    out = {"actual": losses, "fit": law.predict(lrs)}
    l1s = [finite_number(r.get("grad_l1")) for r in rows]
    for name, cls in SCHEDULES.items():
        try:
            if name == "refined":
                if any(v is None or v <= 0 for v in l1s):
                    continue
                schedule = Refined(l1s, warmup=warmup)
            else:
                schedule = cls(warmup=warmup)
        except ValueError:
            continue
        out[name] = law.predict(np.array([peak * schedule.factor(t, total) for t in range(total)]))
    return out


def _outside(curve: np.ndarray, low: float, high: float) -> bool:
    """True when ``curve`` leaves ``low``..``high`` anywhere, or is not finite."""
    return not np.isfinite(curve).all() or float(curve.min()) < low or float(curve.max()) > high


def plot_schedule_what_if(train_metrics: list[dict], path: Path, round_: int = 0) -> Drawn:
    """Round ``round_``'s measured loss (smoothed), the LR-annealing law fitted to it, and the loss the law predicts
    under each built-in schedule, with each prediction's final loss in the legend.

    A training loss (cross-entropy) is never below 0, and a schedule of the same peak rate has no reason to end above
    the round's first measured loss: a prediction that leaves that range past the round's first tenth is the law
    extrapolated beyond what its fit supports, so it is not drawn, and the figure names it. ``series["drawn"]`` holds
    the curves drawn, ``series["left_out"]`` each left-out schedule's predicted final loss.
    """
    title = f"Round {round_}'s loss under other schedules (LR-annealing law fitted on it)"
    curves = schedule_what_if(train_metrics, round_)
    if curves is None:
        return _no_data(path, title)
    fig = _new_figure(10.0, 5.0)
    ax = fig.subplots()
    actual = curves.pop("actual")
    steps = np.arange(len(actual))
    window = max(1, len(actual) // 50)
    smooth = np.convolve(actual, np.ones(window) / window, mode="valid")
    ax.plot(steps[window - 1 :], smooth, color="0.6", linewidth=1.0, label="measured (moving average)")
    fit = curves.pop("fit")
    ax.plot(steps, fit, color="black", linestyle="--", linewidth=1.2, label=f"law, schedule used: {fit[-1]:.3f}")
    tail = slice(len(actual) // 10, None)  # past the warmup and the first fall, which the fit leaves out
    residual = float(np.sum((actual[tail] - fit[tail]) ** 2))
    r2 = 1.0 - residual / max(float(np.sum((actual[tail] - actual[tail].mean()) ** 2)), 1e-12)
    notes = []
    if r2 < 0.9:  # the law's power-law shape does not describe this curve: say so rather than mislead
        notes.append(f"poor fit (R² = {r2:.2f} after the first tenth): the predictions are not reliable")
    high = float(np.nanmax(actual))
    drawn = {name: curve for name, curve in curves.items() if not _outside(curve[tail], 0.0, high)}
    left_out = {name: float(curve[-1]) for name, curve in curves.items() if name not in drawn}
    if left_out:
        each = ", ".join(f"{name} (ends at {value:.2f})" for name, value in left_out.items())
        notes.append(f"not drawn, as the law's prediction leaves 0 to {high:.2f} (the round's first loss): {each}")
    colour = dict(zip(curves, _colours(len(curves)), strict=True))  # a schedule keeps its colour when others go
    for name, predicted in drawn.items():
        ax.plot(steps, predicted, color=colour[name], linewidth=1.1, label=f"{name}: {predicted[-1]:.3f}")
    # The view: the measured curve past its first tenth, and where every drawn prediction ends up.
    shown = np.concatenate([actual[tail], [c[-1] for c in (fit, *drawn.values())]])
    shown = shown[np.isfinite(shown)]
    if shown.size:
        low, top = float(shown.min()), float(shown.max())
        pad = 0.1 * (top - low) or 0.1
        ax.set_ylim(low - pad, top + pad)
    ax.set_title("\n".join([title, *notes]), **({"fontsize": 10} if notes else {}))
    ax.set_xlabel("step in round")
    ax.set_ylabel("training loss (legend: predicted final)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    series = {"actual": actual, "fit": fit, "drawn": drawn, "left_out": left_out, "r2": r2}
    return Drawn(_save(fig, path), title, series, notes)
