"""Tests for the run report: files written, PNGs valid, HTML content escaped, grid values placed correctly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from selftaught.report import ACCEPTED_PNG, HEATMAP_PNG, LOSS_PNG, ReportData, write_report
from selftaught.report.plots import (
    accuracy_grid,
    global_steps,
    plot_accepted_vs_proposed,
    plot_accuracy_heatmap,
    plot_training_loss,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNGS = (HEATMAP_PNG, LOSS_PNG, ACCEPTED_PNG)


def _evaluation(round_: int, difficulty: int, accuracy: float, n: int = 50, **extra: object) -> dict:
    half = 1.96 * math.sqrt(accuracy * (1 - accuracy) / n)
    row = {
        "round": round_,
        "difficulty": difficulty,
        "n": n,
        "accuracy": accuracy,
        "ci_low": max(0.0, accuracy - half),
        "ci_high": min(1.0, accuracy + half),
    }
    row.update(extra)
    return row


def _synthetic() -> ReportData:
    rounds = [
        {"round": 0, "difficulty": None, "proposed": 0, "accepted": 0, "label_accuracy": None, "train_steps": 40},
        {"round": 1, "difficulty": 4, "proposed": 64, "accepted": 48, "label_accuracy": 0.9, "train_steps": 20},
        {"round": 2, "difficulty": 5, "proposed": 64, "accepted": 32, "label_accuracy": 0.75, "train_steps": 20},
    ]
    for row, seconds in zip(rounds, (12.5, 8.25, 9.0), strict=True):
        row["seconds"] = seconds
    evaluations = [
        _evaluation(r, d, min(1.0, max(0.0, 1.0 - 0.2 * (d - 1) + 0.1 * r)))
        for r in range(3)
        for d in range(1, 6)
        if d <= 3 + r
    ]
    train_metrics = [
        {"round": r, "step": s, "loss": 3.0 / (1 + s + 10 * r), "lr": 1e-3 * (1 - s / 40)}
        for r, steps in ((0, 40), (1, 20), (2, 20))
        for s in range(steps)
    ]
    return ReportData(
        run_id="run-<42>&x",
        config_text='[run]\nname = "demo"\nnote = "<script>alert(1)</script>"\n',
        complete=False,
        stop_reason="budget <exhausted>",
        rounds=rounds,
        evaluations=evaluations,
        train_metrics=train_metrics,
    )


def _assert_png(path: Path) -> None:
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    assert len(data) > 2000, (path, len(data))


def test_write_report_writes_html_and_pngs(tmp_path: Path) -> None:
    out_dir = tmp_path / "nested" / "report"
    html_path = write_report(_synthetic(), out_dir)

    assert html_path == out_dir / "report.html"
    assert html_path.is_file()
    for name in PNGS:
        _assert_png(out_dir / name)
    assert not list(out_dir.glob("*.tmp"))

    page = html_path.read_text(encoding="utf-8")
    for name in PNGS:
        assert f'src="{name}"' in page
    assert "run-&lt;42&gt;&amp;x" in page
    assert "run-<42>" not in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "budget &lt;exhausted&gt;" in page
    assert "not complete" in page
    # No external resources or scripts: the page stands alone beside its images.
    assert "http://" not in page and "https://" not in page


def test_html_tables_hold_round_summary_and_final_accuracy(tmp_path: Path) -> None:
    page = write_report(_synthetic(), tmp_path).read_text(encoding="utf-8")
    # Round 1: 48 of 64 accepted, 90% label accuracy.
    assert "<td>64</td><td>48</td><td>75.0%</td><td>90.0%</td>" in page
    # Round 0 proposes nothing: no difficulty, no accept rate.
    assert "<tr><td>0</td><td>&mdash;</td><td>0</td><td>0</td><td>&mdash;</td>" in page
    # The final round (2) evaluated difficulties 1..5; difficulty 5 has accuracy 1 - 0.8 + 0.2 = 0.4.
    assert "<p>Round 2," in page
    assert "<tr><td>5</td><td>50</td><td>40.0%</td>" in page


def test_write_report_handles_empty_data(tmp_path: Path) -> None:
    data = ReportData(run_id="empty", config_text="", complete=True, stop_reason=None, rounds=[], evaluations=[])
    html_path = write_report(data, tmp_path)
    assert html_path.is_file()
    for name in PNGS:
        _assert_png(tmp_path / name)
    page = html_path.read_text(encoding="utf-8")
    assert "empty" in page
    assert "complete" in page and "not complete" not in page
    assert "No rounds recorded yet." in page
    assert "No evaluations recorded yet." in page


def test_write_report_overwrites_previous_report(tmp_path: Path) -> None:
    data = _synthetic()
    write_report(data, tmp_path)
    data.complete = True
    data.stop_reason = "max rounds"
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert "not complete" not in page
    assert "stop reason: max rounds" in page


def test_accuracy_grid_places_values_and_leaves_gaps() -> None:
    evaluations = [
        _evaluation(0, 1, 0.9),
        _evaluation(0, 2, 0.5),
        _evaluation(2, 1, 1.0),
        _evaluation(2, 7, 0.25),
    ]
    difficulties, rounds, grid = accuracy_grid(evaluations)
    assert difficulties == [1, 2, 7]
    assert rounds == [0, 2]
    assert grid.shape == (3, 2)
    expected = np.array([[0.9, 1.0], [0.5, np.nan], [np.nan, 0.25]])
    np.testing.assert_allclose(grid, expected)


def test_accuracy_grid_pools_rows_for_one_cell_by_sample_size() -> None:
    evaluations = [
        _evaluation(1, 3, 1.0, n=30, task="add"),
        _evaluation(1, 3, 0.0, n=10, task="sort"),
        {"round": 1, "difficulty": 4, "n": 10, "accuracy": None},
    ]
    difficulties, rounds, grid = accuracy_grid(evaluations)
    assert difficulties == [3]
    assert rounds == [1]
    assert grid[0, 0] == pytest.approx(0.75)


def test_accuracy_grid_empty() -> None:
    difficulties, rounds, grid = accuracy_grid([])
    assert difficulties == [] and rounds == []
    assert grid.shape == (0, 0)


def test_global_steps_concatenates_rounds_in_order() -> None:
    metrics = [
        {"round": 1, "step": 1, "loss": 1.0, "lr": 0.1},
        {"round": 0, "step": 0, "loss": 2.0, "lr": 0.1},
        {"round": 1, "step": 2, "loss": 0.9, "lr": 0.1},
        {"round": 0, "step": 1, "loss": 1.5, "lr": 0.1},
        {"round": 0, "step": 2, "loss": 1.2, "lr": 0.1},
    ]
    rows, x, segments = global_steps(metrics)
    assert [(row["round"], row["step"]) for row in rows] == [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2)]
    assert x.tolist() == [0, 1, 2, 3, 4]
    assert segments == [(0, 0, 2), (1, 3, 4)]


def test_plots_draw_multiple_tasks_nonpositive_loss_and_missing_values(tmp_path: Path) -> None:
    evaluations = [_evaluation(0, 1, 0.5, task="add"), _evaluation(0, 2, 0.0, task="sort"), _evaluation(1, 1, 1.0)]
    metrics = [
        {"round": 0, "step": 0, "loss": 0.0, "lr": None},
        {"round": 0, "step": 1, "loss": float("nan"), "lr": None},
        {"round": 3, "step": 0, "loss": -0.5, "lr": None},
    ]
    rounds = [{"round": 0, "difficulty": None, "proposed": 3, "accepted": 1, "label_accuracy": None}]
    _assert_png(plot_accuracy_heatmap(evaluations, tmp_path / "h.png"))
    _assert_png(plot_training_loss(metrics, tmp_path / "l.png"))
    _assert_png(plot_accepted_vs_proposed(rounds, tmp_path / "a.png"))


def test_large_heatmap_skips_annotations_without_error(tmp_path: Path) -> None:
    evaluations = [_evaluation(r, d, ((r + d) % 10) / 10) for r in range(35) for d in range(1, 45)]
    _assert_png(plot_accuracy_heatmap(evaluations, tmp_path / "big.png"))
