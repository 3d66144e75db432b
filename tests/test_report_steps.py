"""Tests for the report's step-control part: learning curves with the stopping rule, learning rate and gradient norm,
time to result and time per phase."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from selftaught.curves import AnnealingLaw
from selftaught.report import PLOTS, Drawn, ReportData, write_report
from selftaught.report.curve_plots import MAX_CURVE_PANELS, learning_curve_panels, plot_learning_curves
from selftaught.report.schedule_plot import plot_schedule_what_if, schedule_what_if, within_loss_range
from selftaught.report.training_plots import plot_lr_schedule
from selftaught.store import PHASES
from selftaught.training.schedules import SCHEDULES, Cosine, LinearDecay

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CURVES_PNG, LR_PNG = PLOTS["curves"].file, PLOTS["lr"].file


def _decision(round_: int, step: int, budget: int, value: float, **extra: object) -> dict:
    row = {
        "round": round_,
        "step": step,
        "budget": budget,
        "value": value,
        "current": value,
        "mean": None,
        "low": None,
        "high": None,
        "stop": False,
        "reason": "too early",
    }
    row.update(extra)
    return row


def _stop_decisions() -> list[dict]:
    """Round 0 (budget 100) rises and saturates; the rule says stop at step 40 and the round is let run to 100.
    Round 1 (budget 60) keeps rising and never stops; its last decision is at the budget's end."""
    rows = []
    for step in range(5, 101, 5):
        value = 0.9 * (1 - math.exp(-step / 15))
        if step < 25:
            rows.append(_decision(0, step, 100, value))
        else:
            stop = step >= 40
            reason = "predicted gain below epsilon" if stop else "still gaining"
            rows.append(_decision(0, step, 100, value, mean=0.89, low=0.86, high=0.9, stop=stop, reason=reason))
    for step in range(10, 61, 10):
        value = 0.2 + 0.006 * step
        if step < 30:
            rows.append(_decision(1, step, 60, value))
        else:
            rows.append(_decision(1, step, 60, value, mean=0.6, low=0.5, high=0.7, reason="still gaining"))
    return rows


def _phases(wall: list[float], cpu: list[float | None]) -> dict[str, dict]:
    # Given in reverse loop order: the table must put them back in PROPOSE..DECIDE order.
    states = {p: {"done": True, "seconds": w, "cpu_seconds": c} for p, w, c in zip(PHASES, wall, cpu, strict=True)}
    return dict(reversed(list(states.items())))


def _steps_data() -> ReportData:
    round_steps = {0: 100, 1: 60}
    train_metrics = [
        {
            "round": r,
            "step": s,
            "loss": 2.0 / (1 + s),
            "lr": 1e-3 * (1 - s / n),
            "grad_norm": 0.2 + 2.0 * math.exp(-s / 30),
            "grad_l1": None,
        }
        for r, n in round_steps.items()
        for s in range(n)
    ]
    rounds = [
        {
            "round": 0,
            "difficulty": None,
            "proposed": 0,
            "accepted": 0,
            "label_accuracy": None,
            "train_steps": 100,
            "seconds": 28.0,
            "budget": 100,
            "stopped_at": 40,
            "stop_reason": "predicted gain <below> epsilon",
            "cpu_seconds": 21.0,
            "phases": _phases([1.0, 2.0, 3.0, 4.0, 10.25, 5.0, 2.75], [0.5, 1.5, 2.5, 3.5, 9.0, 4.0, None]),
        },
        {
            "round": 1,
            "difficulty": 3,
            "proposed": 16,
            "accepted": 12,
            "label_accuracy": 0.75,
            "train_steps": 60,
            "seconds": 14.0,
            "budget": 60,
            "stopped_at": None,
            "stop_reason": None,
            "cpu_seconds": 10.0,
            "phases": _phases([0.5, 1.0, 1.5, 2.0, 5.25, 2.5, 1.25], [0.25, 0.75, 1.25, 1.75, 4.5, 2.0, 0.5]),
        },
    ]
    results_reached = [
        {
            "task": "add",
            "difficulty": 2,
            "target": 0.9,
            "round": 1,
            "steps": 160,
            "seconds": 42.3,
            "cpu_seconds": 31.5,
            "accuracy": 0.92,
        },
        {
            "task": "<sort>",
            "difficulty": 1,
            "target": 0.5,
            "round": 0,
            "steps": 100,
            "seconds": 27.96,
            "cpu_seconds": 20.04,
            "accuracy": 0.6,
        },
    ]
    return ReportData(
        run_id="steps",
        config_text="",
        complete=True,
        stop_reason=None,
        rounds=rounds,
        train_metrics=train_metrics,
        round_steps=round_steps,
        stop_decisions=_stop_decisions(),
        results_reached=results_reached,
    )


def _png_shape(path: Path) -> tuple[int, ...]:
    """The image's (height, width), after checking that ``path`` is a PNG."""
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    return imread(path).shape[:2]


@pytest.fixture(scope="module")
def placeholder(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[int, ...], int]:
    """The "no data yet" figure's (height, width) and file size."""
    drawn = plot_learning_curves([], tmp_path_factory.mktemp("placeholder") / "empty.png")
    assert drawn.empty
    return _png_shape(drawn.path), drawn.path.stat().st_size


def _assert_drawn(drawn: Drawn | Path, placeholder: tuple[tuple[int, ...], int]) -> None:
    """A figure with data on it: series drawn (for a plot function's answer), and not the placeholder's PNG."""
    path = drawn.path if isinstance(drawn, Drawn) else drawn
    if isinstance(drawn, Drawn):
        assert not drawn.empty, drawn.title
    shape, size = placeholder
    assert _png_shape(path) != shape, path
    assert path.stat().st_size > size, path


def test_write_report_draws_the_step_control_plots(tmp_path: Path, placeholder) -> None:
    page = write_report(_steps_data(), tmp_path).read_text(encoding="utf-8")
    for name in (CURVES_PNG, LR_PNG):
        _assert_drawn(tmp_path / name, placeholder)
        assert f'src="{name}"' in page
    assert not list(tmp_path.glob("*.tmp"))
    assert "<h2>Step control</h2>" in page
    section = page.index("<h2>Step control</h2>")
    assert section < page.index(f'src="{CURVES_PNG}"') < page.index(f'src="{LR_PNG}"') < page.index("<h2>Config</h2>")


def test_html_shows_budgets_and_stops_per_round(tmp_path: Path) -> None:
    page = write_report(_steps_data(), tmp_path).read_text(encoding="utf-8")
    assert (
        '<tr><td>0</td><td>100</td><td>100</td><td>40</td><td class="text">predicted gain &lt;below&gt; epsilon</td>'
        in page
    )
    assert '<tr><td>1</td><td>60</td><td>60</td><td>&mdash;</td><td class="text">&mdash;</td></tr>' in page
    assert "gain <below>" not in page


def test_html_shows_time_to_result_one_row_per_evaluation_in_step_order(tmp_path: Path) -> None:
    data = _steps_data()
    # add:2 reached 50 % at the same evaluation as 90 %: one row listing both, not a second row.
    data.results_reached.append(dict(data.results_reached[0], target=0.5))
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert "<h3>Time to result</h3>" in page
    reached_add = (
        '<tr><td class="text">add</td><td>2</td><td class="text">50%, 90%</td><td>1</td><td>160</td><td>42.3</td>'
        "<td>31.5</td></tr>"
    )
    reached_sort = (
        '<tr><td class="text">&lt;sort&gt;</td><td>1</td><td class="text">50%</td><td>0</td><td>100</td><td>28.0</td>'
        "<td>20.0</td></tr>"
    )
    assert reached_add in page and reached_sort in page
    assert page.index(reached_sort) < page.index(reached_add)  # earlier steps first
    table = page[page.index("<h3>Time to result</h3>") : page.index("<h3>Time per phase</h3>")]
    assert table.count("<tr><td") == 2
    assert "<sort>" not in page


def test_html_sums_time_per_phase_over_rounds_in_loop_order(tmp_path: Path) -> None:
    page = write_report(_steps_data(), tmp_path).read_text(encoding="utf-8")
    table = page[page.index("<h3>Time per phase</h3>") :]
    # TRAIN: 10.25 + 5.25 wall, 9.0 + 4.5 CPU; DECIDE's CPU time is missing in round 0 and counts only round 1's.
    assert '<tr><td class="text">TRAIN</td><td>15.5</td><td>13.5</td></tr>' in table
    assert '<tr><td class="text">DECIDE</td><td>4.0</td><td>0.5</td></tr>' in table
    # Wall: 28 + 14 over the rounds; CPU: 21 + 11.
    assert '<tr><td class="text">total</td><td>42.0</td><td>32.0</td></tr>' in table
    positions = [table.index(f'<td class="text">{phase}</td>') for phase in PHASES]
    assert positions == sorted(positions)
    assert positions[-1] < table.index('<td class="text">total</td>')


def test_empty_records_give_placeholders_and_say_so(tmp_path: Path, placeholder) -> None:
    data = ReportData(run_id="empty", config_text="", complete=False, stop_reason=None)
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    shape, _ = placeholder
    assert _png_shape(tmp_path / LR_PNG) == shape and f'src="{LR_PNG}"' in page
    # Without the stopping rule's measurements the learning curves are left out, not a placeholder.
    assert not (tmp_path / CURVES_PNG).exists() and CURVES_PNG not in page
    assert "No round budgets recorded yet." in page
    assert "No accuracy target reached yet." in page
    assert "No phase times recorded yet." in page

    # Rounds without phase times (a run from before they were kept) still get the "no" sentence.
    data.rounds = [{"round": 0, "train_steps": 5, "phases": {"PROPOSE": {"done": False, "seconds": None}}}]
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert "No phase times recorded yet." in page
    assert "<tr><td>0</td><td>&mdash;</td><td>5</td><td>&mdash;</td>" in page


def test_learning_curve_panels_find_the_stop_and_the_prediction_to_draw() -> None:
    panels, total = learning_curve_panels(_stop_decisions()[::-1])  # input order does not matter
    assert total == 2
    first, second = panels
    assert (first.round, first.budget, first.stop_step) == (0, 100, 40)
    assert first.steps.tolist() == list(range(5, 101, 5))
    assert first.anchor is not None and first.anchor["step"] == 40 and first.anchor["mean"] == 0.89
    assert first.reason == "predicted gain below epsilon"
    # Never stopped: the last prediction made before the budget's end (step 60 is the end itself).
    assert (second.round, second.budget, second.stop_step) == (1, 60, None)
    assert second.anchor is not None and second.anchor["step"] == 50
    assert second.reason == "still gaining"


def test_learning_curve_panels_without_prediction_and_capped_to_the_newest_rounds() -> None:
    rows = [_decision(0, s, 50, 0.1 * s / 10) for s in (10, 20)]
    rows.append(_decision(0, 30, 50, 0.95, stop=True, reason="target reached"))
    panels, total = learning_curve_panels(rows)
    assert total == 1 and panels[0].stop_step == 30 and panels[0].anchor is None
    assert panels[0].reason == "target reached"

    many = [_decision(r, s, 40, 0.1 + 0.01 * s + 0.01 * r) for r in range(MAX_CURVE_PANELS + 3) for s in (10, 20)]
    panels, total = learning_curve_panels(many)
    assert total == MAX_CURVE_PANELS + 3
    assert [panel.round for panel in panels] == list(range(3, MAX_CURVE_PANELS + 3))
    assert learning_curve_panels([], max_panels=4) == ([], 0)


def test_learning_curves_draw_rounds_without_predictions_and_with_single_points(tmp_path: Path, placeholder) -> None:
    # Every mean None: a round still "too early" throughout, and one stopped on reaching its target.
    too_early = [_decision(0, s, 100, 0.02 * s) for s in (5, 10, 15)]
    target = [_decision(1, s, 50, 0.3 * s / 10) for s in (10, 20)]
    target.append(_decision(1, 30, 50, 0.95, stop=True, reason="target reached"))
    _assert_drawn(plot_learning_curves(too_early + target, tmp_path / "no_mean.png"), placeholder)

    # One measured point with a prediction (no band can be refitted), a missing budget and a missing value.
    odd = [
        _decision(0, 10, 40, 0.4, mean=0.5, low=0.45, high=0.6, stop=True, reason="predicted gain below epsilon"),
        _decision(1, 10, None, 0.3, mean=0.5, low=None, high=None, reason="still gaining"),
        _decision(1, 20, None, 0.4, mean=0.55, low=None, high=None, reason="still gaining"),
        _decision(2, 10, 30, None),
    ]
    _assert_drawn(plot_learning_curves(odd, tmp_path / "odd.png"), placeholder)


def test_learning_curves_cap_the_panels(tmp_path: Path, placeholder) -> None:
    many = [
        _decision(r, s, 40, 0.1 + 0.02 * s, mean=0.9, low=0.8, high=0.95, reason="still gaining")
        for r in range(MAX_CURVE_PANELS + 2)
        for s in (10, 20, 30)
    ]
    drawn = plot_learning_curves(many, tmp_path / "many.png")
    _assert_drawn(drawn, placeholder)
    assert [panel.round for panel in drawn.series["panels"]] == list(range(2, MAX_CURVE_PANELS + 2))
    assert drawn.series["total"] == MAX_CURVE_PANELS + 2
    height, width = _png_shape(drawn.path)
    assert height > width  # four rows of three panels


def test_lr_schedule_draws_what_was_logged(tmp_path: Path, placeholder) -> None:
    data = _steps_data()
    no_norms = [dict(row, grad_norm=None) for row in data.train_metrics]
    _assert_drawn(plot_lr_schedule(no_norms, data.round_steps, tmp_path / "lr_only.png"), placeholder)
    # Without round lengths the rounds are laid end to end by their logged steps.
    _assert_drawn(plot_lr_schedule(data.train_metrics, {}, tmp_path / "no_lengths.png"), placeholder)
    lr = plot_lr_schedule(data.train_metrics, data.round_steps, tmp_path / "both.png")
    assert lr.series["x"].tolist() == list(range(160)) and lr.series["boundaries"] == [100]
    np.testing.assert_allclose(lr.series["lr"][:2], [1e-3, 1e-3 * 0.99])
    nothing = [dict(row, lr=None, grad_norm=None) for row in data.train_metrics]
    shape, _ = placeholder
    for drawn in (
        plot_lr_schedule(nothing, data.round_steps, tmp_path / "nothing.png"),
        plot_lr_schedule([], {}, tmp_path / "empty.png"),
    ):
        assert drawn.empty and _png_shape(drawn.path) == shape


def test_the_annealing_law_predicts_round_0_under_every_schedule(tmp_path):
    total, peak = 400, 0.01
    lrs = np.array([peak * Cosine(warmup=0.05).factor(t, total) for t in range(total)])
    s1, s2 = AnnealingLaw().areas(lrs)
    losses = 1.0 + 0.05 * s1**-0.5 - 0.5 * s2 + np.random.default_rng(0).normal(0, 0.005, total)
    metrics = [
        {"round": 0, "step": t, "loss": float(losses[t]), "lr": float(lrs[t]), "grad_l1": 10.0 / (t + 10) ** 0.5}
        for t in range(total)
    ]
    curves = schedule_what_if(metrics)
    assert set(curves) == {"actual", "fit", *SCHEDULES}
    after = slice(40, None)  # the fit leaves out the warmup and the next 5 % of the round
    assert np.abs(curves["fit"][after] - (1.0 + 0.05 * s1**-0.5 - 0.5 * s2)[after]).max() < 0.01  # recovered
    assert np.abs(curves["cosine"][-1] - curves["fit"][-1]) < 0.005  # the schedule used, rebuilt from the config
    # Under this law annealing pays at the end: every decaying schedule ends below a constant rate.
    assert all(curves[name][-1] < curves["constant"][-1] for name in ("linear", "cosine", "wsd", "rex"))
    drawn = plot_schedule_what_if(metrics, tmp_path / "what_if.png")
    assert drawn.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(drawn.series["drawn"]) == set(SCHEDULES) and drawn.series["left_out"] == {} and drawn.notes == []
    assert schedule_what_if(metrics[:10]) is None  # too short a round to fit
    assert plot_schedule_what_if(metrics[:10], tmp_path / "short.png").empty


def test_what_if_leaves_out_predictions_the_fit_cannot_support(tmp_path):
    """Fitted on a linear-decay round whose loss ends near 0.03, the law sends step decay (more annealing area)
    below 0: a training loss cannot go there, so that curve is not drawn and the figure says so."""
    total, peak = 400, 0.01
    lrs = np.array([peak * LinearDecay(warmup=0.05).factor(t, total) for t in range(total)])
    s1, s2 = AnnealingLaw().areas(lrs)
    losses = 0.5 + 0.05 * s1**-0.5 - 0.316 * s2 + np.random.default_rng(0).normal(0, 0.002, total)
    assert losses.min() > 0  # what was measured is a possible loss
    metrics = [
        {"round": 0, "step": t, "loss": float(losses[t]), "lr": float(lrs[t]), "grad_l1": 10.0 / (t + 10) ** 0.5}
        for t in range(total)
    ]
    drawn = plot_schedule_what_if(metrics, tmp_path / "what_if.png")
    assert set(drawn.series["left_out"]) == {"step"} and drawn.series["left_out"]["step"] < 0
    assert set(drawn.series["drawn"]) == set(SCHEDULES) - {"step"}
    high = losses.max()
    for name, curve in drawn.series["drawn"].items():
        assert 0 <= curve[total // 10 :].min() and curve[total // 10 :].max() <= high, name
    assert len(drawn.notes) == 1 and "not drawn" in drawn.notes[0] and "step (ends at -0.02)" in drawn.notes[0]


def test_a_prediction_below_0_anywhere_is_left_out():
    """A loss cannot go below 0: a prediction that does, even in the round's first tenth (which the fit leaves out),
    is not drawn; rising above the first loss is allowed only there."""
    actual = np.linspace(2.0, 0.5, 100)
    curves = {
        "fine": np.linspace(1.9, 0.4, 100),
        "early_dip": np.r_[[-0.1] * 5, np.linspace(1.9, 0.4, 95)],
        "late_dip": np.linspace(1.9, -0.01, 100),
        "early_rise": np.r_[[3.0] * 5, np.linspace(1.9, 0.4, 95)],
        "late_rise": np.r_[np.linspace(1.9, 0.4, 95), [2.5] * 5],
        "nan": np.r_[np.linspace(1.9, 0.4, 99), [np.nan]],
    }
    kept, left_out = within_loss_range(curves, actual)
    assert set(kept) == {"fine", "early_rise"}
    expected = {"early_dip": 0.4, "late_dip": -0.01, "late_rise": 2.5, "nan": np.nan}
    assert left_out == pytest.approx(expected, nan_ok=True)


def test_learning_curves_draw_only_what_the_rule_recorded(tmp_path: Path) -> None:
    """Nothing refitted: every point drawn is a recorded measurement, the rule's fitted value where it decided, or
    the interval it predicted for the budget's end."""
    decisions = _stop_decisions()
    drawn = plot_learning_curves(decisions, tmp_path / "curves.png")
    recorded = {round(float(row[key]), 9) for row in decisions for key in ("value", "current", "mean", "low", "high")
                if row[key] is not None}  # fmt: skip
    for ax in drawn.figure.axes:
        for line in ax.get_lines():
            if line.get_transform() != ax.transData:
                continue  # the stop's vertical line spans the axes
            ys = [float(y) for y in np.ravel(line.get_ydata()) if np.isfinite(y)]
            assert {round(y, 9) for y in ys} <= recorded, line.get_label()
        for collection in ax.collections:  # the prediction's band: from the fitted value to the recorded interval
            for path in collection.get_paths():
                ys = {round(float(y), 9) for y in path.vertices[:, 1]}
                assert ys <= recorded, ys - recorded
