"""The report's plots of what the model can do: held-out accuracy by difficulty and round, and the problems each
round labelled or accepted."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib
import numpy as np

from selftaught.report.figure import (
    MAX_ANNOTATED_COLUMNS,
    Drawn,
    Plot,
    annotate_percentages,
    finite_number,
    new_figure,
    no_data,
    save,
    set_title,
    tick_positions,
)

__all__ = ["ACCEPTED", "HEATMAP", "accuracy_grid", "plot_accepted_vs_proposed", "plot_accuracy_heatmap"]


# --- accuracy heatmap -------------------------------------------------------------------------------------------


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
        return no_data(path, title)

    max_cols = max(len(rounds) for _, _, rounds, _ in panels)
    max_rows = max(len(difficulties) for _, difficulties, _, _ in panels)
    panel_width = min(max(2.5 + 0.45 * max_cols, 4.5), 14.0)
    width = min(panel_width * len(panels) + 1.2, 30.0)
    height = min(max(1.5 + 0.32 * max_rows, 3.5), 14.0)
    fig = new_figure(width, height)
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
        cols = tick_positions(len(rounds))
        rows = tick_positions(len(difficulties))
        ax.set_xticks(cols, [str(rounds[j]) for j in cols])
        ax.set_yticks(rows, [str(difficulties[i]) for i in rows])
        ax.set_xlabel("round")
        ax.set_ylabel("difficulty")
        if len(panels) > 1 or task is not None:
            set_title(ax, f"{title}\ntask: {'(unnamed)' if task is None else task}", fontsize=10)
        else:
            set_title(ax, title, fontsize=10)
        annotate_percentages(ax, grid)
    fig.colorbar(image, ax=list(axes), label="accuracy", fraction=0.05)
    drawn = [{"task": task, "difficulties": d, "rounds": r, "grid": grid} for task, d, r, grid in panels]
    return Drawn(save(fig, path), title, {"panels": drawn}, figure=fig)


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
        return no_data(path, title)

    count = len(rows)
    fig = new_figure(min(max(4.0 + 0.5 * count, 6.0), 24.0), 4.5)
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
    ticks = tick_positions(count)
    ax.set_xticks(positions[ticks], [labels[i] for i in ticks])
    ax.set_xlim(-0.6, count - 0.4)
    ax.set_ylim(0.0, 1.15)  # headroom for the counts above full bars
    ax.set_yticks(np.linspace(0.0, 1.0, 6), [f"{v:.0f}%" for v in np.linspace(0, 100, 6)])
    ax.set_xlabel("round (d = frontier difficulty)")
    ax.set_ylabel("share of the round's problems")
    set_title(ax, title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    series = {
        "labelled": labelled,
        "share": share,
        "accepted": accepted,
        "proposed": proposed,
        "label_accuracy": accuracy,
    }
    return Drawn(save(fig, path), title, series, figure=fig)


HEATMAP = Plot(
    key="heatmap",
    file="accuracy_heatmap.png",
    draw=lambda data, path: plot_accuracy_heatmap(data.evaluations, path),
    heading="Accuracy by difficulty and round",
    alt="held-out accuracy heatmap, difficulty by round",
)
ACCEPTED = Plot(
    key="accepted",
    file="accepted_vs_proposed.png",
    draw=lambda data, path: plot_accepted_vs_proposed(data.rounds, path),
    heading="Labelled and accepted problems",
    alt="round 0's labelled problems, then the share of each round's self-labelled problems accepted and the label "
    "accuracy",
)
