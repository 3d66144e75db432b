"""The report's plot of GRPO's kept weights: per round, the best held-out measurement (whose weights the round's
checkpoint holds) against the last one, so a round whose training ended in a dip shows it.

A GRPO round with ``train.grpo.eval_every`` records ``slice_accuracy`` in ``train_series`` at each step it measured
the held-out slice (the weights after that many steps: at the start, every ``eval_every`` steps and where training
ended) and one ``kept`` row at the step whose weights it restored (``run/updates/grpo.py``, ``KeepBest``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator, PercentFormatter

from selftaught.report.data import ReportData
from selftaught.report.figure import (
    Drawn,
    Plot,
    colours,
    finite_number,
    mark_rounds,
    new_figure,
    no_data,
    round_boundaries,
    round_lengths,
    round_starts,
    save,
    set_suptitle,
    set_title,
    tick_positions,
    usable,
)

__all__ = ["KEPT", "kept_rounds", "plot_kept"]

SLICE, KEPT_ROW = "slice_accuracy", "kept"
# The bars carry their percentages up to this many rounds; beyond, they would overlap.
MAX_ANNOTATED_ROUNDS = 8
# Each round's line is named in the legend up to this many rounds (the bars name them all on their axis).
MAX_LEGEND_ROUNDS = 10
_FINAL = "0.62"
_KEPT = "#3182bd"


def _point(step: Any, value: object) -> tuple[int, float]:
    number = finite_number(value)
    return int(step), math.nan if number is None else number


def kept_rounds(train_series: Iterable[dict]) -> dict[int, dict]:
    """Per round with ``slice_accuracy`` rows, in round order: ``steps`` and ``values`` (the measurements in step
    order; NaN where a measurement had no trials), ``final`` (the measurement at the largest step, as ``(step,
    value)``) and ``kept`` (the ``(step, value)`` of the round's ``kept`` row, the weights restored; None when the
    round kept none)."""
    measured: dict[int, dict[int, float]] = {}
    kept: dict[int, tuple[int, float]] = {}
    for row in train_series:
        if not usable(row, "round", "step", "name"):
            continue
        round_ = int(row["round"])
        if row["name"] == SLICE:
            step, value = _point(row["step"], row.get("value"))
            measured.setdefault(round_, {})[step] = value
        elif row["name"] == KEPT_ROW and finite_number(row.get("value")) is not None:
            kept[round_] = _point(row["step"], row["value"])
    out = {}
    for round_, points in sorted(measured.items()):
        steps = sorted(points)
        out[round_] = {
            "steps": steps,
            "values": [points[step] for step in steps],
            "final": (steps[-1], points[steps[-1]]),
            "kept": kept.get(round_),
        }
    return out


def _bar_label(ax, x: float, value: float, annotate: bool) -> None:
    """The bar's percentage above it (with ``annotate``), or "none" at its foot when it has no value."""
    if not math.isfinite(value):
        ax.annotate("none", (x, 0.0), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7, color="0.4")
    elif annotate:
        ax.annotate(f"{value:.0%}", (x, value), xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)


def plot_kept(train_series: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """GRPO's held-out slice per round: every measurement over the run's global step axis, one line per round with
    the kept weights' measurement starred and the last one circled (left); per round, the last measurement's and
    the kept one's accuracy side by side (right)."""
    title = "Best against final held-out accuracy (GRPO)"
    per_round = kept_rounds(train_series)
    if not per_round:
        return no_data(path, title)

    rounds = list(per_round)
    lengths = {round_: cells["final"][0] for round_, cells in per_round.items()}
    lengths.update(round_lengths(round_steps))
    start = round_starts(lengths)
    boundaries = round_boundaries(lengths, rounds)

    fig = new_figure(12.0, 4.8)
    ax_line, ax_bars = fig.subplots(1, 2, width_ratios=[1.6, 1])
    xs: dict[int, np.ndarray] = {}
    for round_, colour in zip(rounds, colours(len(rounds)), strict=True):
        cells = per_round[round_]
        x = start(round_) + np.array(cells["steps"], dtype=float)
        xs[round_] = x
        label = f"round {round_}" if len(rounds) <= MAX_LEGEND_ROUNDS else None
        ax_line.plot(x, cells["values"], color=colour, marker=".", linewidth=1.2, label=label)
        final_step, final_value = cells["final"]
        ax_line.scatter([start(round_) + final_step], [final_value], s=60, facecolors="none", edgecolors=colour)
        if cells["kept"] is not None:
            kept_step, kept_value = cells["kept"]
            ax_line.scatter([start(round_) + kept_step], [kept_value], s=160, marker="*", color=colour, zorder=4)
    every_x = np.concatenate(list(xs.values()))
    low, high = float(every_x.min()), float(every_x.max())
    mark_rounds(ax_line, boundaries, low, high)
    if high > low:
        ax_line.set_xlim(low - 0.02 * (high - low), high + 0.02 * (high - low))
    ax_line.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_line.set_xlabel("global step (weights after that many steps)")
    ax_line.set_ylabel("held-out slice accuracy")
    markers = [
        Line2D([], [], marker="*", color="0.3", linestyle="", markersize=11, label="the kept step"),
        Line2D([], [], marker="o", color="0.3", markerfacecolor="none", linestyle="", label="the last step"),
    ]
    set_title(ax_line, "each measurement of the round (dotted: round boundaries)", fontsize=10)

    positions = np.arange(len(rounds), dtype=float)
    final = [per_round[round_]["final"][1] for round_ in rounds]
    kept = [math.nan if per_round[r]["kept"] is None else per_round[r]["kept"][1] for r in rounds]
    bars = [
        ax_bars.bar(positions - 0.2, final, 0.4, color=_FINAL, label="final (last measurement)"),
        ax_bars.bar(positions + 0.2, kept, 0.4, color=_KEPT, label="kept (restored)"),
    ]
    annotate = len(rounds) <= MAX_ANNOTATED_ROUNDS
    for x, f, k in zip(positions.tolist(), final, kept, strict=True):
        _bar_label(ax_bars, x - 0.2, f, annotate)
        _bar_label(ax_bars, x + 0.2, k, annotate)
    ticks = tick_positions(len(rounds))
    ax_bars.set_xticks(ticks, [str(rounds[i]) for i in ticks])
    ax_bars.set_xlim(-0.6, len(rounds) - 0.4)
    ax_bars.set_xlabel("round")
    set_title(ax_bars, "per round: last measurement and kept weights", fontsize=10)
    for ax in (ax_line, ax_bars):
        ax.set_ylim(-0.03, 1.08)  # room above 100 % for the bars' percentages
        ax.set_yticks(np.linspace(0.0, 1.0, 6))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.grid(True, alpha=0.3)
    handles = [*ax_line.get_legend_handles_labels()[0], *markers, *bars]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(8, len(handles)), fontsize=8)
    set_suptitle(fig, title)
    series = {
        "rounds": rounds,
        "steps": {round_: cells["steps"] for round_, cells in per_round.items()},
        "x": xs,
        "values": {round_: cells["values"] for round_, cells in per_round.items()},
        "final": {round_: cells["final"] for round_, cells in per_round.items()},
        "kept": {round_: cells["kept"] for round_, cells in per_round.items()},
        "boundaries": boundaries,
    }
    return Drawn(save(fig, path), title, series, figure=fig)


def _no_slice(data: ReportData) -> str | None:
    if kept_rounds(data.train_series):
        return None
    return "no held-out slice measured inside a round (GRPO rounds measure it with train.grpo.eval_every > 0)"


KEPT = Plot(
    key="kept",
    file="kept.png",
    draw=lambda data, path: plot_kept(data.train_series, data.round_steps, path),
    heading="Best against final held-out accuracy per round",
    alt="GRPO's held-out slice accuracy at each measurement per round, and per round the kept and the last value",
    caption="<p>Per GRPO round, model 0's greedy accuracy on the held-out slice at the round's start, every "
    "<code>train.grpo.eval_every</code> steps and where training ended (left; star: the weights kept, circle: the "
    "last measurement), and per round the last measurement beside the kept one (right). The kept weights are the "
    "round's checkpoint, which the next round starts from and the evaluation measures; a kept bar above the final "
    "one is a round whose training ended in a dip.</p>",
    left_out=_no_slice,
)
