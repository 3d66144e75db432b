"""The report's plot of the stopping rule inside rounds: the measured held-out slice accuracy per round, where the
rule said stop, and the prediction it decided on."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from selftaught.report.data import ReportData
from selftaught.report.figure import (
    Drawn,
    Plot,
    finite_number,
    new_figure,
    no_data,
    save,
    set_suptitle,
    set_title,
    usable,
)

__all__ = ["CURVES", "MAX_CURVE_PANELS", "CurvePanel", "learning_curve_panels", "plot_learning_curves"]

# The learning-curve figure draws at most this many rounds (the newest), three panels to a row.
MAX_CURVE_PANELS = 12
CURVE_COLUMNS = 3

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
        if usable(row, "round", "step"):
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
        mean = finite_number(anchor.get("mean"))
        low, high = finite_number(anchor.get("low")), finite_number(anchor.get("high"))
        if panel.budget is not None and mean is not None:
            # Only what the rule recorded: its fitted value where it decided, and the interval it predicted for the
            # budget's end, joined by a straight line and a band that say where it expected the round to go.
            step, current = int(anchor["step"]), finite_number(anchor.get("current"))
            if current is not None and step < panel.budget:
                ax.plot([step, panel.budget], [current, mean], color=_PREDICTED, linestyle=":", linewidth=1.2)
                if low is not None and high is not None:
                    ax.fill_between(
                        [step, panel.budget], [current, low], [current, high], color=_PREDICTED, alpha=0.15, lw=0
                    )
            yerr = None if low is None or high is None else [[max(0.0, mean - low)], [max(0.0, high - mean)]]
            bar = ax.errorbar(
                [panel.budget], [mean], yerr=yerr, fmt="D", color="black", markersize=4.5, capsize=4, zorder=6
            )
            handles.append((f"{name}: as recorded, for the budget's end", bar))

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
    set_title(ax, f"{heading}\n{detail}", fontsize=9)
    return handles


def plot_learning_curves(stop_decisions: list[dict], path: Path) -> Drawn:
    """The stopping rule's view of each round: the measured held-out slice accuracy, where it said stop, and the
    prediction it stopped on, one panel per round (the newest ``MAX_CURVE_PANELS``).

    Only what the rule recorded is drawn, nothing refitted: the interval it predicted for the budget's end where it
    decided (exactly what it decided on), joined to its fitted value at that step by a dotted line and a band.
    """
    title = "Learning curves inside rounds and the stopping rule's prediction"
    panels, total = learning_curve_panels(stop_decisions)
    if not panels:
        return no_data(path, title)

    columns = min(CURVE_COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = new_figure(max(4.2 * columns, 7.0), 2.9 * rows + 1.4)
    axes = fig.subplots(rows, columns, squeeze=False, sharey=True).ravel()
    legend: dict[str, object] = {}
    for ax, panel in zip(axes, panels, strict=False):
        for label, handle in _draw_curve_panel(ax, panel):
            legend.setdefault(label, handle)
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    if total > len(panels):
        title = f"{title}\n(the newest {len(panels)} of {total} rounds)"
    set_suptitle(fig, title)
    fig.supylabel("held-out slice accuracy", fontsize=10)
    if legend:
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="outside lower center",
            ncols=min(columns, len(legend)),  # as wide as the panels, no wider
            fontsize=8,
        )
    return Drawn(save(fig, path), title, {"panels": panels, "total": total}, figure=fig)


def _nothing_measured(data: ReportData) -> str | None:
    if learning_curve_panels(data.stop_decisions)[0]:
        return None
    return "the stopping rule has measured nothing (it is off when stop.every = 0)"


CURVES = Plot(
    key="curves",
    file="learning_curves.png",
    draw=lambda data, path: plot_learning_curves(data.stop_decisions, path),
    heading="Learning curves inside rounds",
    alt="held-out slice accuracy per round, the stopping rule's stop and its prediction",
    left_out=_nothing_measured,
)
