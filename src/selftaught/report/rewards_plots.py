"""The report's plots of learning from rewards: GRPO's per-step series and the B-STaR control grid.

Each function takes plain records (as ``Store.train_series`` and ``Store.control`` give them) and a path, draws with
the conventions of ``figure.py`` (an Agg figure of its own, an atomic write, a "no data yet" placeholder for empty
input) and returns a ``Drawn`` holding the numbers it drew. A run that does not learn from rewards has nothing for
them, so each record says why it is left out rather than show a placeholder forever.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator, PercentFormatter

from selftaught.report.data import ReportData
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
    set_suptitle,
    set_title,
    usable,
)

__all__ = ["CONTROL", "REWARDS", "REWARD_SERIES", "control_summary", "plot_control", "plot_rewards", "reward_lines"]

# The per-step series a reward-learning method logs that the rewards plot knows how to draw; others are ignored.
REWARD_SERIES = ("reward_mean", "reward_std", "zero_var_share", "kl", "clip_frac")
# The control grid's heatmap writes each cell's score up to this many cells a side.
MAX_ANNOTATED_CELLS = 12
_REWARD = "#3182bd"
_ZERO_VAR = "#e6550d"
_CLIP = "#756bb1"
_KL = "#31a354"


# --- GRPO per-step series -----------------------------------------------------------------------------------------


def reward_lines(
    train_series: Iterable[dict], round_steps: dict[int, int]
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[int]]:
    """The known per-step series on the run's global step axis.

    Returns ``(lines, boundaries)``: per name of ``REWARD_SERIES`` with at least one finite value, ``(x, values)`` in
    step order (NaN where a step logged nothing usable), and the global steps where each round after the first
    starts. A round starts after the summed steps of the rounds before it (``round_steps``, the loss's steps); a round
    missing there counts as long as its own logged steps.
    """
    rows = [row for row in train_series if usable(row, "round", "step", "name") and row["name"] in REWARD_SERIES]
    lengths: dict[int, int] = {}
    for row in rows:
        round_ = int(row["round"])
        lengths[round_] = max(lengths.get(round_, 0), int(row["step"]) + 1)
    lengths.update(round_lengths(round_steps))
    start = round_starts(lengths)
    points: dict[str, list[tuple[int, float]]] = {}
    for row in sorted(rows, key=lambda row: (int(row["round"]), int(row["step"]))):
        value = finite_number(row.get("value"))
        x = start(int(row["round"])) + int(row["step"])
        points.setdefault(str(row["name"]), []).append((x, math.nan if value is None else value))
    lines = {}
    for name in REWARD_SERIES:
        found = np.array(points.get(name, []), dtype=float).reshape(-1, 2)
        if np.isfinite(found[:, 1]).any():
            lines[name] = (found[:, 0], found[:, 1])
    return lines, round_boundaries(lengths, {int(row["round"]) for row in rows})


def _by_round(x: np.ndarray, boundaries: list[int]) -> list[slice]:
    """Slices of ``x`` (ascending global steps) that lie in one round each, so a line is not drawn across rounds."""
    cuts = np.searchsorted(x, boundaries).tolist()
    edges = [0, *cuts, len(x)]
    return [slice(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]


def _line(ax, x: np.ndarray, y: np.ndarray, boundaries: list[int], label: str | None = None, **style) -> None:
    """``y`` over ``x`` as one line per round, labelled once."""
    for k, part in enumerate(_by_round(x, boundaries)):
        ax.plot(x[part], y[part], linewidth=1.2, label=None if k else label, **style)


def plot_rewards(train_series: list[dict], round_steps: dict[int, int], path: Path) -> Drawn:
    """GRPO's view of each training step over the global step axis, round boundaries dotted: the group's mean reward
    with a band of one standard deviation (top), the share of groups whose rewards were all equal (no gradient) and
    the share of clipped ratios (middle, 0-100 %), and the KL divergence to the reference (bottom)."""
    title = "Rewards during training (GRPO, per step)"
    lines, boundaries = reward_lines(train_series, round_steps)
    if not lines:
        return no_data(path, title)

    fig = new_figure(10.0, 7.0)
    ax_reward, ax_share, ax_kl = fig.subplots(3, 1, sharex=True, height_ratios=[2, 1.3, 1.3])
    every_x = np.concatenate([x for x, _ in lines.values()])
    low, high = float(every_x.min()), float(every_x.max())
    marker = "." if len(every_x) <= 2 * len(lines) else None

    if "reward_mean" in lines:
        x, mean = lines["reward_mean"]
        if "reward_std" in lines:
            std_x, std = lines["reward_std"]
            spread = dict(zip(std_x.tolist(), std.tolist(), strict=True))
            std_at = np.array([spread.get(step, math.nan) for step in x.tolist()])
            for k, part in enumerate(_by_round(x, boundaries)):
                ax_reward.fill_between(
                    x[part],
                    (mean - std_at)[part],
                    (mean + std_at)[part],
                    color=_REWARD,
                    alpha=0.2,
                    linewidth=0.0,
                    label=None if k else "± 1 std in group",
                )
        _line(ax_reward, x, mean, boundaries, color=_REWARD, marker=marker, label="mean reward")
        ax_reward.legend(fontsize=8, loc="best")
    ax_reward.set_ylabel("reward")
    shares = (("zero_var_share", "groups with equal rewards", _ZERO_VAR), ("clip_frac", "clipped ratios", _CLIP))
    for name, label, colour in shares:
        if name in lines:
            _line(ax_share, *lines[name], boundaries, color=colour, marker=marker, label=label)
    if "zero_var_share" in lines or "clip_frac" in lines:
        ax_share.legend(fontsize=8, loc="best")
    ax_share.set_ylim(-0.03, 1.03)
    ax_share.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax_share.set_ylabel("share")
    if "kl" in lines:
        _line(ax_kl, *lines["kl"], boundaries, color=_KL, marker=marker)
    ax_kl.set_ylabel("KL to reference")
    ax_kl.set_xlabel("global step")
    ax_kl.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))

    panels = (
        (ax_reward, ("reward_mean",), "no mean reward logged"),
        (ax_share, ("zero_var_share", "clip_frac"), "no zero-variance or clip share logged"),
        (ax_kl, ("kl",), "no KL logged"),
    )
    for ax, names, missing in panels:
        mark_rounds(ax, boundaries, low, high)
        ax.grid(True, alpha=0.3)
        if not any(name in lines for name in names):
            ax.text(0.5, 0.5, missing, ha="center", va="center", color="0.4", transform=ax.transAxes)
    if high > low:
        ax_reward.set_xlim(low, high)
    ax_reward.xaxis.set_major_locator(MaxNLocator(integer=True))
    set_title(ax_reward, f"{title} (dotted: round boundaries)")
    series = {
        "x": {name: x for name, (x, _) in lines.items()},
        "values": {name: values for name, (_, values) in lines.items()},
        "boundaries": boundaries,
    }
    return Drawn(save(fig, path), title, series, figure=fig)


# --- B-STaR control -----------------------------------------------------------------------------------------------


def _setting(row: dict) -> dict:
    keys = ("temperature", "threshold", "samples", "score", "kept", "unique_correct")
    return {key: row.get(key) for key in keys}


def control_summary(control: Iterable[dict]) -> tuple[list[int], dict[int, dict], dict[int, list[float]]]:
    """The control grid per round: ``(rounds, chosen, scores)``, the rounds with a grid in order, the chosen setting
    of each round that has one (temperature, threshold, samples, score, kept, unique_correct) and every grid
    setting's balance score, ascending."""
    chosen: dict[int, dict] = {}
    scores: dict[int, list[float]] = {}
    for row in control:
        if not usable(row, "round"):
            continue
        round_ = int(row["round"])
        score = finite_number(row.get("score"))
        scores.setdefault(round_, [])
        if score is not None:
            scores[round_].append(score)
        if row.get("chosen"):
            chosen[round_] = _setting(row)
    return sorted(scores), chosen, {round_: sorted(values) for round_, values in scores.items()}


def _control_grid(control: list[dict], round_: int) -> tuple[list[float], list[float], np.ndarray, tuple | None]:
    """Round ``round_``'s grid as (temperatures, thresholds, grid, chosen cell): ``grid[i, j]`` the best balance score
    over the sample counts tried at ``thresholds[i]`` and ``temperatures[j]`` (NaN where none was tried), and the
    chosen setting's ``(i, j)`` (None when none was chosen)."""
    rows = [row for row in control if row.get("round") == round_ and finite_number(row.get("score")) is not None]
    temperatures = sorted({float(row["temperature"]) for row in rows})
    thresholds = sorted({float(row["threshold"]) for row in rows})
    grid = np.full((len(thresholds), len(temperatures)), np.nan)
    cell = None
    for row in rows:
        i, j = thresholds.index(float(row["threshold"])), temperatures.index(float(row["temperature"]))
        grid[i, j] = np.fmax(grid[i, j], float(row["score"]))
        if row.get("chosen"):
            cell = (i, j)
    return temperatures, thresholds, grid, cell


def _label(setting: dict) -> str:
    return f"T={setting['temperature']:g} τ={setting['threshold']:g} n={setting['samples']}"


def plot_control(control: list[dict], path: Path) -> Drawn:
    """B-STaR's choice per round: the balance score of every setting of the round's grid (grey dots, their range as a
    bar) and of the chosen one (a line, each point labelled with its temperature T, threshold τ and samples n); beside
    it, when the last round's grid varies both, its best score per temperature and threshold with the chosen cell
    outlined."""
    title = "Exploration and exploitation balance (B-STaR control)"
    rounds, chosen, scores = control_summary(control)
    if not rounds:
        return no_data(path, title)

    last = rounds[-1]
    temperatures, thresholds, grid, cell = _control_grid(control, last)
    with_grid = len(temperatures) > 1 and len(thresholds) > 1
    fig = new_figure(12.0 if with_grid else 8.0, 4.8)
    if with_grid:
        ax, ax_grid = fig.subplots(1, 2, width_ratios=[1.5, 1])
    else:
        ax, ax_grid = fig.subplots(), None

    for round_ in rounds:
        values = scores[round_]
        if values:
            ax.vlines(round_, values[0], values[-1], color="0.75", linewidth=4, zorder=1)
            ax.scatter([round_] * len(values), values, color="0.45", s=10, zorder=2)
    picked = [round_ for round_ in rounds if finite_number(chosen.get(round_, {}).get("score")) is not None]
    if picked:
        y = [float(chosen[round_]["score"]) for round_ in picked]
        ax.plot(picked, y, color=_REWARD, marker="o", linewidth=1.4, zorder=3, label="chosen setting")
        if len(picked) <= 15:
            for round_, value in zip(picked, y, strict=True):
                ax.annotate(
                    _label(chosen[round_]),
                    (round_, value),
                    xytext=(0, 7),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    color=_REWARD,
                )
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("round")
    ax.set_ylabel("balance score (grey: every grid setting)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(rounds) == 1:
        ax.set_xlim(rounds[0] - 1, rounds[0] + 1)
    ax.margins(x=0.1, y=0.15)
    ax.grid(True, alpha=0.3)
    set_title(ax, "chosen setting and the grid's spread per round", fontsize=10)

    heatmap = None
    if ax_grid is not None:
        image = ax_grid.imshow(
            np.ma.masked_invalid(grid),
            cmap=matplotlib.colormaps["viridis"].with_extremes(bad=(0.0, 0.0, 0.0, 0.0)),
            origin="lower",
            aspect="auto",
            interpolation="nearest",
        )
        ax_grid.set_xticks(range(len(temperatures)), [f"{t:g}" for t in temperatures])
        ax_grid.set_yticks(range(len(thresholds)), [f"{t:g}" for t in thresholds])
        ax_grid.set_xlabel("temperature")
        ax_grid.set_ylabel("threshold")
        set_title(ax_grid, f"round {last}: best score over samples (red: chosen)", fontsize=10)
        if len(temperatures) <= MAX_ANNOTATED_CELLS and len(thresholds) <= MAX_ANNOTATED_CELLS:
            middle = float(np.nanmean(grid))
            for i, j in zip(*np.nonzero(np.isfinite(grid)), strict=True):
                colour = "white" if grid[i, j] < middle else "black"
                ax_grid.text(j, i, f"{grid[i, j]:.2f}", ha="center", va="center", fontsize=9, color=colour)
        if cell is not None:
            i, j = cell
            ax_grid.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
        fig.colorbar(image, ax=ax_grid, label="balance score", fraction=0.08)
        heatmap = {"round": last, "temperatures": temperatures, "thresholds": thresholds, "grid": grid, "chosen": cell}
    set_suptitle(fig, title)
    series = {"rounds": rounds, "chosen": chosen, "scores": scores, "heatmap": heatmap}
    return Drawn(save(fig, path), title, series, figure=fig)


def _no_series(data: ReportData) -> str | None:
    if reward_lines(data.train_series, {})[0]:
        return None
    return 'no reward series logged (GRPO logs them: train.method = "grpo")'


def _no_grid(data: ReportData) -> str | None:
    if control_summary(data.control)[0]:
        return None
    return 'no control grid recorded (B-STaR records one per round: [control] kind = "bstar")'


REWARDS = Plot(
    key="rewards",
    file="rewards.png",
    draw=lambda data, path: plot_rewards(data.train_series, data.round_steps, path),
    heading="Rewards during training",
    alt="GRPO's mean reward with its spread, zero-variance and clipped shares and KL over the global step",
    caption="<p>Per GRPO step: the mean reward of the sampled groups (band: one standard deviation), the share of "
    "groups whose rewards were all equal and so gave no gradient, the share of clipped ratios, and the KL "
    "divergence to the reference model.</p>",
    left_out=_no_series,
)
CONTROL = Plot(
    key="control",
    file="control.png",
    draw=lambda data, path: plot_control(data.control, path),
    heading="Exploration and exploitation control",
    alt="B-STaR's chosen setting's balance score per round, and every grid setting's",
    caption="<p>Per round, the balance score of the sampling setting B-STaR chose (labelled with its temperature T, "
    "threshold τ and samples n) against the spread of its grid's scores.</p>",
    left_out=_no_grid,
)
