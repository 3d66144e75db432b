"""S-shaped curve models, the template of an earlier round, and the stopping rule's "rise predicted"."""

import types

import numpy as np
import pytest

from selftaught.config import Experiment
from selftaught.curves import (
    MMF,
    MODELS,
    SATURATING,
    CurveEnsemble,
    Janoschek,
    Logistic,
    StopRule,
    Template,
    Weibull,
    prior_curves,
    run_prior,
)
from selftaught.errors import SelftaughtError
from selftaught.run.build import build_parts, build_stop_rule
from selftaught.run.updates.steering import earlier_curves
from selftaught.store import Store

SIGMOIDS = ("logistic", "janoschek", "weibull", "mmf")
T = np.linspace(10, 1000, 40)


def noisy(y, sd, seed):
    return y + np.random.default_rng(seed).normal(0.0, sd, np.size(y))


# Each family's own curve, written as the paper writes it, and the parameters the model reports.
FAMILIES = [
    (Logistic, lambda t: 0.1 + 0.8 / (1 + np.exp(-0.01 * (t - 400))), (0.9, 0.8, 0.01, 400.0)),
    (Janoschek, lambda t: 0.9 - (0.9 - 0.1) * np.exp(-1e-5 * t**2), (0.9, 0.8, 1e-5, 2.0)),
    (Weibull, lambda t: 0.9 - (0.9 - 0.1) * np.exp(-((t / 300) ** 2.5)), (0.9, 0.8, 1 / 300, 2.5)),
    # MMF (alpha beta + gamma t^delta) / (beta + t^delta), alpha 0.1, beta 2e5, gamma 0.9, delta 2; reported as
    # (gamma, gamma - alpha, ln(beta) / delta, delta).
    (MMF, lambda t: (0.1 * 2e5 + 0.9 * t**2) / (2e5 + t**2), (0.9, 0.8, np.log(2e5) / 2, 2.0)),
]


@pytest.mark.parametrize("cls, f, truth", FAMILIES, ids=SIGMOIDS)
def test_each_sigmoid_recovers_its_own_curve(cls, f, truth):
    model = cls().fit(T, f(T))
    assert model.ok and model.n_params == 4
    np.testing.assert_allclose(model.params, truth, rtol=1e-3)
    assert np.max(np.abs(model.predict(T) - f(T))) < 1e-3
    # From the first quarter of the curve (its rise under way), the end of the budget.
    early = T <= 250
    assert abs(float(cls(ceiling=1.0).fit(T[early], f(T[early])).predict(1000)) - f(1000.0)) < 1e-3


@pytest.mark.parametrize("name", SIGMOIDS)
def test_sigmoids_are_registered_and_keep_to_the_ceiling(name):
    assert name in MODELS
    # A steep rise seen to its top: the fit may not pass 1.0 even where the data's noise would pull it above.
    y = np.clip(noisy(0.2 + 0.8 / (1 + np.exp(-(T - 300) / 30)), 0.02, 0), 0, 1)
    model = MODELS[name](ceiling=1.0).fit(T, y)
    assert model.ok and np.all(model.predict(np.linspace(1, 5000, 50)) <= 1.0 + 1e-12)


def test_a_flat_curve_ending_on_a_high_measurement_is_no_rise():
    # Flat at 0.7 with noise; a sigmoid could place a whole rise to 1.0 after the last point. That rise is refused.
    t = np.arange(10, 251, 10)
    for seed in range(10):
        y = noisy(np.full(t.size, 0.7), 0.01, seed)
        mean = CurveEnsemble(SATURATING + SIGMOIDS, bootstrap=0).fit(t, y).predict(1000)[0]
        assert mean == pytest.approx(0.7, abs=0.02)


def s_curve(t):
    return 0.02 + 0.93 / (1 + np.exp(-(t - 400) / 60))


def test_sigmoids_see_a_rise_that_has_begun():
    # The first 25 % of an S-shaped round (steps 10..250 of 1000) whose rise has begun: "begun" means the true curve
    # is 0.07 above its floor at step 250 (under a tenth of its 0.93 rise), while it is flat for the first tenth
    # (under 0.01 above the floor at step 100). The saturating models level off just above the last points; the
    # S-shaped members head on towards the top.
    t = np.arange(10, 251, 10)
    assert s_curve(100.0) - s_curve(0.0) < 0.01 and 0.06 < s_curve(250.0) - s_curve(0.0) < 0.093
    old, new = [], []
    for seed in range(5):
        y = noisy(s_curve(t), 0.005, seed)
        old.append(abs(CurveEnsemble(SATURATING, bootstrap=0).fit(t, y).predict(1000)[0] - s_curve(1000.0)))
        new.append(abs(CurveEnsemble(SATURATING + SIGMOIDS, bootstrap=0).fit(t, y).predict(1000)[0] - s_curve(1000.0)))
    assert min(old) > 0.7  # they see no rise at all
    assert max(new) < 0.2 and np.mean(new) < 0.1


# -- the template of an earlier round -----------------------------------------------------------------------------
def round_curve(t, start, rise_at):
    return start + (0.97 - start) / (1 + np.exp(-(t - rise_at) / 25))


STEPS = np.arange(25, 401, 25)


def as_points(t, y):
    return list(zip(t.tolist(), y.tolist()))


def test_the_template_follows_an_earlier_curve():
    earlier = as_points(STEPS, noisy(round_curve(STEPS, 0.8, 170), 0.005, 1))
    now = noisy(round_curve(STEPS, 0.85, 170), 0.005, 2)
    early = STEPS <= 100  # the rise has not begun: flat at 0.85
    model = Template(prior=[earlier]).fit(STEPS[early], now[early])
    assert model.ok
    assert float(model.predict(400)) == pytest.approx(round_curve(400.0, 0.85, 170), abs=0.03)
    a, b, c = model.params
    assert c == pytest.approx(1.0, abs=0.1) and b == pytest.approx(0.17, abs=0.05)
    assert not Template().fit(STEPS[early], now[early]).ok  # no earlier curve: no fit
    flat = as_points(STEPS, noisy(np.full(STEPS.size, 0.9), 0.005, 3))
    assert not Template(prior=[flat]).fit(STEPS[early], now[early]).ok  # an earlier curve that did not rise
    assert Template(prior=[earlier, flat]).fit(STEPS[early], now[early]).ok  # the most recent one that rose
    # In the ensemble, the prior moves the prediction from the flat level to the earlier curve's rise.
    ens = CurveEnsemble(SATURATING + ("template",), bootstrap=0, prior_share=1.0)
    without = ens.fit(STEPS[early], now[early]).predict(400)[0]
    with_prior = ens.fit(STEPS[early], now[early], prior=[earlier]).predict(400)[0]
    truth = round_curve(400.0, 0.85, 170)
    assert abs(with_prior - truth) < 0.01 and abs(without - truth) > 0.1
    assert ens.weights["template"] == 1.0  # prior_share 1: the template alone whenever it fits


def test_the_template_holds_the_earlier_end_level_against_noise():
    # This round starts lower and its first quarter is noisy (as at a high learning rate); like the earlier round,
    # it ends at 0.97. The level's prior keeps the prediction there; without it the noisy points pull it down.
    earlier = as_points(STEPS, noisy(round_curve(STEPS, 0.5, 170), 0.02, 1))
    now = noisy(round_curve(STEPS, 0.4, 170), 0.15, 4)
    early = STEPS <= 100
    truth = round_curve(400.0, 0.4, 170)
    held = Template(prior=[earlier]).fit(STEPS[early], now[early])
    assert float(held.predict(400)) == pytest.approx(truth, abs=0.02)
    assert held.params[0] == pytest.approx(0.97, abs=0.02)
    # Measurements that keep disagreeing move it: a whole round that levels off at 0.7 is not held at 0.97.
    lower = noisy(round_curve(STEPS, 0.4, 100) * 0.7 / 0.97, 0.01, 5)
    moved = Template(prior=[earlier]).fit(STEPS, lower)
    assert float(moved.predict(400)) == pytest.approx(0.7, abs=0.03)


def test_prior_share_favours_the_template_by_its_fit():
    earlier = as_points(STEPS, noisy(round_curve(STEPS, 0.8, 170), 0.005, 1))
    now = noisy(round_curve(STEPS, 0.85, 170), 0.005, 2)[:6]
    plain = CurveEnsemble(SATURATING + ("template",), bootstrap=0).fit(STEPS[:6], now, prior=[earlier]).weights
    shared = CurveEnsemble(SATURATING + ("template",), bootstrap=0, prior_share=0.75)
    shared = shared.fit(STEPS[:6], now, prior=[earlier]).weights
    # Three others beside it: its weight is multiplied by 0.75 * 3 / 0.25 = 9 before normalising.
    odds = plain["template"] / (1 - plain["template"])
    assert shared["template"] / (1 - shared["template"]) == pytest.approx(9 * odds)
    only = CurveEnsemble(SATURATING + ("template",), bootstrap=0, prior_share=1.0)
    assert only.fit(STEPS[:6], now, prior=[earlier]).weights["template"] == 1.0


def test_prior_curves_rescale_earlier_rounds_to_this_budget():
    earlier = [(2000, [(500, 0.1), (2000, 0.9)]), (400, [(100, 0.5)]), (400, [(200, 0.6), (400, 0.8)])]
    assert prior_curves(earlier, 400, keep=5) == [[(100.0, 0.1), (400.0, 0.9)], [(200.0, 0.6), (400.0, 0.8)]]
    assert prior_curves(earlier, 400) == [[(200.0, 0.6), (400.0, 0.8)]]
    assert prior_curves([], 400) == []


def test_run_prior_puts_other_runs_first_then_this_runs_latest_rounds():
    others = [(2000, [(1000, 0.3), (2000, 0.7)]), (400, [(50, 0.2)])]  # the second has one point: left out
    own = [(400, [(200, 0.1), (400, 0.2)]), (400, [(200, 0.5), (400, 0.6)]), (200, [(100, 0.8), (200, 0.9)])]
    assert run_prior(others, own, 2, 400) == [
        [(200.0, 0.3), (400.0, 0.7)],
        [(200.0, 0.5), (400.0, 0.6)],
        [(200.0, 0.8), (400.0, 0.9)],
    ]
    assert run_prior(others, own, 0, 400) == [[(200.0, 0.3), (400.0, 0.7)]]
    assert run_prior([], own[:1], 3, 800) == [[(400.0, 0.1), (800.0, 0.2)]]
    assert run_prior(others[1:], [], 4, 400) is None
    assert run_prior([], [], 4, 400) is None


def test_the_loop_gives_the_rule_its_earlier_rounds_curves():
    rows = [
        {"round": 0, "budget": 2000, "step": 1000, "value": 0.4},
        {"round": 0, "budget": 2000, "step": 2000, "value": 0.9},
        {"round": 1, "budget": 400, "step": 200, "value": 0.8},
        {"round": 1, "budget": 400, "step": 400, "value": 0.85},
        {"round": 2, "budget": 400, "step": 200, "value": 0.1},  # this round's own: not a prior
    ]

    def ctx(prior):
        stop = types.SimpleNamespace(prior=prior, prior_from=[])
        return types.SimpleNamespace(
            exp=types.SimpleNamespace(stop=stop), store=types.SimpleNamespace(stop_decisions=lambda: rows)
        )

    assert earlier_curves(ctx(4), 2, 400) == [[(200.0, 0.4), (400.0, 0.9)], [(200.0, 0.8), (400.0, 0.85)]]
    assert earlier_curves(ctx(1), 2, 800) == [[(400.0, 0.8), (800.0, 0.85)]]
    assert earlier_curves(ctx(0), 2, 400) is None and earlier_curves(ctx(4), 0, 400) is None
    rule = build_stop_rule(Experiment(), seed=0, prior=earlier_curves(ctx(4), 2, 400))
    assert rule.prior == [[(200.0, 0.4), (400.0, 0.9)], [(200.0, 0.8), (400.0, 0.85)]]
    assert (rule.prior_share, rule.rise_weight) == (1.0, 0.25) and "template" in [m.name for m in rule.models]


def test_earlier_runs_give_the_same_round_curve_first(tmp_path):
    def decision(step, value):
        return {"step": step, "value": value, "current": value, "mean": None, "low": None, "high": None}

    other = tmp_path / "earlier-run"
    other.mkdir()
    store = Store.create(other / "run.db", "earlier", {}, "")
    rows = [decision(1000, 0.3), decision(2000, 1.0)]
    store.add_stop_decisions(0, 2000, [dict(r, stop=False, reason="too early") for r in rows])
    store.add_stop_decisions(1, 400, [dict(decision(400, 0.7), stop=False, reason="too early")])  # one point: left out
    store.close()
    own = [
        {"round": 0, "budget": 1000, "step": 500, "value": 0.5},
        {"round": 0, "budget": 1000, "step": 1000, "value": 0.9},
    ]

    def ctx(prior, prior_from):
        stop = types.SimpleNamespace(prior=prior, prior_from=prior_from)
        return types.SimpleNamespace(
            exp=types.SimpleNamespace(stop=stop), store=types.SimpleNamespace(stop_decisions=lambda: own)
        )

    before = (other / "run.db").read_bytes()
    # Round 0 has no earlier round of its own; the earlier run's round 0 stands in, on this round's axis.
    assert earlier_curves(ctx(4, [str(other)]), 0, 1000) == [[(500.0, 0.3), (1000.0, 1.0)]]
    # Round 1: the earlier run's round 1 has one point (left out); this run's round 0 is the prior.
    assert earlier_curves(ctx(4, [str(other)]), 1, 400) == [[(200.0, 0.5), (400.0, 0.9)]]
    # With stop.prior = 0 only the earlier run's curve is given.
    assert earlier_curves(ctx(0, [str(other)]), 0, 2000) == [[(1000.0, 0.3), (2000.0, 1.0)]]
    assert earlier_curves(ctx(0, []), 0, 2000) is None
    assert earlier_curves(ctx(0, [str(other)]), 1, 400) is None  # its one point is no curve
    assert (other / "run.db").read_bytes() == before  # the other run's store is read, never written


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_prior_from_must_name_a_run(tmp_path, where):
    run_dir = tmp_path / "not-a-run"
    if where == "empty":
        run_dir.mkdir()
    exp = Experiment.model_validate({"stop": {"every": 10, "prior_from": [str(run_dir)]}})
    with pytest.raises(SelftaughtError, match=f"stop.prior_from: {run_dir} holds no run store"):
        build_parts(exp)


# -- the stopping rule --------------------------------------------------------------------------------------------
ALL = SATURATING + SIGMOIDS + ("template",)


def test_the_rule_waits_for_a_rise_the_earlier_round_had():
    earlier = as_points(STEPS, noisy(round_curve(STEPS, 0.8, 250), 0.005, 1))  # rose around step 250 of 400
    t = STEPS[STEPS <= 150]
    for seed in range(3):
        y = noisy(round_curve(t, 0.85, 250), 0.003, 2 + seed)  # flat at 0.85 so far
        d = StopRule(bootstrap=50, models=ALL, prior=[earlier], prior_share=0.75).decide(t, y, 400)
        assert (d.stop, d.reason) == (False, "rise predicted")
        assert d.mean > d.current + 0.05
        # Without the earlier round the same measurements look finished.
        d = StopRule(bootstrap=50, models=ALL).decide(t, y, 400)
        assert (d.stop, d.reason) == (True, "predicted gain below epsilon")


def test_the_rule_says_rise_predicted_on_a_rising_s():
    # The start of an S: the rise over the last four measurements is under epsilon (0.01), yet it accelerates; an
    # S-shaped member sees where it goes.
    t = np.arange(10, 310, 10)
    y = 0.1 + 0.8 / (1 + np.exp(-(t - 600) / 60))
    assert y[-1] - y[-4] < 0.01
    d = StopRule(bootstrap=50, models=SATURATING + SIGMOIDS, min_accuracy=0.0).decide(t, y, 1000)
    assert (d.stop, d.reason) == (False, "rise predicted")


def test_the_gain_is_each_replicates_own():
    # Levelled off at 0.9: the members disagree a little on the level, but each replicate's own curve gains nearly
    # nothing from now to the budget, so the gain's interval is narrower than the level's above the value now.
    t = np.arange(10, 410, 10)
    ens = CurveEnsemble(SATURATING + SIGMOIDS, bootstrap=60).fit(t, noisy(0.9 - 0.5 * np.exp(-t / 20), 0.01, 0))
    mean, low, high = ens.predict_gain(400, 1000)
    level_mean, _, level_high = ens.predict(1000)
    now = ens.predict(400)[0]
    assert low <= mean <= high < 0.01 and mean == pytest.approx(level_mean - now)
    assert high < level_high - now
    assert not ens.fallback and CurveEnsemble(bootstrap=10).fit([10, 20], [0.1, 0.2]).fallback


def test_noise_over_min_accuracy_before_the_rise_is_nothing_learned_yet():
    # The first 170 steps of a measured round 0 (72 problems): it sits at 0-7 % and rose to 44 % by step 300. Three
    # measurements pass min_accuracy (0.05), the fitted curve does not: no stop on a gain of nothing.
    y = [0.0, 0.0, 0.014, 0.029, 0.043, 0.029, 0.057, 0.043, 0.057, 0.014, 0.043, 0.0, 0.0, 0.014, 0.071, 0.029, 0.029]
    t = np.arange(10, 180, 10)
    for models in (SATURATING, ALL):
        d = StopRule(bootstrap=50, models=models).decide(t, y, 300)
        assert (d.stop, d.reason) == (False, "nothing learned yet") and d.current < 0.05


@pytest.mark.parametrize("models", [SATURATING + SIGMOIDS, ALL])
def test_the_rule_still_stops_on_a_flat_saturated_curve(models):
    t = np.arange(10, 410, 10)
    earlier = as_points(t, noisy(0.9 - 0.7 * np.exp(-t / 30), 0.01, 9))  # an earlier round that rose early on
    for seed in range(3):
        y = noisy(0.9 - 0.5 * np.exp(-t / 20), 0.01, seed)  # risen early, flat at 0.9 for the last 300 steps
        d = StopRule(bootstrap=50, seed=seed, models=models, prior=[earlier], prior_share=0.75).decide(t, y, 1000)
        assert d.stop and d.reason == "predicted gain below epsilon"


# -- bad arguments ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: CurveEnsemble(prior_share=1.5), "prior_share"),
        (lambda: StopRule(rise_weight=0.0), "rise_weight"),
        (lambda: StopRule(prior=[[(1, 0.5)]]), "prior: curve 0"),
        (lambda: StopRule(prior=5), "prior"),
        (lambda: CurveEnsemble().fit([1, 2, 3], [0.1, 0.2, 0.3], prior=[[(1, 0.1), (2, float("nan"))]]), "prior"),
        (lambda: Template(prior="abc").fit([1, 2, 3, 4], [0.1, 0.2, 0.3, 0.4]), "prior"),
        (lambda: prior_curves([(0, [(1, 0.1), (2, 0.2)])], 100), "budget"),
        (lambda: prior_curves([], 0), "budget"),
        (lambda: prior_curves([], 10, keep=0), "keep"),
    ],
)
def test_bad_arguments_raise_one_line(call, match):
    with pytest.raises(ValueError, match=match) as err:
        call()
    assert "\n" not in str(err.value)
