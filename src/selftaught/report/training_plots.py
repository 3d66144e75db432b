"""The report's plots of training steps: the loss over the run's global step, and the learning rate and gradient norm
each step used."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import blended_transform_factory

from selftaught.report.figure import (
    Drawn,
    Plot,
    finite_number,
    mark_rounds,
    new_figure,
    no_data,
    round_boundaries,
    round_lengths,
    round_starts,
    save,
    set_title,
    usable,
)

__all__ = ["LOSS", "LR", "global_steps", "plot_lr_schedule", "plot_training_loss"]

# Round labels on the loss plot stop fitting above the segments after this many rounds.
MAX_ROUND_LABELS = 25
_MEASURED = "#3182bd"


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
    """Training loss over the global step axis, one colour per round (the learning rate has its own plot, ``LR``)."""
    title = "Training loss (rounds concatenated)"
    rows, x, segments = global_steps(train_metrics)
    losses = np.array([finite_number(row.get("loss")) for row in rows], dtype=float)
    if not rows or not np.isfinite(losses).any():
        return no_data(path, title)

    fig = new_figure(10.0, 4.5)
    ax = fig.add_subplot()
    palette = matplotlib.colormaps["tab10"].colors
    start = 0
    for k, (round_, first_x, last_x) in enumerate(segments):
        stop = start + int(np.count_nonzero((x >= first_x) & (x <= last_x)))
        colour = palette[k % len(palette)]
        marker = "." if stop - start <= 2 else None
        ax.plot(x[start:stop], losses[start:stop], color=colour, linewidth=1.2, marker=marker, label=f"round {round_}")
        if k > 0:
            ax.axvline(first_x - 0.5, color="0.6", linestyle="--", linewidth=0.8)
        if len(segments) <= MAX_ROUND_LABELS:
            # Data x, axes y: the label stays at the top whatever the loss range.
            ax.text(
                (first_x + last_x) / 2,
                1.01,
                f"r{round_}",
                transform=blended_transform_factory(ax.transData, ax.transAxes),
                ha="center",
                va="bottom",
                fontsize=8,
                color=colour,
            )
        start = stop

    finite_losses = losses[np.isfinite(losses)]
    if finite_losses.size and (finite_losses > 0).all():
        ax.set_yscale("log")
    ax.set_ylabel("loss")
    ax.set_xlabel("global step")
    set_title(ax, title, pad=16)
    ax.grid(True, which="major", alpha=0.3)
    return Drawn(save(fig, path), title, {"x": x, "loss": losses, "rounds": segments}, figure=fig)


# --- learning rate and gradient norm ----------------------------------------------------------------


def plot_lr_schedule(train_metrics: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """The learning rate each step used (top) and the gradient's l2 norm (bottom, log scale when positive) over the
    global step, round boundaries dotted.

    Rounds are laid end to end by ``round_steps``; a round missing there is given its logged steps' length.
    """
    title = "Learning rate and gradient norm per step"
    rows = [row for row in train_metrics if usable(row, "round", "step")]
    lengths: dict[int, int] = {}
    for row in rows:
        round_ = int(row["round"])
        lengths[round_] = max(lengths.get(round_, 0), int(row["step"]) + 1)
    lengths.update(round_lengths(round_steps))
    start = round_starts(lengths)
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
        return no_data(path, title)

    fig = new_figure(10.0, 5.5)
    ax_lr, ax_norm = fig.subplots(2, 1, sharex=True)
    for points in arrays.values():
        marker = "." if len(points) <= 2 else None
        ax_lr.plot(points[:, 0], points[:, 1], color=_MEASURED, linewidth=1.2, marker=marker)
        ax_norm.plot(points[:, 0], points[:, 2], color="#756bb1", linewidth=0.9, marker=marker)
    low, high = float(every[:, 0].min()), float(every[:, 0].max())
    boundaries = round_boundaries(lengths, arrays.keys())
    for ax in (ax_lr, ax_norm):
        mark_rounds(ax, boundaries, low, high)
        ax.grid(True, alpha=0.3)
    if high > low:
        ax_lr.set_xlim(low, high)
    ax_lr.xaxis.set_major_locator(MaxNLocator(integer=True))
    set_title(ax_lr, f"{title} (dotted: round boundaries)")
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
    return Drawn(save(fig, path), title, series, figure=fig)


LOSS = Plot(
    key="loss",
    file="training_loss.png",
    draw=lambda data, path: plot_training_loss(data.train_metrics, path),
    heading="Training loss",
    alt="training loss over the global step, one colour per round",
)
LR = Plot(
    key="lr",
    file="lr_schedule.png",
    draw=lambda data, path: plot_lr_schedule(data.train_metrics, data.round_steps, path),
    heading="Learning rate and gradient norm",
    alt="learning rate and gradient l2 norm per step over the global training step",
)
