"""Plots of learning-rate schedules: each one's factor of the base learning rate over the steps of a round
(``selftaught schedules --plot``), and the report's what-if: round 0's loss predicted under every schedule.

Drawn like the report's plots (a ``Figure`` on its own Agg canvas, no pyplot), so it is safe from any thread and
needs no display.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from selftaught.curves import AnnealingLaw
from selftaught.report.figure import Drawn, Plot, colours, finite_number, new_figure, no_data, save, set_title
from selftaught.training.schedules import SCHEDULES, Refined, Schedule

__all__ = [
    "MAX_POINTS",
    "WHAT_IF",
    "plot_schedule_what_if",
    "plot_schedules",
    "schedule_what_if",
    "within_loss_range",
]

# Longer rounds are drawn from this many evenly spaced steps (always including the first and the last): a line
# cannot show more detail than that, and evaluating every step of a very long round would only cost time.
MAX_POINTS = 4000
WIDTH = 10.0  # the what-if figure's width in inches


def _steps(total: int) -> np.ndarray:
    if total <= MAX_POINTS:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, MAX_POINTS).round().astype(int))


def plot_schedules(schedules: dict[str, Schedule], total: int, path: Path) -> Path:
    """Draw each schedule's factor at steps ``0..total-1`` as one labelled line and write the PNG to ``path``."""
    if total < 1:
        raise ValueError(f"total={total}: a schedule needs at least one step")
    if not schedules:
        raise ValueError("schedules: nothing to plot")
    steps = _steps(total)
    fig = new_figure(8.0, 4.5)
    ax = fig.add_subplot()
    marker = "o" if steps.size <= 2 else None  # a one- or two-step round would otherwise be (nearly) invisible
    for label, schedule in schedules.items():
        factors = [schedule.factor(int(t), total) for t in steps]
        ax.plot(steps, factors, linewidth=1.5, marker=marker, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("factor of the base learning rate")
    set_title(ax, f"Learning-rate schedules over a round of T = {total} steps")
    ax.set_ylim(-0.03, 1.05)
    ax.set_xlim(0, max(1, total - 1))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


# --- what if round 0 had used another schedule ------------------------------------------------------------------


def schedule_what_if(train_metrics: list[dict], round_: int = 0) -> dict[str, np.ndarray] | None:
    """The LR-annealing loss law fitted on round ``round_``'s training loss, and the loss curve it predicts for that
    round under each built-in schedule (same length, peak rate and warmup; ``refined`` from the round's own l1
    gradient norms when logged). The fit skips the warmup and the next 5 % of the round. Keys: ``"actual"`` (the
    measured losses), ``"fit"`` (the law under the schedule used), then one key per schedule. None when the round
    has too few usable steps or the fit fails."""
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


def within_loss_range(curves: dict[str, np.ndarray], actual: np.ndarray) -> tuple[dict[str, np.ndarray], dict]:
    """``curves`` split into those a plot can stand behind and those it leaves out: ``(kept, left_out)``, the kept
    curves by name and each left-out one's final value.

    A training loss (cross-entropy) is never below 0, so a prediction below 0 at any step is left out; and a schedule
    of the same peak rate has no reason to rise above the round's highest measured loss (its first) past the round's
    first tenth (the warmup and the first fall, which the fit leaves out), so one that does is left out too. A curve
    that is not finite everywhere is left out.
    """
    high = float(np.nanmax(actual))
    tail = slice(len(actual) // 10, None)
    kept, left_out = {}, {}
    for name, curve in curves.items():
        if np.isfinite(curve).all() and float(curve.min()) >= 0.0 and float(curve[tail].max()) <= high:
            kept[name] = curve
        else:
            left_out[name] = float(curve[-1])
    return kept, left_out


def plot_schedule_what_if(train_metrics: list[dict], path: Path, round_: int = 0) -> Drawn:
    """Round ``round_``'s measured loss (smoothed), the LR-annealing law fitted to it, and the loss the law predicts
    under each built-in schedule, with each prediction's final loss in the legend.

    A prediction that leaves the range a training loss can take (``within_loss_range``: below 0 anywhere, or above
    the round's first loss past its first tenth) is the law extrapolated beyond what its fit supports, so it is not
    drawn, and the figure names it; so is the law's own fit when it does. ``series["drawn"]`` holds the schedules'
    curves drawn, ``series["left_out"]`` each left-out schedule's predicted final loss.
    """
    title = f"Round {round_}'s loss under other schedules (LR-annealing law fitted on it)"
    curves = schedule_what_if(train_metrics, round_)
    if curves is None:
        return no_data(path, title)
    fig = new_figure(WIDTH, 5.0)
    ax = fig.subplots()
    actual = curves.pop("actual")
    steps = np.arange(len(actual))
    window = max(1, len(actual) // 50)
    smooth = np.convolve(actual, np.ones(window) / window, mode="valid")
    ax.plot(steps[window - 1 :], smooth, color="0.6", linewidth=1.0, label="measured (moving average)")
    tail = slice(len(actual) // 10, None)  # past the warmup and the first fall, which the fit leaves out
    fit = curves.pop("fit")
    residual = float(np.sum((actual[tail] - fit[tail]) ** 2))
    r2 = 1.0 - residual / max(float(np.sum((actual[tail] - actual[tail].mean()) ** 2)), 1e-12)
    notes = []
    if r2 < 0.9:  # the law's power-law shape does not describe this curve: say so rather than mislead
        notes.append(f"poor fit (R² = {r2:.2f} after the first tenth): the predictions are not reliable")
    high = float(np.nanmax(actual))
    fits, fit_left_out = within_loss_range({"law, schedule used": fit}, actual)
    drawn, left_out = within_loss_range(curves, actual)
    if fit_left_out or left_out:
        each = ", ".join(f"{name} (ends at {value:.2f})" for name, value in {**fit_left_out, **left_out}.items())
        notes.append(f"not drawn, as the law's prediction leaves 0 to {high:.2f} (the round's first loss): {each}")
    for name, predicted in fits.items():
        ax.plot(steps, predicted, color="black", linestyle="--", linewidth=1.2, label=f"{name}: {predicted[-1]:.3f}")
    colour = dict(zip(curves, colours(len(curves)), strict=True))  # a schedule keeps its colour when others go
    for name, predicted in drawn.items():
        ax.plot(steps, predicted, color=colour[name], linewidth=1.1, label=f"{name}: {predicted[-1]:.3f}")
    # The view: the measured curve past its first tenth, and where every drawn prediction ends up.
    shown = np.concatenate([actual[tail], [c[-1] for c in (*fits.values(), *drawn.values())]])
    shown = shown[np.isfinite(shown)]
    if shown.size:
        low, top = float(shown.min()), float(shown.max())
        pad = 0.1 * (top - low) or 0.1
        ax.set_ylim(max(0.0, low - pad), top + pad)
    set_title(ax, "\n".join([title, *notes]), fontsize=10.0 if notes else 12.0)
    ax.set_xlabel("step in round")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("training loss (legend: predicted final)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    series = {"actual": actual, "fit": fit, "drawn": drawn, "left_out": left_out, "r2": r2}
    return Drawn(save(fig, path), title, series, notes, figure=fig)


WHAT_IF = Plot(
    key="what_if",
    file="schedule_what_if.png",
    draw=lambda data, path: plot_schedule_what_if(data.train_metrics, path),
    heading="Round 0 under other schedules",
    alt="round 0's training loss predicted under each schedule by the annealing law",
    caption="<p>The LR-annealing loss law (L = L0 + A·S1<sup>−α</sup> − C·S2), fitted on round 0's training loss, "
    "predicts that loss curve under each built-in schedule of the same length and peak rate; a prediction "
    "that leaves the range from 0 to the round's first loss is not drawn.</p>",
)
