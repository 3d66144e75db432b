"""GRPO's per-step series reach a live tracker (LoopCallback.on_train_series): TensorBoard gets every train_series
row as train/<name> on the run's global step axis, as export writes it from the store."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from selftaught.cli import main  # noqa: E402
from selftaught.config import load_experiment  # noqa: E402
from selftaught.experiments.tracking import TensorBoardTracker  # noqa: E402
from selftaught.run.loop import Loop  # noqa: E402

from support import rows  # noqa: E402

HERE = Path(__file__).resolve()
SETS = ["loop.labelled_problems=64", "train.labelled_steps=6", "train.round_steps=4", "loop.problems_per_round=8",
        "eval.problems=4", "eval.slice=4", "verifier.samples=4", "train.grpo.groups=2", "loop.max_rounds=1",
        'train.method="grpo"', "train.grpo.eval_every=2",
        f'train.grpo.reward="{HERE.with_name("test_grpo.py")}:overlap"']  # fmt: skip


def scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: sorted((e.step, e.value) for e in acc.Scalars(tag)) for tag in acc.Tags()["scalars"]}


def test_a_live_tensorboard_tracker_gets_grpo_s_series(tmp_path):
    exp, text = load_experiment(None, "smoke", SETS)
    with Loop.create(tmp_path / "run", exp, text, callbacks=[TensorBoardTracker(tmp_path / "tb")]) as loop:
        loop.run()
        run_id = loop.store.run_id
    run_dir = tmp_path / "run"
    live = scalars(tmp_path / "tb" / run_id)
    offset = rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 0 AND model = 0")[0][0]
    stored = rows(run_dir, "SELECT step, name, value FROM train_series WHERE round = 1 AND value IS NOT NULL")
    names = {name for _, name, _ in stored}
    assert {"reward_mean", "kl", "ratio", "zero_var_share", "slice_accuracy", "kept"} <= names
    for name in names:
        want = sorted((offset + step, value) for step, n, value in stored if n == name)
        got = live[f"train/{name}"]
        assert [s for s, _ in got] == [s for s, _ in want], name
        assert [v for _, v in got] == pytest.approx([v for _, v in want], rel=1e-6, abs=1e-7), name
    # What the tracker got live is what export writes from the store afterwards.
    assert main(["export", str(run_dir), "--tensorboard", str(tmp_path / "export")]) == 0
    exported = scalars(tmp_path / "export" / run_id)
    assert {k: v for k, v in live.items() if k.startswith("train/")} == {
        k: v for k, v in exported.items() if k.startswith("train/")
    }
