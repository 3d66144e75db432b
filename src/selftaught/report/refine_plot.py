"""The report's plot of refinement: per round, the share of failing attempts each refine turn fixed."""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator, PercentFormatter

from selftaught.report.data import ReportData
from selftaught.report.figure import Drawn, Plot, colours, new_figure, no_data, save, set_suptitle, usable

__all__ = ["REFINE", "plot_refine", "refine_rates"]

# The refine plot draws at most this many rounds (the newest): more lines than this are a tangle.
MAX_REFINE_ROUNDS = 12


def refine_rates(refine_turns: Iterable[dict]) -> tuple[list[int], dict[int, dict[str, list]]]:
    """Refine turns per round, over all models: ``(rounds, per_round)`` with, per round, ``turns`` (ascending),
    ``tried`` and ``fixed`` per turn, ``rate`` (fixed / tried, NaN when a turn tried nothing) and ``cumulative`` (the
    attempts fixed by this turn over those the first turn tried)."""
    counts: dict[int, dict[int, list[int]]] = {}
    for row in refine_turns:
        if not usable(row, "round", "turn"):
            continue
        cell = counts.setdefault(int(row["round"]), {}).setdefault(int(row["turn"]), [0, 0])
        cell[0] += int(row.get("tried") or 0)
        cell[1] += int(row.get("fixed") or 0)
    per_round = {}
    for round_, turns in sorted(counts.items()):
        order = sorted(turns)
        tried = [turns[t][0] for t in order]
        fixed = [turns[t][1] for t in order]
        first = tried[0] if tried else 0
        per_round[round_] = {
            "turns": order,
            "tried": tried,
            "fixed": fixed,
            "rate": [f / t if t else math.nan for t, f in zip(tried, fixed, strict=True)],
            "cumulative": [total / first if first else math.nan for total in np.cumsum(fixed).tolist()],
        }
    return list(per_round), per_round


def plot_refine(refine_turns: list[dict], path: Path) -> Drawn:
    """Refinement per turn, one line per round (the newest ``MAX_REFINE_ROUNDS``): the share of the attempts still
    failing at a turn that it fixed (left), and the share of the attempts failing before refinement fixed by then
    (right)."""
    title = "Refine: attempts fixed per turn"
    rounds, per_round = refine_rates(refine_turns)
    if not rounds:
        return no_data(path, title)

    shown = rounds[-MAX_REFINE_ROUNDS:]
    fig = new_figure(11.0, 4.5)
    ax_rate, ax_total = fig.subplots(1, 2, sharex=True)
    for round_, colour in zip(shown, colours(len(shown)), strict=True):
        cells = per_round[round_]
        ax_rate.plot(cells["turns"], cells["rate"], color=colour, marker="o", linewidth=1.2, label=f"round {round_}")
        ax_total.plot(cells["turns"], cells["cumulative"], color=colour, marker="o", linewidth=1.2)
    for ax, ylabel in (
        (ax_rate, "fix rate (fixed / tried at the turn)"),
        (ax_total, "share fixed by the turn (cumulative)"),
    ):
        ax.set_ylim(-0.03, 1.03)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("turn")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
    ax_rate.legend(fontsize=8, ncols=2 if len(shown) > 6 else 1)
    notes = [] if len(shown) == len(rounds) else [f"the newest {len(shown)} of {len(rounds)} rounds"]
    set_suptitle(fig, "\n".join([title, *notes]))
    series: dict = {"rounds": shown}
    for key in ("turns", "tried", "fixed", "rate", "cumulative"):
        series[key] = {round_: per_round[round_][key] for round_ in shown}
    return Drawn(save(fig, path), title, series, notes, figure=fig)


def _no_turns(data: ReportData) -> str | None:
    if refine_rates(data.refine_turns)[0]:
        return None
    return 'no refine turns recorded (loop.attempts = "refine" records them)'


REFINE = Plot(
    key="refine",
    file="refine.png",
    draw=lambda data, path: plot_refine(data.refine_turns, path),
    heading="Refinement per turn",
    alt="fix rate per refine turn per round, and the cumulative share of failing attempts fixed",
    caption="<p>Per round, the share of attempts still failing at each refine turn that the turn fixed, and the "
    "share of the attempts failing before refinement that were fixed by that turn.</p>",
    left_out=_no_turns,
)
