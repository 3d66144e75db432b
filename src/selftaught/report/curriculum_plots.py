"""The report's plots of the curriculum: where the training samples went per skill, success per skill and difficulty
over time, and the values the teacher tracks (the ladder's frontier, learning progress, a UCB score or a weight)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.ticker import MaxNLocator

from selftaught.report.data import ReportData
from selftaught.report.figure import (
    Drawn,
    Plot,
    annotate_percentages,
    colours,
    finite_number,
    mark_rounds,
    new_figure,
    no_data,
    round_boundaries,
    round_lengths,
    round_starts,
    save,
    set_title,
    tick_positions,
    usable,
)

__all__ = [
    "SAMPLING",
    "SUCCESS",
    "TEACHER",
    "plot_sampling_share",
    "plot_skill_success",
    "plot_teacher_scores",
    "sampling_shares",
    "skill_success_grid",
    "teacher_score_lines",
]

# The teacher-score plot draws at most this many keys; more lines than this are an unreadable tangle.
MAX_SCORE_LINES = 12
# What each built-in teacher records as its scores (``Teacher.scores``), by its name in the config: the ladder keeps
# a frontier difficulty per skill, not a score. Another teacher's values are called scores.
TEACHER_VALUES = {
    "ladder": "frontier difficulty per skill",
    "progress": "learning progress per cell",
    "ucb": "UCB score per cell",
    "alp-gmm": "absolute learning progress per skill",
    "skill-it": "mixture weight per cell",
    "mastery": "share of the gap-weighted practice per cell",
    "syllabus-lp": "Syllabus's sampling probability per cell",
}


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
        if not usable(row, "round", "step", "skill"):
            continue
        block = blocks.setdefault((int(row["round"]), int(row["step"])), {})
        count = finite_number(row.get("count"))
        if count is not None and count > 0:
            skill = str(row["skill"])
            block[skill] = block.get(skill, 0.0) + count
    start = round_starts(round_steps)
    lengths = round_lengths(round_steps)
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
        return no_data(path, title)

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

    fig = new_figure(10.0, 4.5)
    ax = fig.add_subplot()
    polys = ax.stackplot(x, y, labels=skills, colors=colours(len(skills)), linewidth=0.0)
    low, high = float(starts.min()), float(ends.max())
    rounds = {int(row["round"]) for row in curriculum if row.get("round") is not None}
    mark_rounds(ax, round_boundaries(round_steps, rounds), low, high)
    ax.set_xlim(low, high)
    ax.set_ylim(0.0, 1.0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("global step")
    ax.set_ylabel("share of training samples")
    set_title(ax, f"{title} (dotted: round boundaries)")
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
    series = {"starts": starts, "ends": ends, "skills": skills, "shares": shares}
    return Drawn(save(fig, path), title, series, figure=fig)


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
    start = round_starts(round_steps)
    totals: dict[tuple[tuple[str, int], int], list[float]] = {}
    for row in skill_results:
        if row.get("kind") not in ("evaluation", "slice"):
            continue
        if not usable(row, "round", "step", "skill", "difficulty"):
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
        return no_data(path, title)

    n_rows, n_cols = grid.shape
    fig = new_figure(min(max(3.5 + 0.4 * n_cols, 6.0), 16.0), min(max(1.8 + 0.3 * n_rows, 3.5), 14.0))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.88")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    cols = tick_positions(n_cols)
    rows = tick_positions(n_rows)
    ax.set_xticks(cols, [str(steps[j]) for j in cols], rotation=45 if len(cols) > 10 else 0)
    ax.set_yticks(rows, [f"{cells[i][0]}:{cells[i][1]}" for i in rows])
    ax.set_xlabel("global step")
    ax.set_ylabel("skill:difficulty")
    set_title(ax, f"{title}\n(grey: not measured; dotted: round boundaries)", fontsize=10)
    # Solid lines between skills; dotted lines after the last column of each round (a measurement exactly at a
    # boundary is the earlier round's final evaluation).
    for i in range(1, n_rows):
        if cells[i][0] != cells[i - 1][0]:
            ax.axhline(i - 0.5, color="white", linewidth=1.5)
    rounds = {int(row["round"]) for row in skill_results if row.get("round") is not None}
    for boundary in round_boundaries(round_steps, rounds):
        j = bisect_right(steps, boundary) - 1
        if 0 <= j < n_cols - 1:
            ax.axvline(j + 0.5, color="0.3", linestyle=":", linewidth=1.0)
    annotate_percentages(ax, grid)
    fig.colorbar(image, ax=ax, label="success rate", fraction=0.05)
    return Drawn(save(fig, path), title, {"cells": cells, "steps": steps, "grid": grid}, figure=fig)


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
    start = round_starts(round_steps)
    # (global step, round, step, value): a round's end and the next round's start share a global step, and the
    # (round, step) tie-break keeps them in the order they happened.
    points: dict[str, list[tuple[int, int, int, float]]] = {}
    for row in teacher_scores:
        value = finite_number(row.get("value"))
        if value is None or not usable(row, "round", "step", "key"):
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


def plot_teacher_scores(
    teacher_scores: list[dict], round_steps: dict[int, int], path: Path, teacher: str | None = None
) -> Drawn:
    """The values the teacher recorded, one line per key, named for what they are when ``teacher`` (its name in the
    config) is a built-in one (``TEACHER_VALUES``): the ladder's frontier difficulty, learning progress, a UCB score
    or a mixture weight; ``series["what"]`` says which."""
    what = TEACHER_VALUES.get(str(teacher), "score per skill or cell")
    title = f"Teacher ({teacher}): {what}" if teacher else f"Teacher: {what}"
    lines, total = teacher_score_lines(teacher_scores, round_steps)
    if not lines:
        return no_data(path, title)

    fig = new_figure(10.0, 4.5)
    ax = fig.add_subplot()
    for (key, x, y), colour in zip(lines, colours(len(lines)), strict=True):
        ax.plot(x, y, color=colour, linewidth=1.2, marker="." if len(x) <= 30 else None, label=key)
    low = min(float(x.min()) for _, x, _ in lines)
    high = max(float(x.max()) for _, x, _ in lines)
    rounds = {int(row["round"]) for row in teacher_scores if row.get("round") is not None}
    mark_rounds(ax, round_boundaries(round_steps, rounds), low, high)
    if total > len(lines):
        title = f"{title}: the {len(lines)} of {total} keys with the largest maximum"
    set_title(ax, f"{title} (dotted: round boundaries)", fontsize=10)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("global step")
    ax.set_ylabel(what.rsplit(" per ", 1)[0])
    if teacher == "ladder":
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(title="key", loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, title_fontsize=8)
    return Drawn(save(fig, path), title, {"lines": lines, "total": total, "what": what}, figure=fig)


def _one_skill(data: ReportData) -> str | None:
    """Why the sampling share has nothing to show: one skill's share is one solid block."""
    skills = sampling_shares(data.curriculum, data.round_steps)[2]
    if len(skills) >= 2:
        return None
    who = f"every training sample went to {skills[0]}" if skills else "no training samples recorded yet"
    return f"one skill or none ({who})"


SAMPLING = Plot(
    key="sampling",
    file="sampling_share.png",
    draw=lambda data, path: plot_sampling_share(data.curriculum, data.round_steps, path),
    heading="Sampling share per skill",
    alt="share of training samples per skill over the global training step",
    left_out=_one_skill,
)
SUCCESS = Plot(
    key="success",
    file="skill_success.png",
    draw=lambda data, path: plot_skill_success(data.skill_results, data.round_steps, path),
    heading="Success per skill and difficulty",
    alt="success rate heatmap, skill and difficulty by global training step",
)
TEACHER = Plot(
    key="teacher",
    file="teacher_scores.png",
    draw=lambda data, path: plot_teacher_scores(data.teacher_scores, data.round_steps, path, data.teacher),
    heading="What the teacher tracks",
    alt="the values the teacher recorded per skill or cell over the global training step",
    caption="<p>The values the teacher keeps per skill or cell, as it recorded them: the ladder's frontier "
    "difficulty, learning progress (progress, alp-gmm), the UCB score (ucb), the mixture weight (skill-it) or "
    "the share of the gap-weighted practice (mastery).</p>",
)
