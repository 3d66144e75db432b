"""Training with a moving average of the weights (``train.average``): the average's arithmetic, the student
answering with it in the middle of ``fit`` and ending with it when stopped early, and training itself left
unchanged by it."""

from __future__ import annotations

import string

import pytest
import torch

from selftaught.config import Experiment
from selftaught.run.build import build_student
from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.training.averaging import WeightAverage
from selftaught.training.schedules import Constant
from selftaught.training.trainer import OptimConfig
from selftaught.types import Example

pytestmark = pytest.mark.usefixtures("one_thread")
LETTERS = string.ascii_lowercase[:6]
EXAMPLES = [Example(f"{c}{d}=", d + c, 1, "labelled", 0, "copy") for c in LETTERS for d in LETTERS]
PROMPTS = [f"{c}{d}=" for c in LETTERS[:3] for d in LETTERS]


def student(average: float = 0.0) -> GPTStudent:
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, block_size=32)
    return GPTStudent(cfg, OptimConfig(lr=3e-2, average=average), batch_size=8, device="cpu", init_seed=3)


def flat(s: GPTStudent) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in s.model.parameters() if p.requires_grad])


def ema(trajectory: list[torch.Tensor], decay: float) -> torch.Tensor:
    """The average by hand: start at the first weights, then lerp towards each step's weights."""
    avg = trajectory[0].clone()
    for n, w in enumerate(trajectory[1:], start=1):
        avg = avg + (1.0 - min(decay, (1 + n) / (10 + n))) * (w - avg)
    return avg


def test_weight_average_follows_the_formula_and_swaps_back() -> None:
    layer = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    avg = WeightAverage(layer, decay=0.5)
    for value in (1.0, 1.0, 3.0):
        with torch.no_grad():
            layer.weight.fill_(value)
        avg.update()
    # weights 0 | 1 | 1 | 3, the new weights' share 1 - min(0.5, (1 + n) / (10 + n)): 9/11, 3/4, 9/13
    after1 = 9 / 11
    after2 = after1 + 3 / 4 * (1.0 - after1)
    expected = after2 + 9 / 13 * (3.0 - after2)
    assert avg.average[0][0, 0].item() == pytest.approx(expected)
    with avg.swapped():
        assert layer.weight[0, 0].item() == pytest.approx(expected)
    assert layer.weight[0, 0].item() == 3.0  # its own weights back
    avg.apply()
    assert layer.weight[0, 0].item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="decay=1.0"):
        WeightAverage(layer, 1.0)


def test_fit_answers_with_the_average_mid_fit_and_a_stopped_fit_ends_with_it() -> None:
    decay, steps, probe = 0.8, 30, 12
    # Without an average: every step's weights, read from the stop check (asked after each step).
    plain = student()
    trajectory = [flat(plain)]

    def record(done: int) -> bool:
        trajectory.append(flat(plain))
        return False

    plain.fit(EXAMPLES, Constant(warmup=0.0), steps, seed=1, stop=record)
    assert torch.equal(flat(plain), trajectory[-1])  # no average: training ends with its last weights
    # With one: the same steps (the average does not steer training), answers from the average mid-fit.
    averaged = student(decay)
    raw, answers = [flat(averaged)], {}

    def watch(done: int) -> bool:
        raw.append(flat(averaged))
        if done == probe:
            answers["mid"] = averaged.generate(PROMPTS, max_new_tokens=3)
        return False

    averaged.fit(EXAMPLES, Constant(warmup=0.0), steps, seed=1, stop=watch)
    assert all(torch.equal(a, b) for a, b in zip(raw, trajectory))  # generate mid-fit put the weights back
    assert torch.equal(flat(averaged), trajectory[-1])  # the whole budget trained: its own weights
    # Stopped early, training ends with the average of the steps it took.
    stopped = student(decay)
    stopped.fit(EXAMPLES, Constant(warmup=0.0), steps, seed=1, stop=lambda done: done == 20)
    assert torch.allclose(flat(stopped), ema(trajectory[:21], decay), atol=1e-6)
    assert not torch.allclose(flat(stopped), trajectory[20], atol=1e-4)
    # The answers mid-fit are those of a model holding the average of the first `probe` steps.
    reference = student()
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(ema(trajectory[: probe + 1], decay), reference.model.parameters())
    assert answers["mid"] == reference.generate(PROMPTS, max_new_tokens=3)


def test_train_average_reaches_the_student_and_is_checked() -> None:
    exp = Experiment.model_validate({"train": {"average": 0.99}})
    assert build_student(exp, 0).optim.average == 0.99
    with pytest.raises(ValueError, match="average"):
        Experiment.model_validate({"train": {"average": 1.0}})
