"""Tests for the run report: files written and left out, what each plot drew, HTML content escaped, grid values
placed correctly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from selftaught.report import PAGE, PLOTS, Drawn, Plot, ReportData, draw_plots, write_report
from selftaught.report.accuracy_plots import accuracy_grid, plot_accepted_vs_proposed, plot_accuracy_heatmap
from selftaught.report.curriculum_plots import (
    plot_sampling_share,
    plot_skill_success,
    plot_teacher_scores,
    sampling_shares,
    skill_success_grid,
    teacher_score_lines,
)
from selftaught.report.status import mastery, report_data, run_status
from selftaught.report.sweep_plots import plot_spread
from selftaught.report.training_plots import global_steps, plot_training_loss
from selftaught.store import Reader, Store
from selftaught.types import Example, Problem, Verdict

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEATMAP_PNG, LOSS_PNG, ACCEPTED_PNG = (PLOTS[key].file for key in ("heatmap", "loss", "accepted"))
SAMPLING_PNG, SUCCESS_PNG, TEACHER_PNG = (PLOTS[key].file for key in ("sampling", "success", "teacher"))
CURVES_PNG = PLOTS["curves"].file
PNGS = (HEATMAP_PNG, LOSS_PNG, ACCEPTED_PNG)
REWARD_PLOTS = {"rewards", "kept", "control", "refine"}


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
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path


def _assert_drawn(drawn: Drawn) -> Drawn:
    """A real figure with data on it, not the "no data yet" placeholder, written as a PNG."""
    _assert_png(drawn.path)
    assert not drawn.empty, drawn.title
    return drawn


def _assert_placeholder(drawn: Drawn) -> None:
    _assert_png(drawn.path)
    assert drawn.empty and drawn.series == {}, drawn.title


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
    heatmap = _assert_drawn(plot_accuracy_heatmap(evaluations, tmp_path / "h.png"))
    assert [panel["task"] for panel in heatmap.series["panels"]] == ["add", "sort", None]
    loss = _assert_drawn(plot_training_loss(metrics, tmp_path / "l.png"))
    np.testing.assert_array_equal(loss.series["loss"], [0.0, np.nan, -0.5])
    accepted = _assert_drawn(plot_accepted_vs_proposed(rounds, tmp_path / "a.png"))
    assert accepted.series["labelled"] == {0: 3} and accepted.series["share"] == {}


def test_large_heatmap_skips_annotations_without_error(tmp_path: Path) -> None:
    evaluations = [_evaluation(r, d, ((r + d) % 10) / 10) for r in range(35) for d in range(1, 45)]
    drawn = _assert_drawn(plot_accuracy_heatmap(evaluations, tmp_path / "big.png"))
    assert drawn.series["panels"][0]["grid"].shape == (44, 35)


# --- curriculum plots ---------------------------------------------------------------------------------------------

CURRICULUM_PNGS = (SAMPLING_PNG, SUCCESS_PNG, TEACHER_PNG)


def _curriculum_records() -> tuple[list[dict], list[dict], list[dict], dict[int, int]]:
    """A teacher run of three rounds (40, 20, 20 steps) re-planning every 10 steps over two skills."""
    round_steps = {0: 40, 1: 20, 2: 20}
    curriculum, results, scores = [], [], []
    for r, steps in round_steps.items():
        for step in range(0, steps, 10):
            for skill in ("add", "sort"):
                for d in range(1, 4 + r):
                    count = 1 + (step // 10 + d + (skill == "sort")) % 4
                    curriculum.append({"round": r, "step": step, "skill": skill, "difficulty": d, "count": count})
                    trials = 8
                    successes = min(trials, max(0, trials - 2 * d + r + step // 10))
                    results.append(
                        {
                            "round": r,
                            "step": step,
                            "kind": "slice",
                            "skill": skill,
                            "difficulty": d,
                            "successes": successes,
                            "trials": trials,
                        }
                    )
                    scores.append({"round": r, "step": step, "key": f"{skill}:{d}", "value": successes / trials})
        for skill in ("add", "sort"):
            for d in range(1, 6):
                results.append(
                    {
                        "round": r,
                        "step": steps,
                        "kind": "evaluation",
                        "skill": skill,
                        "difficulty": d,
                        "successes": max(0, 50 - 10 * d + 5 * r),
                        "trials": 50,
                    }
                )
                results.append(
                    {
                        "round": r,
                        "step": 0,
                        "kind": "attempts",
                        "skill": skill,
                        "difficulty": d,
                        "successes": 3,
                        "trials": 4,
                    }
                )
            scores.append({"round": r, "step": steps, "key": skill, "value": 0.5 + 0.1 * r})
    return curriculum, results, scores, round_steps


def test_sampling_shares_sum_to_one_and_sit_on_the_global_axis() -> None:
    round_steps = {0: 10, 1: 8}
    curriculum = [
        {"round": 0, "step": 0, "skill": "add", "difficulty": 1, "count": 3},
        {"round": 0, "step": 0, "skill": "add", "difficulty": 2, "count": 1},
        {"round": 0, "step": 0, "skill": "sort", "difficulty": 1, "count": 4},
        {"round": 0, "step": 6, "skill": "add", "difficulty": 2, "count": 1},
        {"round": 0, "step": 6, "skill": "sort", "difficulty": 3, "count": 3},
        {"round": 1, "step": 0, "skill": "copy", "difficulty": 1, "count": 2},
        {"round": 1, "step": 0, "skill": "add", "difficulty": 5, "count": 0},
        {"round": 1, "step": 4, "skill": "add", "difficulty": 1, "count": 1},
        {"round": 1, "step": 4, "skill": "copy", "difficulty": 2, "count": 1},
        {"round": 1, "step": 4, "skill": "sort", "difficulty": 2, "count": 2},
    ]
    starts, ends, skills, shares = sampling_shares(curriculum[::-1], round_steps)  # input order does not matter
    assert skills == ["add", "copy", "sort"]
    # Round 1 starts after round 0's 10 steps; each block runs to the next one in its round or to the round's end.
    assert starts.tolist() == [0, 6, 10, 14]
    assert ends.tolist() == [6, 10, 14, 18]
    expected = np.array(
        [
            [0.5, 0.25, 0.0, 0.25],
            [0.0, 0.0, 1.0, 0.25],
            [0.5, 0.75, 0.0, 0.5],
        ]
    )
    np.testing.assert_allclose(shares, expected)
    np.testing.assert_allclose(shares.sum(axis=0), 1.0)


def test_sampling_shares_for_a_round_still_training_and_empty_input() -> None:
    curriculum = [
        {"round": 0, "step": 0, "skill": "add", "difficulty": 1, "count": 2},
        {"round": 1, "step": 0, "skill": "add", "difficulty": 1, "count": 1},
        {"round": 1, "step": 0, "skill": "sort", "difficulty": 1, "count": 3},
    ]
    # Round 1 has no recorded steps yet: it starts after round 0 and its block gets one step to stay visible.
    starts, ends, skills, shares = sampling_shares(curriculum, {0: 5})
    assert starts.tolist() == [0, 5]
    assert ends.tolist() == [5, 6]
    np.testing.assert_allclose(shares, [[1.0, 0.25], [0.0, 0.75]])

    starts, ends, skills, shares = sampling_shares([], {})
    assert starts.size == 0 and ends.size == 0 and skills == []
    assert shares.shape == (0, 0)


def test_skill_success_grid_places_values_pools_and_leaves_gaps() -> None:
    round_steps = {0: 10, 1: 8}

    def result(round_: int, step: int, kind: str, skill: str, difficulty: int, successes: int, trials: int) -> dict:
        return {
            "round": round_,
            "step": step,
            "kind": kind,
            "skill": skill,
            "difficulty": difficulty,
            "successes": successes,
            "trials": trials,
        }

    results = [
        result(0, 5, "slice", "sort", 1, 1, 4),
        result(0, 10, "evaluation", "add", 2, 3, 4),
        result(0, 10, "evaluation", "add", 10, 0, 4),
        result(1, 0, "slice", "add", 2, 1, 4),  # same global step as round 0's evaluation: pooled
        result(1, 0, "attempts", "add", 1, 4, 4),  # not shown
        result(1, 8, "evaluation", "sort", 1, 2, 2),
        result(1, 8, "evaluation", "sort", 2, 0, 0),  # no trials: ignored
    ]
    cells, steps, grid = skill_success_grid(results, round_steps)
    assert cells == [("add", 2), ("add", 10), ("sort", 1)]  # grouped by skill, difficulty numeric
    assert steps == [5, 10, 18]
    expected = np.array(
        [
            [np.nan, 0.5, np.nan],
            [np.nan, 0.0, np.nan],
            [0.25, np.nan, 1.0],
        ]
    )
    np.testing.assert_allclose(grid, expected)

    cells, steps, grid = skill_success_grid([result(0, 0, "attempts", "add", 1, 1, 1)], round_steps)
    assert cells == [] and steps == [] and grid.shape == (0, 0)


def test_teacher_score_lines_keep_the_keys_with_the_largest_maximum() -> None:
    round_steps = {0: 10, 1: 10}
    scores = [
        {"round": r, "step": step, "key": f"s:{k}", "value": k * (1 + r) + step / 100}
        for k in range(15)
        for r in (1, 0)
        for step in (10, 0)
    ]
    scores.append({"round": 0, "step": 0, "key": "nan", "value": float("nan")})
    lines, total = teacher_score_lines(scores, round_steps)
    assert total == 15
    assert [key for key, _, _ in lines] == [f"s:{k}" for k in range(3, 15)]
    key, x, y = lines[0]
    assert x.tolist() == [0, 10, 10, 20]
    np.testing.assert_allclose(y, [3.0, 3.1, 6.0, 6.1])

    lines, total = teacher_score_lines(scores[:8], round_steps)
    assert total == 2 and [key for key, _, _ in lines] == ["s:0", "s:1"]


def test_curriculum_plots_write_pngs_for_records_and_for_empty_input(tmp_path: Path) -> None:
    curriculum, results, scores, round_steps = _curriculum_records()
    share = _assert_drawn(plot_sampling_share(curriculum, round_steps, tmp_path / "share.png"))
    assert share.series["skills"] == ["add", "sort"]
    np.testing.assert_allclose(share.series["shares"].sum(axis=0), 1.0)
    success = _assert_drawn(plot_skill_success(results, round_steps, tmp_path / "success.png"))
    assert success.series["cells"][0] == ("add", 1) and success.series["grid"].shape[0] == 10
    teacher = _assert_drawn(plot_teacher_scores(scores, round_steps, tmp_path / "scores.png"))
    assert teacher.series["total"] == 2 * 5 + 2  # add:1..5 and sort:1..5 as cells, and each skill alone
    many = [
        {"round": 0, "step": s, "key": f"skill{k}:{d}", "value": k + d + s}
        for k in range(5)
        for d in range(4)
        for s in range(3)
    ]
    many_lines = _assert_drawn(plot_teacher_scores(many, {0: 3}, tmp_path / "many.png"))
    assert len(many_lines.series["lines"]) == 12 and many_lines.series["total"] == 20

    _assert_placeholder(plot_sampling_share([], {}, tmp_path / "share_empty.png"))
    _assert_placeholder(plot_skill_success([], {}, tmp_path / "success_empty.png"))
    _assert_placeholder(plot_teacher_scores([], {}, tmp_path / "scores_empty.png"))
    assert not list(tmp_path.glob("*.tmp"))


def test_large_success_heatmap_and_long_curriculum_draw_without_error(tmp_path: Path) -> None:
    round_steps = {r: 50 for r in range(30)}
    results = [
        {
            "round": r,
            "step": s,
            "kind": "slice",
            "skill": f"k{k}",
            "difficulty": d,
            "successes": (r + d) % 9,
            "trials": 8,
        }
        for r in range(30)
        for s in range(0, 50, 10)
        for k in range(3)
        for d in range(15)
    ]
    curriculum = [
        {"round": r, "step": s, "skill": f"k{k}", "difficulty": 1, "count": 1 + (r + k) % 3}
        for r in range(30)
        for s in range(0, 50, 25)
        for k in range(12)
    ]
    success = _assert_drawn(plot_skill_success(results, round_steps, tmp_path / "big.png"))
    assert success.series["grid"].shape == (45, 30 * 5)
    share = _assert_drawn(plot_sampling_share(curriculum, round_steps, tmp_path / "long.png"))
    assert len(share.series["skills"]) == 12 and share.series["starts"].size == 60


def test_write_report_shows_the_curriculum_plots(tmp_path: Path) -> None:
    data = _synthetic()
    data.curriculum, data.skill_results, data.teacher_scores, data.round_steps = _curriculum_records()
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    for name in PNGS + CURRICULUM_PNGS:
        _assert_png(tmp_path / name)
        assert f'src="{name}"' in page
    assert "<h2>Curriculum</h2>" in page
    assert page.index("<h2>Curriculum</h2>") < page.index(f'src="{SAMPLING_PNG}"')
    assert page.index(f'src="{SAMPLING_PNG}"') < page.index(f'src="{SUCCESS_PNG}"') < page.index(f'src="{TEACHER_PNG}"')
    assert not list(tmp_path.glob("*.tmp"))

    # Existing callers that do not pass the new fields still get the section, with placeholder images, except for
    # the sampling share, which has nothing to show without samples.
    empty = ReportData(run_id="empty", config_text="", complete=False, stop_reason=None)
    page = write_report(empty, tmp_path / "empty").read_text(encoding="utf-8")
    for name in (SUCCESS_PNG, TEACHER_PNG):
        _assert_png(tmp_path / "empty" / name)
        assert f'src="{name}"' in page
    assert not (tmp_path / "empty" / SAMPLING_PNG).exists() and SAMPLING_PNG not in page
    assert "Not drawn: sampling share per skill: one skill or none (no training samples recorded yet)." in page


def test_report_data_reads_the_curriculum_records(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "run.db", "run-1", {}, "")
    try:
        with store.transaction():
            store.add_train_metrics(0, 0, [1.0, 0.9, 0.8], [1e-3, 1e-3, 1e-3])
            store.add_curriculum(0, 0, {("add", 1): 3, ("sort", 2): 1})
            store.add_skill_results(0, 3, "evaluation", [("add", 1, 2, 4)])
            store.add_teacher_scores(0, 3, {"add:1": 0.25})
        data = report_data(store)
    finally:
        store.close()
    assert data.round_steps == {0: 3}
    assert {(row["skill"], row["difficulty"], row["count"]) for row in data.curriculum} == {
        ("add", 1, 3),
        ("sort", 2, 1),
    }
    assert [(row["kind"], row["successes"], row["trials"]) for row in data.skill_results] == [("evaluation", 2, 4)]
    assert [(row["key"], row["value"]) for row in data.teacher_scores] == [("add:1", 0.25)]


# --- what the report leaves out, and the accepted-vs-proposed scale ---------------------------------------------


def _one_skill_curriculum() -> list[dict]:
    return [{"round": r, "step": 0, "skill": "add", "difficulty": 1 + r, "count": 40} for r in range(3)]


def test_report_leaves_out_plots_with_nothing_to_show(tmp_path: Path) -> None:
    # A first report of a mix with the stopping rule on draws both plots...
    data = _synthetic()
    data.curriculum, _, _, data.round_steps = _curriculum_records()
    data.stop_decisions = [
        {"round": 0, "step": s, "budget": 40, "value": s / 40, "stop": False, "reason": "too early"} for s in (10, 20)
    ]
    drawn, left_out = draw_plots(data, tmp_path)
    # Without reward learning (GRPO, control, refine: tests/test_rewards_report.py) only its plots are left out.
    assert set(drawn) == set(PLOTS) - REWARD_PLOTS and set(left_out) == REWARD_PLOTS
    assert drawn["curves"].series["panels"][0].steps.tolist() == [10, 20]
    assert (tmp_path / CURVES_PNG).is_file() and (tmp_path / SAMPLING_PNG).is_file()

    # ...a finished single-skill run with stopping off leaves them out, removes the earlier files, and says why.
    data = _synthetic()
    data.complete = True
    data.curriculum, data.round_steps = _one_skill_curriculum(), {0: 40, 1: 20, 2: 20}
    page = write_report(data, tmp_path).read_text(encoding="utf-8")
    assert not (tmp_path / CURVES_PNG).exists() and not (tmp_path / SAMPLING_PNG).exists()
    assert CURVES_PNG not in page and SAMPLING_PNG not in page
    assert "<h3>Learning curves inside rounds</h3>" not in page and "<h3>Sampling share per skill</h3>" not in page
    assert "Not drawn: learning curves inside rounds: the stopping rule has measured nothing" in page
    assert "Not drawn: sampling share per skill: one skill or none (every training sample went to add)." in page
    drawn, left_out = draw_plots(data, tmp_path / "again")
    assert set(left_out) == {"curves", "sampling"} | REWARD_PLOTS
    assert set(drawn) == set(PLOTS) - {"curves", "sampling"} - REWARD_PLOTS
    assert sorted(path.name for path in (tmp_path / "again").iterdir()) == sorted(PLOTS[key].file for key in drawn)
    # What a finished run has data for is drawn, not the placeholder.
    for key in ("heatmap", "loss", "accepted", "lr"):
        _assert_drawn(drawn[key])


def test_accepted_vs_proposed_shows_shares_beside_round_0s_labelled_count(tmp_path: Path) -> None:
    rounds = [{"round": 0, "difficulty": 5, "proposed": 20_000, "accepted": 20_000, "label_accuracy": 1.0}]
    rounds += [
        {"round": r, "difficulty": 5 + r, "proposed": 1024, "accepted": 1024 - 128 * r, "label_accuracy": 1 - r / 100}
        for r in (1, 2, 3)
    ]
    rounds.append({"round": 4, "difficulty": 9, "proposed": 0, "accepted": 0, "label_accuracy": None})
    drawn = _assert_drawn(plot_accepted_vs_proposed(rounds, tmp_path / "accepted.png"))
    # Round 0 is a labelled count, not a bar on the axis the self-labelled rounds use.
    assert drawn.series["labelled"] == {0: 20_000}
    assert drawn.series["share"] == {1: 0.875, 2: 0.75, 3: 0.625}  # round 4 proposed nothing: no share
    assert drawn.series["accepted"] == {1: 896, 2: 768, 3: 640, 4: 0}
    assert drawn.series["proposed"] == {1: 1024, 2: 1024, 3: 1024, 4: 0}
    assert drawn.series["label_accuracy"] == pytest.approx({1: 0.99, 2: 0.98, 3: 0.97})  # round 0's is no measure
    assert drawn.title.startswith("Round 0: labelled problems; later rounds: self-labelled")


# --- one registry; what a new user found ------------------------------------------------------------------------


def test_the_page_lists_every_plot_once_and_each_has_its_own_file() -> None:
    parts = [part for section in PAGE for part in section.parts]
    plots = [part for part in parts if isinstance(part, Plot)]
    assert [plot.key for plot in plots] == list(PLOTS)  # each key once, in the page's order
    assert len({plot.file for plot in plots}) == len(plots) and all(plot.file.endswith(".png") for plot in plots)
    assert len({plot.heading for plot in plots}) == len(plots)
    assert len(parts) == len({id(part) for part in parts})


def _texts_outside(drawn: Drawn) -> list[str]:
    """The titles, axis labels and legend texts of a drawn figure that reach past its edges (cut off in the PNG)."""
    fig = drawn.figure
    renderer = fig.canvas.get_renderer()
    texts = [fig._suptitle, fig._supxlabel, fig._supylabel]
    for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)]:
        if legend is not None:
            texts += [*legend.get_texts(), legend.get_title()]
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
    outside = []
    for text in texts:
        if text is None or not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if box.x0 < -0.5 or box.y0 < -0.5 or box.x1 > fig.bbox.x1 + 0.5 or box.y1 > fig.bbox.y1 + 0.5:
            outside.append(text.get_text())
    return outside


def test_titles_labels_and_legends_stay_inside_every_figure(tmp_path: Path) -> None:
    data = _synthetic()
    data.curriculum, data.skill_results, data.teacher_scores, data.round_steps = _curriculum_records()
    data.stop_decisions = [
        {"round": r, "step": s, "budget": 40, "value": s / 50, "current": s / 50, "mean": 0.9, "low": 0.8,
         "high": 0.95, "stop": s == 30, "reason": "predicted gain below epsilon"}
        for r in (0, 1) for s in (10, 20, 30, 40)
    ]  # fmt: skip
    drawn, _ = draw_plots(data, tmp_path)
    assert set(drawn) == set(PLOTS) - REWARD_PLOTS
    for key, figure in drawn.items():
        assert _texts_outside(figure) == [], key
    # The accepted plot of a run with one self-labelled round is narrow: its long title used to run off both sides.
    narrow = plot_accepted_vs_proposed(data.rounds[:2], tmp_path / "narrow.png")
    assert narrow.figure.get_figwidth() <= 6.0 and _texts_outside(narrow) == []
    long_task = [_evaluation(0, 1, 0.5, task="a-task-with-a-name-long-enough-to-push-the-title-out")]
    assert _texts_outside(plot_accuracy_heatmap(long_task, tmp_path / "long.png")) == []


def test_the_loss_plot_leaves_the_learning_rate_to_its_own_plot(tmp_path: Path) -> None:
    data = _synthetic()
    drawn, _ = draw_plots(data, tmp_path)
    loss, lr = drawn["loss"], drawn["lr"]
    assert len(loss.figure.axes) == 1 and "lr" not in loss.series
    assert "learning rate" not in loss.figure.axes[0].get_ylabel()
    np.testing.assert_allclose(lr.series["lr"][:2], [1e-3, 1e-3 * (1 - 1 / 40)])  # drawn once, there


@pytest.mark.parametrize(
    ("teacher", "what"),
    [("ladder", "frontier difficulty"), ("progress", "learning progress"), ("ucb", "UCB score"), (None, "score")],
)
def test_teacher_values_are_named_for_what_they_are(tmp_path: Path, teacher: str | None, what: str) -> None:
    """The ladder records each skill's frontier difficulty, not a score: the plot says so."""
    scores = [{"round": 0, "step": s, "key": "add", "value": 1 + s // 10} for s in (0, 10, 20)]
    drawn = plot_teacher_scores(scores, {0: 30}, tmp_path / "teacher.png", teacher)
    assert drawn.series["what"].startswith(what) and what in drawn.title
    assert drawn.figure.axes[0].get_ylabel() == what
    assert ("score" in drawn.title) == (teacher in ("ucb", None))
    data = _synthetic()
    data.teacher_scores, data.teacher = scores, teacher
    page = write_report(data, tmp_path / "page").read_text(encoding="utf-8")
    assert "<h3>What the teacher tracks</h3>" in page and "frontier difficulty" in page


@pytest.mark.parametrize(("reach", "expected"), [([0, 0, 0, 0], (0, 1)), ([3, 3, 3, 3], (0, 3.5))])
def test_the_sweeps_reach_is_drawn_on_a_whole_number_axis(tmp_path: Path, reach: list[int], expected) -> None:
    """Every seed reaching the same difficulty used to give an axis of -0.04 to 0.04."""
    rows = [
        {"name": f"train.lr={lr}", "reach": {"median": reach[0], "min": reach[0], "max": reach[0], "values": reach[:2]}}
        for lr in (0.003, 0.01)
    ]
    label = "reach (largest difficulty at >= 90%), a label long enough to be wrapped"
    drawn = plot_spread(rows, "reach", label, tmp_path / "reach.png", integer=True)
    ax = drawn.figure.axes[0]
    assert ax.get_ylim() == pytest.approx(expected)
    ticks = [t for t in ax.get_yticks() if expected[0] <= t <= expected[1]]
    assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks)
    assert _texts_outside(drawn) == [] and drawn.series["values"] == {r["name"]: reach[:2] for r in rows}


def _store_with_attempts(path: Path) -> None:
    """Rounds 0 (labelled) to 4; rounds 1-4 propose four problems each, four attempts apiece, the code task's
    programs and feedback included; problem 0 of a round is accepted, 1 is not, 2 is accepted with a wrong attempt."""
    store = Store.create(path, "run-examples", {"teacher": {"kind": "ladder"}}, "")
    try:
        for round_ in range(5):
            store.start_round(round_, None if round_ == 0 else round_ + 1)
            with store.transaction():
                problems = [
                    Problem("code", round_ + 1, f"def f{k}(xs): <round {round_}>", None if k else f"t{k}", k)
                    for k in range(4)
                ]
                store.add_problems(round_, "train", problems)
                if round_ == 0:
                    continue
                ids = [stored.id for stored in store.problems(round_, "train")]
                attempts = [(pid, 0, s, f"return xs[{s}] < 1 & '<b>'") for pid in ids for s in range(5)]
                store.add_attempts(attempts)
                store.score_attempts(
                    (pid, 0, s, 0.5 * (s % 3), f"assert failed: {s} <script>", int(k == 0 or (k == 2 and s > 0)))
                    for k, pid in enumerate(ids)
                    for s in range(5)
                )
                verdicts = [Verdict(f"answer <{k}>" if k in (0, 2) else None, 0.8) for k in range(4)]
                store.add_verdicts(round_, [(pid, v, None) for pid, v in zip(ids, verdicts, strict=True)])
    finally:
        store.close()


def test_the_report_shows_example_problems_attempts_and_verdicts(tmp_path: Path) -> None:
    _store_with_attempts(tmp_path / "run.db")
    reader = Reader.open(tmp_path / "run.db")
    try:
        data = report_data(reader)
    finally:
        reader.close()
    shown = data.sample_problems
    assert sorted({case["round"] for case in shown}) == [1, 3, 4]  # the first, a middle and the last round
    assert [case["prompt"] for case in shown if case["round"] == 1] == [f"def f{k}(xs): <round 1>" for k in range(3)]
    first, second, third = shown[:3]
    assert (first["accepted"], first["answer"], first["target"]) == (True, "answer <0>", "t0")
    assert (second["accepted"], second["answer"], second["target"]) == (False, None, None)
    assert third["accepted"] and [a["correct"] for a in third["attempts"]] == [0, 1, 1, 1]
    assert len(first["attempts"]) == 4 and first["attempts_total"] == 5
    assert first["attempts"][2] == {
        "model": 0,
        "sample": 2,
        "text": "return xs[2] < 1 & '<b>'",
        "reward": 1.0,
        "feedback": "assert failed: 2 <script>",
        "correct": 1,
    }
    page = write_report(data, tmp_path / "report").read_text(encoding="utf-8")
    section = page[page.index("<h2>Example problems</h2>") : page.index("<h2>Config</h2>")]
    assert section.count("<h3>Round ") == len(shown) == 9
    assert "<pre>def f0(xs): &lt;round 1&gt;</pre>" in section
    assert "<pre>return xs[2] &lt; 1 &amp; &#x27;&lt;b&gt;&#x27;</pre>" in section
    assert "<pre>assert failed: 2 &lt;script&gt;</pre>" in section and "<script>" not in page
    assert "Verdict: accepted, this answer as the label:</p>\n<pre>answer &lt;0&gt;</pre>" in section
    assert "Verdict: no answer accepted." in section and "and 1 more attempts" in section
    empty = ReportData(run_id="empty", config_text="", complete=False, stop_reason=None)
    assert "No self-labelled attempts recorded yet." in write_report(empty, tmp_path / "empty").read_text()


@pytest.mark.parametrize(
    ("accuracy", "expected"),
    [
        ({1: 1.0, 2: 0.96, 3: 0.5, 4: 1.0}, (2, 3)),
        ({1: 1.0, 2: 1.0, 4: 1.0}, (2, 3)),  # a gap ends mastery: 3 was never measured
        ({2: 0.9, 3: 1.0}, (None, 2)),  # the lowest measured is not mastered: it is the frontier
        ({5: 1.0, 6: 1.0, 7: 1.0, 8: 1.0}, (8, 9)),
        ({}, (None, None)),
    ],
)
def test_mastered_and_frontier_cannot_disagree(accuracy: dict[int, float], expected: tuple) -> None:
    mastered, frontier = mastery(accuracy)
    assert (mastered, frontier) == expected
    assert mastered is None or frontier == mastered + 1


def test_status_json_says_what_each_skill_number_means(tmp_path: Path) -> None:
    """A skill evaluated beyond what it trained on: mastered up to 8, trained up to 7. Status used to call 7 the
    frontier beside mastered 8; now the frontier is 9, and the trained difficulty has a name of its own."""
    store = Store.create(tmp_path / "run.db", "run-1", {}, "")
    try:
        store.start_round(0, None)
        with store.transaction():
            examples = [Example(f"{d}+{d}=", str(2 * d), d, "labelled", 0, task="add") for d in range(5, 8)]
            store.add_examples(0, examples)
            store.add_skill_results(0, 10, "evaluation", [("add", d, 10, 10) for d in range(5, 9)])
            store.add_skill_results(0, 10, "evaluation", [("add", 9, 3, 10)])
        status = run_status(store)
    finally:
        store.close()
    skill = status["skills"]["add"]
    assert (skill["mastered"], skill["frontier"], skill["trained_up_to"]) == (8, 9, 7)
    assert set(status["skill_fields"]) >= {"mastered", "frontier", "trained_up_to"}
    assert "mastered + 1" in status["skill_fields"]["frontier"]
