"""Tests for the report and status of learning from rewards: GRPO's per-step series, the B-STaR control grid and
refine turns, drawn from a store filled by hand; left out with a reason on a run without them; ``status --json`` and
its text lines; the export's ``train/<name>`` metrics."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import selftaught.cli.inspect as status_command  # status prints through its module's out
from selftaught.cli import main
from selftaught.report import PLOTS, draw_plots, write_report
from selftaught.report.refine_plot import plot_refine
from selftaught.report.rewards_plots import plot_control, plot_rewards
from selftaught.report.status import learning_lines, report_data
from selftaught.store import Store

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REWARDS_PNG, CONTROL_PNG, REFINE_PNG = (PLOTS[key].file for key in ("rewards", "control", "refine"))
STEPS = {0: 4, 1: 3, 2: 3}  # training steps per round: round 1 starts at global step 4, round 2 at 7


def _reward(round_: int, step: int) -> float:
    return 0.1 * round_ + 0.05 * step


def _series_rows(round_: int) -> list[tuple[int, str, float | None]]:
    rows = []
    for step in range(STEPS[round_]):
        rows += [
            (step, "reward_mean", _reward(round_, step)),
            (step, "reward_std", 0.02),
            (step, "zero_var_share", 0.5 - 0.1 * step),
            (step, "kl", 0.001 * (step + 1)),
            (step, "clip_frac", 0.01 * round_),
            (step, "entropy", 3.0),  # a series the plot does not know: ignored
        ]
    return rows


def _grid(chosen: tuple[float, float], scores: dict[tuple[float, float, int], float]) -> list[dict]:
    return [
        {
            "temperature": t,
            "threshold": th,
            "samples": n,
            "score": score,
            "kept": 10 * n,
            "unique_correct": n,
            "chosen": (t, th) == chosen and n == 8,
        }
        for (t, th, n), score in scores.items()
    ]


def _make_store(path: Path, *, rewards: bool) -> None:
    """Three rounds that trained 4, 3 and 3 steps; with ``rewards``, rounds 1 and 2 also learned from rewards (GRPO
    series), chose their sampling by a control grid and refined their attempts."""
    store = Store.create(path, "run-rewards", {"name": "rewards"}, 'name = "rewards"\n')
    try:
        for round_, steps in STEPS.items():
            store.start_round(round_, None if round_ == 0 else round_ + 2)
            with store.phase(round_, "TRAIN"):
                store.add_train_metrics(round_, 0, [1.0 / (s + 1) for s in range(steps)], [1e-3] * steps)
                if rewards and round_ > 0:
                    store.add_train_series(round_, 0, _series_rows(round_))
                    store.add_train_series(round_, 1, [(0, "reward_mean", 9.0)])  # another model: not drawn
        if rewards:
            with store.transaction():
                store.add_control(
                    1,
                    _grid(
                        (1.0, 0.3),
                        {(0.6, 0.3, 8): 0.5, (0.6, 0.7, 8): 0.4, (1.0, 0.3, 8): 0.8, (1.0, 0.7, 8): 0.6},
                    ),
                )
                store.add_control(
                    2,
                    _grid(
                        (0.6, 0.7),
                        {
                            (0.6, 0.3, 8): 0.3,
                            (0.6, 0.3, 16): 0.35,  # the same cell with more samples: its best score is shown
                            (0.6, 0.7, 8): 0.9,
                            (1.0, 0.3, 8): 0.2,
                            (1.0, 0.7, 8): 0.7,
                        },
                    ),
                )
                # Round 1 over two models: turn 1 tried 20 and fixed 10, turn 2 tried 10 and fixed 4, turn 3 6 and 1.
                store.add_refine_turns(1, 0, [(1, 10, 4), (2, 6, 3), (3, 3, 0)])
                store.add_refine_turns(1, 1, [(1, 10, 6), (2, 4, 1), (3, 3, 1)])
                store.add_refine_turns(2, 0, [(1, 8, 2), (2, 6, 0), (3, 0, 0)])
    finally:
        store.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two run directories: ``rewards`` (GRPO, control, refine) and ``plain`` (none of them)."""
    root = tmp_path_factory.mktemp("rewards")
    out = {}
    for name, rewards in (("rewards", True), ("plain", False)):
        (root / name).mkdir()
        _make_store(root / name / "run.db", rewards=rewards)
        out[name] = root / name
    return out


@pytest.fixture(scope="module")
def drawn(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    store = Store.open(runs["rewards"] / "run.db")
    try:
        data = report_data(store)
    finally:
        store.close()
    out_dir = tmp_path_factory.mktemp("report")
    plots, left_out = draw_plots(data, out_dir)
    assert not {"rewards", "control", "refine"} & set(left_out)
    for name in (REWARDS_PNG, CONTROL_PNG, REFINE_PNG):
        assert (out_dir / name).read_bytes()[:8] == PNG_SIGNATURE
    return plots


def test_report_data_reads_the_reward_records(runs: dict[str, Path]) -> None:
    store = Store.open(runs["rewards"] / "run.db")
    try:
        data = report_data(store)
    finally:
        store.close()
    assert {row["round"] for row in data.train_series} == {1, 2}
    assert len(data.train_series) == 6 * (3 + 3)  # model 0 only
    assert [row["round"] for row in data.control] == [1] * 4 + [2] * 5
    assert sum(row["fixed"] for row in data.refine_turns if row["round"] == 1) == 15


def test_rewards_plot_draws_known_series_on_global_steps(drawn: dict) -> None:
    rewards = drawn["rewards"]
    assert not rewards.empty and rewards.path.name == REWARDS_PNG
    assert set(rewards.series["values"]) == {"reward_mean", "reward_std", "zero_var_share", "kl", "clip_frac"}
    # Round 1's steps 0..2 follow round 0's 4 steps; round 2's follow at 7.
    assert rewards.series["x"]["reward_mean"].tolist() == [4, 5, 6, 7, 8, 9]
    expected = [_reward(r, s) for r in (1, 2) for s in range(3)]
    np.testing.assert_allclose(rewards.series["values"]["reward_mean"], expected)
    np.testing.assert_allclose(rewards.series["values"]["kl"], [0.001, 0.002, 0.003] * 2)
    np.testing.assert_allclose(rewards.series["values"]["zero_var_share"], [0.5, 0.4, 0.3] * 2)
    np.testing.assert_allclose(rewards.series["values"]["clip_frac"], [0.01] * 3 + [0.02] * 3)
    assert rewards.series["boundaries"] == [4, 7]


def test_rewards_plot_draws_what_was_logged_and_a_placeholder_for_nothing(tmp_path: Path) -> None:
    rows = [{"round": 0, "step": s, "name": "kl", "value": v} for s, v in enumerate([0.1, math.nan, 0.3])]
    only_kl = plot_rewards(rows, {}, tmp_path / "kl.png")
    assert set(only_kl.series["values"]) == {"kl"} and only_kl.series["x"]["kl"].tolist() == [0, 1, 2]
    assert only_kl.series["boundaries"] == []
    unknown = [{"round": 0, "step": 0, "name": "entropy", "value": 1.0}]
    assert plot_rewards(unknown, {}, tmp_path / "none.png").empty
    assert plot_control([], tmp_path / "c.png").empty and plot_refine([], tmp_path / "r.png").empty


def test_control_plot_draws_the_chosen_setting_and_the_grid(drawn: dict) -> None:
    control = drawn["control"].series
    assert control["rounds"] == [1, 2]
    assert control["chosen"][1] == {
        "temperature": 1.0,
        "threshold": 0.3,
        "samples": 8,
        "score": 0.8,
        "kept": 80,
        "unique_correct": 8,
    }
    assert (control["chosen"][2]["temperature"], control["chosen"][2]["threshold"]) == (0.6, 0.7)
    assert control["scores"] == {1: [0.4, 0.5, 0.6, 0.8], 2: [0.2, 0.3, 0.35, 0.7, 0.9]}
    heatmap = control["heatmap"]
    assert heatmap["round"] == 2
    assert heatmap["temperatures"] == [0.6, 1.0] and heatmap["thresholds"] == [0.3, 0.7]
    # grid[threshold, temperature]; (0.6, 0.3) shows its best over 8 and 16 samples.
    np.testing.assert_allclose(heatmap["grid"], [[0.35, 0.2], [0.9, 0.7]])
    assert heatmap["chosen"] == (1, 0)


def test_control_plot_without_a_two_way_grid_has_no_heatmap(tmp_path: Path) -> None:
    rows = [
        {"round": 3, "temperature": t, "threshold": 0.5, "samples": 4, "score": s, "chosen": t == 0.8}
        for t, s in ((0.4, 0.1), (0.8, 0.3))
    ]
    series = plot_control(rows, tmp_path / "c.png").series
    assert series["heatmap"] is None and series["chosen"][3]["score"] == 0.3 and series["scores"] == {3: [0.1, 0.3]}


def test_refine_plot_draws_fix_rate_per_turn_and_the_cumulative_share(drawn: dict) -> None:
    refine = drawn["refine"].series
    assert refine["rounds"] == [1, 2]
    assert refine["turns"] == {1: [1, 2, 3], 2: [1, 2, 3]}
    assert refine["tried"][1] == [20, 10, 6] and refine["fixed"][1] == [10, 4, 1]
    assert refine["rate"][1] == pytest.approx([0.5, 0.4, 1 / 6])
    assert refine["cumulative"][1] == pytest.approx([0.5, 0.7, 0.75])
    assert refine["rate"][2][:2] == [0.25, 0.0] and math.isnan(refine["rate"][2][2])  # turn 3 tried nothing
    assert refine["cumulative"][2] == pytest.approx([0.25, 0.25, 0.25])


def test_a_run_without_rewards_leaves_the_plots_out_with_a_reason(runs: dict[str, Path], tmp_path: Path) -> None:
    store = Store.open(runs["plain"] / "run.db")
    try:
        data = report_data(store)
    finally:
        store.close()
    assert data.train_series == [] and data.control == [] and data.refine_turns == []
    # A report that drew them once (written into the same directory) has their files removed.
    for name in (REWARDS_PNG, CONTROL_PNG, REFINE_PNG):
        (tmp_path / name).write_bytes(PNG_SIGNATURE)
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    drawn, left_out = draw_plots(data, tmp_path / "again")
    assert {"rewards", "control", "refine"} <= set(left_out) and not {"rewards", "control", "refine"} & set(drawn)
    for name in (REWARDS_PNG, CONTROL_PNG, REFINE_PNG):
        assert not (tmp_path / name).exists() and name not in page
    assert "Not drawn: rewards during training: no reward series logged (GRPO logs them" in page
    assert "Not drawn: exploration and exploitation control: no control grid recorded" in page
    assert "Not drawn: refinement per turn: no refine turns recorded" in page
    assert list(PLOTS)[-4:] == ["rewards", "kept", "control", "refine"]


def test_the_page_shows_the_three_plots_after_the_others(runs: dict[str, Path], tmp_path: Path) -> None:
    store = Store.open(runs["rewards"] / "run.db")
    try:
        page = write_report(report_data(store), tmp_path).read_text(encoding="utf-8")
    finally:
        store.close()
    where = [page.index(f'src="{name}"') for name in ("lr_schedule.png", REWARDS_PNG, CONTROL_PNG, REFINE_PNG)]
    assert where == sorted(where)
    assert "<h2>Learning from rewards</h2>" in page and "Not drawn: rewards" not in page


def _status(run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[list[str], dict]:
    buffer = io.StringIO()
    monkeypatch.setattr(status_command, "out", Console(file=buffer, width=80))
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert main(["status", str(run_dir)]) == 0
    return buffer.getvalue().splitlines(), document


def test_status_json_has_control_refine_and_rewards(runs: dict[str, Path], monkeypatch, capsys) -> None:
    lines, st = _status(runs["rewards"], monkeypatch, capsys)
    assert st["control"] == [
        {
            "round": 1,
            "chosen": {
                "temperature": 1.0,
                "threshold": 0.3,
                "samples": 8,
                "score": 0.8,
                "kept": 80,
                "unique_correct": 8,
            },
            "grid": 4,
        },
        {
            "round": 2,
            "chosen": {
                "temperature": 0.6,
                "threshold": 0.7,
                "samples": 8,
                "score": 0.9,
                "kept": 80,
                "unique_correct": 8,
            },
            "grid": 5,
        },
    ]
    first, second = st["refine"]
    assert (first["round"], first["tried"], first["fixed"], first["fixed_share"]) == (1, 20, 15, 0.75)
    assert [(t["turn"], t["tried"], t["fixed"]) for t in first["turns"]] == [(1, 20, 10), (2, 10, 4), (3, 6, 1)]
    assert [t["fix_rate"] for t in first["turns"]] == pytest.approx([0.5, 0.4, 1 / 6])
    assert [t["fix_rate"] for t in second["turns"]] == [0.25, 0.0, None]  # a turn that tried nothing has no rate
    assert second["fixed_share"] == 0.25
    assert [w["round"] for w in st["rewards"]] == [1, 2]
    last = st["rewards"][-1]
    assert last["steps"] == 3 and set(last) == {"round", "steps", "reward_mean", "zero_var_share", "kl", "clip_frac"}
    assert last["reward_mean"]["last"] == pytest.approx(_reward(2, 2))
    assert last["reward_mean"]["mean"] == pytest.approx(np.mean([_reward(2, s) for s in range(3)]))
    assert last["kl"] == {"last": pytest.approx(0.003), "mean": pytest.approx(0.002)}
    assert last["zero_var_share"]["last"] == pytest.approx(0.3)

    assert all(len(line) <= 80 for line in lines)
    assert "control r2: T=0.6 threshold=0.7 n=8, balance 0.900 (grid 5)" in lines
    assert "refine r2: fix rate by turn 25% 0% -; fixed 2/8 (25%)" in lines
    assert "rewards r2, last step: reward 0.300, zero-var 30%, KL 0.003, clip 2%" in lines


def test_status_of_a_run_without_rewards_has_them_empty(runs: dict[str, Path], monkeypatch, capsys) -> None:
    lines, st = _status(runs["plain"], monkeypatch, capsys)
    assert st["control"] == [] and st["refine"] == [] and st["rewards"] == []
    assert not any(line.startswith(("control", "refine", "rewards")) for line in lines)


def test_learning_lines_fit_80_columns_with_many_turns() -> None:
    turns = [{"turn": t, "tried": 100, "fixed": 33, "fix_rate": 0.33} for t in range(1, 40)]
    st = {
        "control": [{"round": 12, "chosen": None, "grid": 48}],
        "refine": [{"round": 12, "tried": 1000, "fixed": 999, "fixed_share": 0.999, "turns": turns}],
        "rewards": [{"round": 12, "steps": 5, "kl": {"last": 0.25, "mean": 0.2}}],
    }
    lines = learning_lines(st)
    assert lines[0] == "control r12: no setting chosen (grid 48)"
    assert lines[1].startswith("refine r12: fix rate by turn 33% 33% ") and lines[1].endswith("; fixed 999/1000 (100%)")
    shown = lines[1].split("turn ")[1].split(";")[0].split()
    assert shown[-1] == f"+{39 - (len(shown) - 1)}" and "…" not in lines[1]
    assert lines[2] == "rewards r12, last step: KL 0.25"
    assert all(len(line) <= 80 for line in lines)


def test_export_metrics_include_the_train_series(runs: dict[str, Path]) -> None:
    from selftaught.experiments.tracking import run_metrics

    store = Store.open(runs["rewards"] / "run.db")
    try:
        metrics = run_metrics(store)
    finally:
        store.close()
    history: dict[str, list[tuple[int, float]]] = {}
    for name, value, step in metrics:
        history.setdefault(name, []).append((step, value))
    assert [s for s, _ in history["train/reward_mean"]] == [4, 5, 6, 7, 8, 9]
    assert [v for _, v in history["train/reward_mean"]] == pytest.approx(
        [_reward(r, s) for r in (1, 2) for s in range(3)]
    )
    assert history["train/entropy"] == [(s, 3.0) for s in (4, 5, 6, 7, 8, 9)]  # every logged series is exported
    assert len(history["train/loss"]) == sum(STEPS.values())
