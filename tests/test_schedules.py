"""Learning-rate schedules: exact values at known points, warmup, argument checks, and the [0, 1] range."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from selftaught.training.schedules import (
    SCHEDULES,
    WSD,
    Constant,
    Cooldown,
    Cosine,
    LinearDecay,
    Refined,
    Rex,
    Schedule,
    StepDecay,
    refine,
)

FALLING = [1.0 / math.sqrt(t + 10) for t in range(100)]  # gradient norms settling down over a run


def test_registry_names() -> None:
    assert SCHEDULES == {
        "constant": Constant,
        "linear": LinearDecay,
        "cosine": Cosine,
        "wsd": WSD,
        "rex": Rex,
        "step": StepDecay,
        "refined": Refined,
    }


def test_every_schedule_has_a_one_line_description() -> None:
    for name, cls in SCHEDULES.items():
        assert cls.name == name
        assert (cls.__doc__ or "").strip(), name


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


@pytest.mark.parametrize(
    "schedule",
    [
        Constant(0.1),
        LinearDecay(0.1),
        Cosine(0.1),
        WSD(0.1, decay=0.2),
        Rex(0.1),
        StepDecay(0.1, every=0.05),
        Refined(FALLING, warmup=0.1),
    ],
)
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


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda: Rex(warmup=1.0), "warmup"),
        (lambda: Rex(warmup=-0.5), "warmup"),
        (lambda: StepDecay(warmup=1.0), "warmup"),
        (lambda: StepDecay(gamma=0.0), "gamma"),
        (lambda: StepDecay(gamma=-0.5), "gamma"),
        (lambda: StepDecay(gamma=1.5), "gamma"),
        (lambda: StepDecay(gamma=math.nan), "gamma"),
        (lambda: StepDecay(every=0.0), "every"),
        (lambda: StepDecay(every=-0.1), "every"),
        (lambda: StepDecay(every=1.01), "every"),
        (lambda: refine([1.0]), "at least 2"),
        (lambda: refine([]), "at least 2"),
        (lambda: refine([1.0, math.nan, 1.0]), r"norms\[1\]"),
        (lambda: refine([1.0, 2.0, math.inf]), r"norms\[2\]"),
        (lambda: refine([1.0, 0.0, 1.0]), r"norms\[1\]"),
        (lambda: refine([-1.0, 1.0]), r"norms\[0\]"),
        (lambda: refine([1.0, "fast"]), "norms"),
        (lambda: refine([[1.0, 2.0], [3.0, 4.0]]), "norms"),
        (lambda: refine([1.0, 2.0], form="rmsprop"), "form"),
        (lambda: refine([1.0, 2.0], smooth=1.0), "smooth"),
        (lambda: refine([1.0, 2.0], smooth=-0.01), "smooth"),
        (lambda: Refined([1.0]), "at least 2"),
        (lambda: Refined([1.0, 2.0], form="lion"), "form"),
        (lambda: Refined([1.0, 2.0], smooth=2.0), "smooth"),
        (lambda: Refined([1.0, 2.0], warmup=1.0), "warmup"),
    ],
)
def test_bad_arguments_of_the_new_schedules_raise_one_line_naming_them(make, names: str) -> None:
    with pytest.raises(ValueError, match=names) as caught:
        make()
    assert "\n" not in str(caught.value)


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
    kind = draw(st.sampled_from(sorted(SCHEDULES)))
    if kind == "step":
        gamma = draw(st.floats(min_value=1e-6, max_value=1.0, allow_nan=False))
        every = draw(st.floats(min_value=1e-6, max_value=1.0, allow_nan=False))
        return StepDecay(warmup=warmup, gamma=gamma, every=every)
    if kind == "refined":
        norms = draw(st.lists(st.floats(min_value=1e-3, max_value=1e3, allow_nan=False), min_size=2, max_size=60))
        smooth = draw(st.floats(min_value=0.0, max_value=0.999, allow_nan=False))
        return Refined(norms, form=draw(st.sampled_from(["sgd", "adam"])), smooth=smooth, warmup=warmup)
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


# --- REX -------------------------------------------------------------------------------------------------------


def test_rex_values() -> None:
    s = Rex()
    assert s.shape(0.0) == 1.0
    assert s.shape(0.5) == pytest.approx(2 / 3, abs=1e-15)
    assert s.shape(1.0) == 0.0
    assert s.factor(0, 100) == 1.0
    assert s.factor(50, 100) == pytest.approx(2 / 3, abs=1e-15)
    assert s.factor(75, 100) == pytest.approx(0.25 / 0.625)
    assert s.factor(100, 100) == 0.0
    assert s.factor(250, 100) == 0.0


def test_rex_decreases_and_stays_above_linear_decay() -> None:
    values = [Rex().factor(t, 200) for t in range(201)]
    assert all(a > b for a, b in zip(values[:-1], values[1:]))
    assert all(Rex().factor(t, 200) > LinearDecay().factor(t, 200) for t in range(1, 200))


# --- step decay ------------------------------------------------------------------------------------------------


def test_step_decay_values_at_the_drops() -> None:
    s = StepDecay()  # gamma 0.5 every quarter of the round
    assert [s.factor(t, 100) for t in (0, 24, 25, 49, 50, 74, 75, 99)] == [1, 1, 0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    assert s.factor(100, 100) == 0.0625  # the end of the round is past the fourth drop
    assert s.factor(300, 100) == 0.0625


def test_step_decay_drops_exactly_at_a_multiple_despite_float_error() -> None:
    assert 0.3 / 0.1 < 3  # the float error the schedule has to absorb
    s = StepDecay(gamma=0.1, every=0.1)
    assert s.factor(29, 100) == pytest.approx(0.01)
    assert s.factor(30, 100) == pytest.approx(0.001)  # z = 0.3 is the third drop
    assert s.factor(31, 100) == pytest.approx(0.001)
    assert StepDecay(every=0.1).factor(70, 100) == 0.5**7


def test_step_decay_every_whole_round_and_gamma_one() -> None:
    s = StepDecay(gamma=0.3, every=1.0)
    assert s.factor(0, 10) == 1.0
    assert s.factor(9, 10) == 1.0
    assert s.factor(10, 10) == pytest.approx(0.3)  # only the end of the round is past the one drop
    assert all(StepDecay(gamma=1.0, every=0.01).factor(t, 100) == 1.0 for t in range(101))


def test_step_decay_warmup_multiplies_the_first_plateau() -> None:
    s = StepDecay(warmup=0.2, gamma=0.5, every=0.1)  # warmup over 20 steps crosses the first drop at step 10
    assert s.factor(0, 100) == pytest.approx(1 / 20)
    assert s.factor(9, 100) == pytest.approx(10 / 20)
    assert s.factor(10, 100) == pytest.approx(11 / 20 * 0.5)
    assert s.factor(19, 100) == pytest.approx(0.5)
    assert s.factor(20, 100) == pytest.approx(0.25)


# --- refined ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["sgd", "adam"])
@pytest.mark.parametrize("n", [2, 3, 10, 257])
def test_constant_norms_refine_to_linear_decay(form: str, n: int) -> None:
    w = refine([3.7] * n, form=form)
    assert w.tolist() == [(n - 1 - t) / (n - 1) for t in range(n)]


def test_refined_sgd_closed_form() -> None:
    # g_t = 1/sqrt(t + 1), so g_t^-2 = t + 1 and w_t = (t + 1) * sum_{p=t+1}^{n-1} (p + 1).
    n = 50
    norms = [1.0 / math.sqrt(t + 1) for t in range(n)]
    raw = np.array([(t + 1) * (n * (n + 1) / 2 - (t + 1) * (t + 2) / 2) for t in range(n)])
    expected = raw / raw.max()
    # A monotone sequence is left as it is by the median filter, so smoothing makes no difference here.
    for smooth in (0.0, 0.05, 0.3):
        np.testing.assert_allclose(refine(norms, form="sgd", smooth=smooth), expected, rtol=1e-12, atol=1e-12)


def test_refined_adam_closed_form() -> None:
    # g_t = 1/(t + 1), so g_t^-1 = t + 1 and the same closed form holds for the l1 ("adam") form.
    n = 40
    norms = [1.0 / (t + 1) for t in range(n)]
    raw = np.array([(t + 1) * (n * (n + 1) / 2 - (t + 1) * (t + 2) / 2) for t in range(n)])
    np.testing.assert_allclose(refine(norms, form="adam", smooth=0.0), raw / raw.max(), rtol=1e-12, atol=1e-12)


def test_refined_scale_of_the_norms_does_not_matter() -> None:
    for form in ("sgd", "adam"):
        a = refine(FALLING, form=form)
        np.testing.assert_allclose(refine([g * 1e6 for g in FALLING], form=form), a, rtol=1e-12)
        np.testing.assert_allclose(refine([g * 1e-6 for g in FALLING], form=form), a, rtol=1e-12)


@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_falling_norms_refine_to_a_warmup_then_a_fast_decay(form: str) -> None:
    w = refine(FALLING, form=form)
    peak = int(np.argmax(w))
    assert 0 < peak < len(w) - 1
    assert w[peak] == 1.0
    assert w[0] < w[peak]
    assert all(a < b for a, b in zip(w[:peak], w[1 : peak + 1]))  # rising to the peak
    assert all(a > b for a, b in zip(w[peak:-1], w[peak + 1 :]))  # then falling
    assert w[-1] == 0.0
    # The decay steepens towards the end: the last step drops more than the average step down from the peak.
    assert w[-2] - w[-1] > 1 / (len(w) - 1 - peak)


def test_sgd_and_adam_forms_differ_for_varying_norms() -> None:
    sgd, adam = refine(FALLING, form="sgd"), refine(FALLING, form="adam")
    assert np.abs(sgd - adam).max() > 0.1
    assert np.argmax(sgd) > np.argmax(adam)  # squared inverse norms weigh the later steps more


def test_smoothing_removes_a_single_spike() -> None:
    n = 200
    for base in ([1.0] * n, [2.0] * (n // 2) + [1.0] * (n // 2)):
        spiked = list(base)
        spiked[50] = 100.0
        for form in ("sgd", "adam"):
            np.testing.assert_allclose(refine(spiked, form=form, smooth=0.05), refine(base, form=form), atol=1e-12)
            # without smoothing the spike carves a hole in the schedule
            assert refine(spiked, form=form, smooth=0.0)[50] < 0.05


def test_smoothing_window_is_made_odd_and_covers_the_spike() -> None:
    n = 100  # smooth 0.04 -> 4 steps -> a window of 5: two equal outliers side by side are still outvoted
    base = [1.0] * n
    spiked = list(base)
    spiked[40] = spiked[41] = 50.0
    np.testing.assert_allclose(refine(spiked, smooth=0.04), refine(base), atol=1e-12)


def test_refined_schedule_interpolates_the_weights_over_any_round_length() -> None:
    s = Refined([1.0, 1.0, 1.0])  # weights 1, 0.5, 0 at z = 0, 0.5, 1
    assert s.weights.tolist() == [1.0, 0.5, 0.0]
    assert (s.form, s.smooth, s.warmup) == ("adam", 0.05, 0.0)
    for total in (1, 7, 100, 1001):
        for t in range(0, total + 1, max(1, total // 10)):
            assert s.factor(t, total) == pytest.approx(1.0 - t / total)
    w = refine(FALLING, form="sgd")
    r = Refined(FALLING, form="sgd")
    np.testing.assert_array_equal(r.weights, w)
    assert [r.factor(t, 99) for t in range(100)] == pytest.approx(w.tolist())  # T = n - 1: the weights themselves
    assert r.factor(1, 198) == pytest.approx((w[0] + w[1]) / 2)  # halfway between two logged steps
    with pytest.raises(ValueError):
        r.weights[0] = 0.5  # the weights are read-only


def test_refined_warmup_multiplies_its_own_warmup() -> None:
    plain, warmed = Refined(FALLING), Refined(FALLING, warmup=0.1)
    assert warmed.factor(0, 100) == pytest.approx(plain.factor(0, 100) / 10)
    assert warmed.factor(9, 100) == pytest.approx(plain.factor(9, 100))
    assert warmed.factor(60, 100) == plain.factor(60, 100)


def test_cooldown_follows_its_base_until_a_stop_then_anneals_to_zero() -> None:
    s = Cooldown(Cosine(), share=0.25)
    assert [s.factor(t, 100) for t in range(40)] == [Cosine().factor(t, 100) for t in range(40)]
    assert s.end is None
    s.begin(40)  # stop after 40 steps: 10 more steps from the factor of step 39 down towards 0
    assert s.end == 50
    start = Cosine().factor(39, 100)
    assert [s.factor(t, 100) for t in range(40, 50)] == pytest.approx([start * (1 - j / 11) for j in range(1, 11)])
    assert s.factor(39, 100) == Cosine().factor(39, 100)  # steps before the stop are unchanged
    none = Cooldown(Constant(), share=0.0)
    none.begin(7)
    assert none.end == 7 and none.factor(7, 10) == 0.0
    with pytest.raises(ValueError, match="share"):
        Cooldown(Constant(), share=1.5)
