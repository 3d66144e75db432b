"""The report's best-against-final plot of GRPO's kept weights: the rounds read from ``train_series`` (each round's
slice measurements, its last and its kept one), the plot's file and numbers, left out with a reason on a run without
them, ``status``'s line per round, and a tiny GRPO run whose report draws it."""

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
from selftaught.report import PLOTS, ReportData, draw_plots, write_report
from selftaught.report.kept_plot import kept_rounds, plot_kept
from selftaught.report.status import learning_lines, report_data, run_status
from selftaught.store import Reader, Store

from support import rows

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEPT_PNG = PLOTS["kept"].file
HERE = Path(__file__).resolve()
# One GRPO round of 6 steps after a short supervised round 0, the slice measured every 2 steps (and at 0 and 6).
TINY = ["loop.labelled_problems=64", "train.labelled_steps=6", "train.round_steps=6", "loop.problems_per_round=8",
        "eval.problems=4", "eval.slice=4", "verifier.samples=4", "train.grpo.groups=2", "loop.max_rounds=1",
        'train.method="grpo"', "train.grpo.eval_every=2",
        f'train.grpo.reward="{HERE.with_name("test_grpo.py")}:overlap"']  # fmt: skip


def _series(round_: int, values: dict[int, float | None], kept: tuple[int, float] | None) -> list[dict]:
    out = [{"round": round_, "step": s, "name": "slice_accuracy", "value": v} for s, v in values.items()]
    out += [{"round": round_, "step": 0, "name": "reward_mean", "value": 0.5}]  # another series: not read
    if kept is not None:
        out.append({"round": round_, "step": kept[0], "name": "kept", "value": kept[1]})
    return out


# Round 1 ends in a dip (best after 4 of 8 steps); round 2 ends on its best; round 3 measured nothing it could keep.
ROWS = [
    *_series(1, {8: 0.5, 0: 0.25, 4: 0.75}, (4, 0.75)),  # out of order: read in step order
    *_series(2, {0: 0.5, 3: 0.5, 6: 1.0}, (6, 1.0)),
    *_series(3, {0: None, 2: None}, None),
    {"round": 4, "step": 0, "name": "kept", "value": 0.9},  # a kept row without measurements: no round
]
STEPS = {0: 10, 1: 8, 2: 6, 3: 2}


def test_kept_rounds_reads_each_round_s_measurements_last_and_kept() -> None:
    per_round = kept_rounds(ROWS)
    assert list(per_round) == [1, 2, 3]
    assert per_round[1] == {"steps": [0, 4, 8], "values": [0.25, 0.75, 0.5], "final": (8, 0.5), "kept": (4, 0.75)}
    assert per_round[2] == {"steps": [0, 3, 6], "values": [0.5, 0.5, 1.0], "final": (6, 1.0), "kept": (6, 1.0)}
    third = per_round[3]
    assert third["steps"] == [0, 2] and third["kept"] is None
    assert all(math.isnan(v) for v in third["values"]) and third["final"][0] == 2 and math.isnan(third["final"][1])
    assert kept_rounds([]) == {} and kept_rounds(_series(1, {}, (0, 0.5))) == {}


def test_the_plot_draws_the_measurements_on_global_steps_and_the_paired_values(tmp_path: Path) -> None:
    drawn = plot_kept(ROWS, STEPS, tmp_path / KEPT_PNG)
    assert drawn.path == tmp_path / KEPT_PNG and drawn.path.read_bytes()[:8] == PNG_SIGNATURE
    assert not drawn.empty and drawn.title == "Best against final held-out accuracy (GRPO)"
    series = drawn.series
    assert series["rounds"] == [1, 2, 3]
    # Round 1 starts after round 0's 10 steps, round 2 after 18, round 3 after 24.
    assert series["x"][1].tolist() == [10, 14, 18] and series["x"][2].tolist() == [18, 21, 24]
    assert series["x"][3].tolist() == [24, 26] and series["boundaries"] == [10, 18, 24]
    assert series["values"][1] == [0.25, 0.75, 0.5] and series["values"][2] == [0.5, 0.5, 1.0]
    assert series["final"][1] == (8, 0.5) and series["final"][2] == (6, 1.0)
    assert series["kept"] == {1: (4, 0.75), 2: (6, 1.0), 3: None}
    # Left: one line per round; right: the final and the kept bars, NaN where nothing was kept.
    ax_line, ax_bars = drawn.figure.axes
    labels = [line.get_label() for line in ax_line.get_lines()]
    assert [label for label in labels if label.startswith("round")] == ["round 1", "round 2", "round 3"]
    heights = [p.get_height() for p in ax_bars.patches]
    assert heights == pytest.approx([0.5, 1.0, math.nan, 0.75, 1.0, math.nan], nan_ok=True)
    assert [t.get_text() for t in ax_bars.get_xticklabels()] == ["1", "2", "3"]
    assert ax_line.yaxis.get_major_formatter()(0.5, 0) == "50%"


def test_the_plot_without_round_steps_lays_rounds_by_their_last_measurement(tmp_path: Path) -> None:
    series = plot_kept(ROWS[:10], {}, tmp_path / "k.png").series  # rounds 1 and 2 only
    assert series["x"][1].tolist() == [0, 4, 8] and series["x"][2].tolist() == [8, 11, 14]
    assert series["boundaries"] == [8]
    assert plot_kept([], {}, tmp_path / "none.png").empty
    assert plot_kept(_series(1, {}, None), {}, tmp_path / "none2.png").empty


def _data(train_series: list[dict]) -> ReportData:
    return ReportData(run_id="r", config_text="", complete=True, stop_reason=None, train_series=train_series)


def test_the_plot_is_left_out_with_a_reason_without_slice_measurements(tmp_path: Path) -> None:
    assert PLOTS["kept"].left_out(_data(ROWS)) is None
    no_slice = [{"round": 1, "step": 0, "name": "reward_mean", "value": 0.5}]
    for rows_ in ([], no_slice):
        reason = PLOTS["kept"].left_out(_data(rows_))
        assert reason is not None and "train.grpo.eval_every" in reason
    (tmp_path / KEPT_PNG).write_bytes(PNG_SIGNATURE)  # drawn by an earlier report: removed
    page = write_report(_data(no_slice), tmp_path).read_text(encoding="utf-8")
    assert not (tmp_path / KEPT_PNG).exists() and KEPT_PNG not in page
    assert "Not drawn: best against final held-out accuracy per round: no held-out slice measured" in page
    # On the page it follows the rewards plot, in the section of learning from rewards.
    assert list(PLOTS)[-4:] == ["rewards", "kept", "control", "refine"]


def test_status_lines_say_the_kept_step_against_the_final_value() -> None:
    st = {
        "kept": [
            {"round": 1, "kept_step": 4, "kept": 0.75, "final_step": 8, "final": 0.5},
            {"round": 2, "kept_step": None, "kept": None, "final_step": 2, "final": None},
        ]
    }
    assert learning_lines(st) == [
        "round 1: kept step 4 at 75% (final 50%)",
        "round 2: no slice accuracy to keep (final -)",
    ]
    assert learning_lines({"kept": []}) == []
    # The text view lists the newest rounds only; --json keeps every one.
    many = {"kept": [{"round": r, "kept_step": 2, "kept": 0.5, "final_step": 4, "final": 0.25} for r in range(1, 9)]}
    assert learning_lines(many) == [f"round {r}: kept step 2 at 50% (final 25%)" for r in (6, 7, 8)]


@pytest.fixture(scope="module")
def grpo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("best") / "run"
    args = ["run", "--out", str(run_dir), "--preset", "smoke"]
    for s in TINY:
        args += ["--set", s]
    assert main(args) == 0
    return run_dir


def _records(run_dir: Path) -> tuple[dict[int, float], tuple[int, float], int]:
    """Round 1's slice accuracy by step, its one kept (step, value) and the steps it trained, from the store."""
    measured = rows(run_dir, "SELECT step, value FROM train_series WHERE round = 1 AND name = 'slice_accuracy'")
    (kept,) = rows(run_dir, "SELECT step, value FROM train_series WHERE round = 1 AND name = 'kept'")
    ((trained,),) = rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 1 AND model = 0")
    return dict(measured), kept, trained


def test_a_grpo_run_s_report_draws_its_kept_weights(grpo_run: Path, tmp_path: Path) -> None:
    measured, kept, trained = _records(grpo_run)
    every = sorted({*range(0, trained, 2), trained})  # at the start, every 2 steps and where training ended
    assert trained > 0 and sorted(measured) == every
    store = Reader.open(grpo_run / "run.db")
    try:
        data = report_data(store)
    finally:
        store.close()
    drawn, left_out = draw_plots(data, tmp_path)
    assert "kept" not in left_out
    series = drawn["kept"].series
    assert series["rounds"] == [1]
    assert series["steps"][1] == every and series["values"][1] == [measured[s] for s in every]
    assert series["final"][1] == (trained, measured[trained]) and series["kept"][1] == kept
    # The kept weights are the best measured, the later of equals.
    best = max(measured.values())
    assert kept == (max(s for s, v in measured.items() if v == best), best)
    np.testing.assert_array_equal(series["x"][1], [data.round_steps[0] + s for s in every])

    assert main(["report", str(grpo_run)]) == 0
    page = (grpo_run / "report" / "report.html").read_text(encoding="utf-8")
    assert (grpo_run / "report" / KEPT_PNG).read_bytes()[:8] == PNG_SIGNATURE
    assert f'src="{KEPT_PNG}"' in page and "<h3>Best against final held-out accuracy per round</h3>" in page
    assert page.index('src="rewards.png"') < page.index(f'src="{KEPT_PNG}"')


def test_a_grpo_run_s_status_gives_the_kept_step_and_the_final_value(grpo_run: Path, monkeypatch, capsys) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(status_command, "out", Console(file=buffer, width=80))
    capsys.readouterr()
    assert main(["status", str(grpo_run), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    measured, (kept_step, kept), trained = _records(grpo_run)
    final = measured[trained]
    assert st["kept"] == [{"round": 1, "kept_step": kept_step, "kept": kept, "final_step": trained, "final": final}]
    assert main(["status", str(grpo_run)]) == 0
    line = f"round 1: kept step {kept_step} at {kept:.0%} (final {final:.0%})"
    assert line in buffer.getvalue().splitlines()


def test_a_store_without_grpo_has_no_kept_status(tmp_path: Path) -> None:
    store = Store.create(tmp_path / "run.db", "run-plain", {"name": "plain"}, 'name = "plain"\n')
    try:
        store.start_round(0, None)
        with store.phase(0, "TRAIN"):
            store.add_train_metrics(0, 0, [1.0, 0.5], [1e-3, 1e-3])
    finally:
        store.close()
    reader = Reader.open(tmp_path / "run.db")
    try:
        assert run_status(reader)["kept"] == []
        assert PLOTS["kept"].left_out(report_data(reader)) is not None
    finally:
        reader.close()
