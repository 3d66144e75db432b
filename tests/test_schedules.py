"""Learning-rate schedules: exact values at known points, warmup, argument checks, and the [0, 1] range."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from selftaught.training.schedules import SCHEDULES, WSD, Constant, Cosine, LinearDecay, Schedule


def test_registry_names() -> None:
    assert SCHEDULES == {"constant": Constant, "linear": LinearDecay, "cosine": Cosine, "wsd": WSD}


@pytest.mark.parametrize("step", [0, 1, 37, 99, 100, 500])
def test_constant_is_one_everywhere(step: int) -> None:
    assert Constant().factor(step, 100) == 1.0


def test_linear_decay_values() -> None:
    s = LinearDecay()
    assert s.factor(0, 100) == 1.0
    assert s.factor(50, 100) == 0.5
    assert s.factor(25, 100) == 0.75
    assert s.factor(100, 100) == 0.0
    assert s.factor(1000, 100) == 0.0  # steps past the end stay at the end


def test_cosine_values() -> None:
    s = Cosine()
    assert s.factor(0, 100) == 1.0
    assert s.factor(50, 100) == pytest.approx(0.5, abs=1e-12)
    assert s.factor(25, 100) == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)), abs=1e-12)
    assert s.factor(100, 100) == pytest.approx(0.0, abs=1e-12)


def test_schedules_decrease_monotonically() -> None:
    for s in (LinearDecay(), Cosine(), WSD(decay=0.3), WSD(decay=0.3, form="sqrt", floor=0.1)):
        values = [s.factor(t, 200) for t in range(201)]
        assert all(a >= b for a, b in zip(values[:-1], values[1:], strict=True)), s.name


def test_wsd_linear_phase_edges() -> None:
    s = WSD(decay=0.2)
    assert [s.factor(t, 100) for t in (0, 40, 79, 80)] == [1.0, 1.0, 1.0, 1.0]  # stable through step 80 (z = 0.8)
    assert s.factor(81, 100) == pytest.approx(0.95)
    assert s.factor(81, 100) < 1.0
    assert s.factor(90, 100) == pytest.approx(0.5)
    assert s.factor(99, 100) == pytest.approx(0.05)
    assert s.factor(100, 100) == pytest.approx(0.0, abs=1e-12)


def test_wsd_sqrt_form_and_floor() -> None:
    s = WSD(decay=0.2, form="sqrt")
    assert s.factor(79, 100) == 1.0
    assert s.factor(90, 100) == pytest.approx(1.0 - math.sqrt(0.5))
    assert s.factor(100, 100) == pytest.approx(0.0, abs=1e-12)
    f = WSD(decay=0.2, floor=0.1)
    assert f.factor(50, 100) == 1.0
    assert f.factor(90, 100) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f.factor(100, 100) == pytest.approx(0.1)
    assert f.factor(400, 100) == pytest.approx(0.1)


def test_wsd_whole_round_decay_is_linear_decay() -> None:
    s = WSD(decay=1.0)
    for t in range(0, 101, 10):
        assert s.factor(t, 100) == pytest.approx(LinearDecay().factor(t, 100))


@pytest.mark.parametrize("schedule", [Constant(0.1), LinearDecay(0.1), Cosine(0.1), WSD(0.1, decay=0.2)])
def test_warmup_ramps_the_shape_linearly(schedule: Schedule) -> None:
    T = 100  # warmup over the first 10 steps
    shape = schedule.shape
    assert schedule.factor(0, T) == pytest.approx(shape(0.0) / 10)
    assert schedule.factor(4, T) == pytest.approx(shape(0.04) * 5 / 10)
    assert schedule.factor(9, T) == pytest.approx(shape(0.09))  # the ramp reaches 1 at the warmup edge
    assert schedule.factor(10, T) == pytest.approx(shape(0.10))
    assert schedule.factor(50, T) == pytest.approx(shape(0.5))


def test_warmup_shorter_than_one_step_is_ignored() -> None:
    s = LinearDecay(warmup=0.05)
    assert s.factor(0, 10) == 1.0  # 0.05 * 10 = half a step: no ramp
    assert s.factor(0, 100) == pytest.approx(1 / 5)


def test_warmup_does_not_delay_the_decay() -> None:
    s = LinearDecay(warmup=0.5)
    assert s.factor(99, 200) == pytest.approx(1.0 - 99 / 200)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Constant(warmup=-0.1),
        lambda: Cosine(warmup=1.0),
        lambda: LinearDecay(warmup=1.5),
        lambda: WSD(decay=1.1),
        lambda: WSD(decay=0.0),
        lambda: WSD(decay=-0.2),
        lambda: WSD(warmup=0.5, decay=0.6),
        lambda: WSD(floor=1.0),
        lambda: WSD(floor=-0.1),
        lambda: WSD(form="exp"),
    ],
)
def test_bad_arguments_raise(make) -> None:
    with pytest.raises(ValueError):
        make()


def test_warmup_plus_decay_may_fill_the_round() -> None:
    s = WSD(warmup=0.4, decay=0.6)
    assert s.factor(39, 100) == pytest.approx(1.0)


@pytest.mark.parametrize("total", [0, -5])
def test_non_positive_total_raises(total: int) -> None:
    with pytest.raises(ValueError, match="total"):
        Constant().factor(0, total)


@st.composite
def schedules(draw) -> Schedule:
    warmup = draw(st.floats(min_value=0.0, max_value=0.999, allow_nan=False))
    kind = draw(st.sampled_from(["constant", "linear", "cosine", "wsd"]))
    if kind != "wsd":
        return SCHEDULES[kind](warmup=warmup)
    decay = draw(st.floats(min_value=1e-6, max_value=1.0, allow_nan=False))
    assume(warmup + decay <= 1.0)
    floor = draw(st.floats(min_value=0.0, max_value=0.999, allow_nan=False))
    return WSD(warmup=warmup, decay=decay, floor=floor, form=draw(st.sampled_from(["linear", "sqrt"])))


@given(schedules(), st.integers(min_value=1, max_value=100_000), st.data())
def test_factor_stays_in_unit_interval_during_training(schedule: Schedule, total: int, data) -> None:
    step = data.draw(st.integers(min_value=0, max_value=total - 1))
    assert 0.0 <= schedule.factor(step, total) <= 1.0


@given(schedules(), st.integers(min_value=1, max_value=100_000), st.data())
def test_steps_past_the_end_stay_at_the_end_value(schedule: Schedule, total: int, data) -> None:
    step = data.draw(st.integers(min_value=total, max_value=3 * total))
    assert schedule.factor(step, total) == schedule.factor(total, total)
    assert 0.0 <= schedule.factor(step, total) <= 1.0


def test_wsd_end_value_with_decay_0_3_is_not_negative() -> None:
    assert WSD(decay=0.3).factor(100, 100) >= 0.0
