"""A round's step budget: train.round_tokens keeps the padded tokens of a self-labelled round flat."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftaught.config import Experiment
from selftaught.run import budget as planning
from selftaught.store import Store
from selftaught.types import Example


def _example(digits: int, r: int) -> Example:
    prompt = f"{'1' * digits}+{'2' * digits}="
    return Example(prompt, "3" * digits, digits, "self", r, "reversed-addition")


@pytest.fixture
def store(tmp_path: Path):
    s = Store.create(tmp_path / "run.db", "run-budget", {}, "")
    yield s
    s.close()


def _exp(**train) -> Experiment:
    return Experiment.model_validate({"train": {"batch_size": 10, "labelled_steps": 50, "round_steps": 300, **train}})


def test_round_tokens_scale_steps_by_the_longest_example(store: Store) -> None:
    store.add_examples(1, [_example(4, 1), _example(9, 1)])  # longest: 9 + 1 + 9 + 1 + 9 + 1 = 30 characters
    store.add_examples(2, [_example(99, 2)])  # 300 characters
    exp = _exp(round_tokens=30_000)
    assert planning.round_steps(exp, store, 0) == 50  # round 0 keeps labelled_steps
    assert planning.round_steps(exp, store, 1) == 100  # 30,000 / (10 x 30)
    assert planning.round_steps(exp, store, 2) == 10  # 30,000 / (10 x 300)
    assert planning.round_steps(exp, store, 3) == 300  # no examples: round_steps
    assert planning.round_steps(_exp(round_tokens=10**9), store, 1) == 300  # never above round_steps
    assert planning.round_steps(_exp(round_tokens=1), store, 2) == 1  # never below one step
    assert planning.round_steps(_exp(), store, 2) == 300  # off by default
    assert planning.budget(exp, store, 2) == 10


def test_carried_steps_count_against_the_scaled_budget(store: Store) -> None:
    store.add_examples(1, [_example(99, 1)])
    store.add_examples(2, [_example(99, 2)])
    store.add_train_metrics(1, 0, [1.0] * 6, [0.1] * 6)  # 6 of its 10 steps used
    exp = _exp(round_tokens=30_000).model_copy(
        update={"stop": Experiment.model_validate({"stop": {"every": 2, "carry": 1.0}}).stop}
    )
    assert planning.budget(exp, store, 2) == 10 + 4  # what round 1 left of its own 10, not of round_steps
