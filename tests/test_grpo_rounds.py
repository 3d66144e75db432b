"""GRPO rounds: num_iterations honoured (steps per batch of rollouts, old log-probabilities fixed across the passes,
none computed at one pass), offline passes over the round's records, GRPO's own learning rate, and the best
held-out weights kept (the checkpoint holds them) with the stopping rule ending a round early."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from selftaught.cli import main
from selftaught.run.updates import grpo as grpo_update
from selftaught.run.updates import grpo_batches
from selftaught.teachers import Outcome
from selftaught.training import grpo

from support import rows

HERE = Path(__file__).resolve()
OVERLAP = f'train.grpo.reward="{HERE.with_name("test_grpo.py")}:overlap"'
# One GRPO round of 8 steps over 16 problems in groups of 4, a constant learning rate from the first step.
FAST = ["loop.labelled_problems=100", "train.labelled_steps=20", "train.round_steps=8", "loop.problems_per_round=16",
        "eval.problems=4", "eval.slice=4", "verifier.samples=4", "train.grpo.groups=4", "loop.max_rounds=1",
        'train.method="grpo"', 'train.schedule="constant"', "train.warmup=0.0", "train.grpo.lr=0.01", OVERLAP,
        "train.grpo.eval_every=0"]  # fmt: skip


def run(run_dir: Path, *sets: str) -> None:
    out = ["run", "--out", str(run_dir), "--preset", "smoke"]
    for s in (*FAST, *sets):
        out += ["--set", s]
    assert main(out) == 0


def series(run_dir: Path, name: str) -> dict[int, float]:
    return dict(rows(run_dir, "SELECT step, value FROM train_series WHERE round = 1 AND name = ?", (name,)))


@pytest.fixture
def spied(monkeypatch):
    """Every batch trained on (its step's ``old`` log-probabilities) and every call for log-probabilities."""
    seen = {"old": [], "logps": 0}
    backward, logps = grpo.backward, grpo_batches.logps

    def spy_backward(policy, batch, *a, **kw):
        seen["old"].append(batch.old)
        return backward(policy, batch, *a, **kw)

    def spy_logps(*a, **kw):
        seen["logps"] += 1
        return logps(*a, **kw)

    monkeypatch.setattr(grpo, "backward", spy_backward)
    monkeypatch.setattr(grpo_batches, "logps", spy_logps)
    return seen


# ------------------------------------------------------------------------------------------ num_iterations
def test_num_iterations_trains_each_batch_of_rollouts_that_many_steps_with_fixed_old_logprobs(tmp_path, spied):
    run_dir = tmp_path / "run"
    run(run_dir, "train.grpo.num_iterations=3")
    assert rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 1") == [(8,)]
    # Sampled once per 3 optimiser steps (the last batch cut by the budget).
    assert [s for (s,) in rows(run_dir, "SELECT DISTINCT step FROM rollouts ORDER BY step")] == [0, 3, 6]
    assert spied["logps"] == 3  # the sampling weights' log-probabilities: once per batch of rollouts
    old = spied["old"]
    assert len(old) == 8 and all(o is not None for o in old)
    for first, later in ((0, 1), (0, 2), (3, 4), (3, 5), (6, 7)):  # the passes over one batch share them
        assert old[later] is old[first]
    assert old[3] is not old[0] and old[6] is not old[3]
    ratio = series(run_dir, "ratio")
    assert [ratio[s] for s in (0, 3, 6)] == pytest.approx([1.0] * 3, abs=1e-5)  # the weights that sampled
    assert all(abs(ratio[s] - 1.0) > 1e-6 for s in (1, 2, 4, 5, 7))  # then the weights moved, the old stayed


def test_one_pass_spends_no_forward_pass_on_old_logprobs(tmp_path, spied):
    run_dir = tmp_path / "run"
    run(run_dir)  # num_iterations = 1, beta = 0: the defaults
    assert [s for (s,) in rows(run_dir, "SELECT DISTINCT step FROM rollouts ORDER BY step")] == list(range(8))
    assert spied["logps"] == 0 and spied["old"] == [None] * 8
    assert set(series(run_dir, "ratio").values()) == {1.0} and set(series(run_dir, "kl").values()) == {0.0}


def test_offline_rounds_pass_over_their_records_num_iterations_times(tmp_path):
    run_dir = tmp_path / "run"
    run(run_dir, "train.grpo.on_policy=false")
    # One pass: 16 problems in steps of 4 groups is 4 steps of the 8 budgeted; each attempt trained on once.
    assert rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 1") == [(4,)]
    assert rows(run_dir, "SELECT budget FROM rounds WHERE round = 1") == [(4,)]
    assert rows(run_dir, "SELECT SUM(count) FROM curriculum WHERE round = 1") == [(16 * 4,)]
    assert rows(run_dir, "SELECT COUNT(*) FROM rollouts") == [(0,)]
    assert series(run_dir, "groups") == {0: 4.0, 1: 4.0, 2: 4.0, 3: 4.0}


def test_grpo_rounds_learn_at_their_own_rate(tmp_path):
    run_dir = tmp_path / "run"
    run(run_dir, "train.grpo.lr=0.002", "train.round_lr=0.5")  # round_lr is the supervised rounds'
    assert [lr for (lr,) in rows(run_dir, "SELECT lr FROM train_metrics WHERE round = 1")] == pytest.approx([0.002] * 8)


# ------------------------------------------------------------------------------------------- keep the best
class Scripted:
    """A held-out slice whose accuracy follows a script, call by call; it keeps the weights each call measured."""

    def __init__(self, accuracies: list[float]) -> None:
        self.accuracies, self.weights = accuracies, []

    def __call__(self, ctx, cells):
        student = ctx.parts.students[0]
        self.weights.append({k: v.detach().clone() for k, v in student.trainable().state_dict().items()})
        value = self.accuracies[len(self.weights) - 1]
        skill, d = sorted(cells)[0]
        return [Outcome(skill, d, int(round(value * 20)), 20, "slice")]


def test_the_best_held_out_weights_are_kept_not_the_last(tmp_path, monkeypatch):
    slice_ = Scripted([0.25, 0.75, 0.5, 0.25])  # measured after 0, 3, 6 and 8 steps: the best is after 3
    monkeypatch.setattr(grpo_update, "measure_slice", slice_)
    run_dir = tmp_path / "run"
    run(run_dir, "train.grpo.eval_every=3")
    assert rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 1") == [(8,)]
    assert series(run_dir, "slice_accuracy") == {0: 0.25, 3: 0.75, 6: 0.5, 8: 0.25}
    assert series(run_dir, "kept") == {3: 0.75}
    saved = torch.load(run_dir / "checkpoints/round-001/model-0/model.pt", weights_only=True)
    best, last = slice_.weights[1], slice_.weights[3]
    assert all(torch.equal(saved[k], best[k]) for k in best)
    assert any(not torch.equal(saved[k], last[k]) for k in last)
    # Every measurement is recorded: the stopping rule's decisions and the slice's counts.
    decided = rows(run_dir, "SELECT step, value, stop FROM stop_decisions WHERE round = 1 ORDER BY step")
    assert decided == [(3, 0.75, 0), (6, 0.5, 0), (8, 0.25, 0)]
    counted = rows(run_dir, "SELECT step, successes, trials FROM skill_results WHERE round = 1 AND kind = 'slice'")
    assert sorted(counted) == [(0, 5, 20), (3, 15, 20), (6, 10, 20), (8, 5, 20)]


def test_the_stopping_rule_ends_a_grpo_round_early(tmp_path, monkeypatch):
    slice_ = Scripted([0.25, 0.25, 0.75, 0.75, 0.75])
    monkeypatch.setattr(grpo_update, "measure_slice", slice_)
    run_dir = tmp_path / "run"
    run(run_dir, "train.grpo.eval_every=2", "stop.target=0.7", "stop.cooldown=0.0")
    decided = rows(run_dir, "SELECT step, stop, reason FROM stop_decisions WHERE round = 1 ORDER BY step")
    assert decided == [(2, 0, "too early"), (4, 1, "target reached")]
    assert rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE round = 1") == [(4,)]
    assert series(run_dir, "kept") == {4: 0.75}
