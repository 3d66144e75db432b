import types

import numpy as np
import pytest

import selftaught.curves.fitting as fitting
from selftaught.curves import AnnealingLaw, CurveEnsemble, Exp3, LogPower, Pow3, StopDecision, StopRule

T = np.linspace(1, 1000, 40)  # 40 measurements over 1000 steps


def noisy(f, t, sd, seed):
    return f(t) + np.random.default_rng(seed).normal(0.0, sd, np.size(t))


def pow3(t):
    return 0.9 - 0.8 * t**-0.5


def exp3(t):
    return 0.85 - 0.8 * np.exp(-t / 80)


def log_power(t):
    return 0.85 / (1 + (t / 20) ** -1.0)


FAMILIES = [
    (Pow3, pow3, (0.9, 0.8, 0.5)),
    (Exp3, exp3, (0.85, 0.8, 1 / 80)),
    (LogPower, log_power, (0.85, np.log(20), -1.0)),
]


# -- curve models ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, f, truth", FAMILIES, ids=["pow3", "exp3", "log-power"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_model_recovers_parameters_and_extrapolates(cls, f, truth, seed):
    y = noisy(f, T, 0.01, seed)
    full = cls().fit(T, y)
    assert full.ok and full.n_params == 3 and len(full.params) == 3
    assert full.params[0] == pytest.approx(truth[0], abs=0.03)
    assert full.params[2] == pytest.approx(truth[2], rel=0.2)
    assert full.sse == pytest.approx(np.sum((full.predict(T) - y) ** 2))
    early = T <= 250  # the first quarter of the curve
    assert abs(float(cls().fit(T[early], y[early]).predict(1000)) - f(1000.0)) < 0.03


@pytest.mark.parametrize("cls", [Pow3, Exp3, LogPower])
def test_clean_curve_is_reproduced(cls):
    truths = {Pow3: pow3, Exp3: exp3, LogPower: log_power}
    model = cls().fit(T, truths[cls](T))
    np.testing.assert_allclose(model.predict(T), truths[cls](T), atol=1e-5)


def test_parameters_are_in_steps_over_a_long_range():
    t = np.linspace(1, 10_000, 30)
    model = Pow3().fit(t, 0.8 - 0.7 * t**-0.3)
    np.testing.assert_allclose(model.params, (0.8, 0.7, 0.3), atol=1e-4)
    model = Exp3().fit(t, 0.8 - 0.7 * np.exp(-t / 2000))
    np.testing.assert_allclose(model.params, (0.8, 0.7, 1 / 2000), rtol=1e-4)
    model = LogPower().fit(t, 0.8 / (1 + (t / 500) ** -0.7))
    np.testing.assert_allclose(model.params, (0.8, np.log(500), -0.7), rtol=1e-4)


def test_predict_keeps_the_shape_of_steps():
    model = Pow3().fit(T, pow3(T))
    assert model.predict(500).shape == ()
    assert float(model.predict(500)) == pytest.approx(pow3(500.0), abs=1e-6)
    assert model.predict([[10, 20], [30, 40]]).shape == (2, 2)


@pytest.mark.parametrize("cls", [Pow3, Exp3])
def test_falling_curve(cls):
    def loss(t):
        return 2.0 + 3.0 * t**-0.4 if cls is Pow3 else 2.0 + 3.0 * np.exp(-t / 100)

    t = np.linspace(1, 2000, 40)
    y = noisy(loss, t, 0.01, 0)
    model = cls(increasing=False).fit(t, y)
    assert model.ok
    assert model.params[0] == pytest.approx(-2.0, abs=0.05)  # the parameters describe the negated curve
    early = t <= 1000
    assert float(cls(increasing=False).fit(t[early], y[early]).predict(2000)) == pytest.approx(loss(2000.0), abs=0.03)


def test_falling_ensemble_predicts_the_loss():
    t = np.linspace(1, 2000, 40)
    y = noisy(lambda s: 2.0 + 3.0 * s**-0.4, t, 0.01, 0)
    mean, low, high = CurveEnsemble(increasing=False, clip=None, bootstrap=30).fit(t[:20], y[:20]).predict(2000)
    truth = 2.0 + 3.0 * 2000**-0.4
    assert mean == pytest.approx(truth, abs=0.03)
    assert low <= mean <= high


# -- failures ----------------------------------------------------------------------------------------------------------
def test_too_few_points_for_a_model_is_a_failed_fit():
    model = Pow3().fit([10, 20], [0.3, 0.5])
    assert not model.ok and model.params is None
    assert np.isnan(model.predict(30))


def solver_raises(*args, **kwargs):
    raise RuntimeError("no convergence")


def solver_non_finite(fun, x0, **kwargs):
    return types.SimpleNamespace(x=np.full_like(x0, np.nan), fun=np.full(3, np.nan))


@pytest.mark.parametrize("solver", [solver_raises, solver_non_finite])
def test_a_failing_solver_gives_a_constant_fallback(monkeypatch, solver):
    monkeypatch.setattr(fitting, "least_squares", solver)
    y = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    model = Exp3().fit(range(1, 7), y)
    assert not model.ok
    ens = CurveEnsemble(bootstrap=20).fit(range(1, 7), y)
    assert ens.weights == {"constant": 1.0}
    mean, low, high = ens.predict(100)
    assert mean == pytest.approx(0.55)  # the mean of the last third
    assert low <= mean <= high


def test_a_failed_member_gets_no_weight(monkeypatch):
    def fail(self, x, y):
        raise ValueError("no start")

    monkeypatch.setattr(LogPower, "_setup", fail)
    ens = CurveEnsemble(bootstrap=30).fit(T, noisy(pow3, T, 0.01, 0))
    assert ens.weights["log-power"] == 0.0 and ens.weights["pow3"] > 0.5
    mean, low, high = ens.predict(2000)
    assert low <= mean <= high and mean == pytest.approx(pow3(2000.0), abs=0.02)


@pytest.mark.parametrize(
    "steps, values, mean",
    [
        ([10], [0.5], 0.5),
        ([10, 20], [0.3, 0.5], 0.5),
        (range(10, 110, 10), [0.4] * 10, 0.4),
        ([5, 5, 5, 5], [0.1, 0.2, 0.3, 0.2], None),
        ([0, 10, 20, 30], [0.1, 0.2, 0.3, 0.35], None),
    ],
    ids=["one point", "two points", "constant", "one step", "step zero"],
)
def test_degenerate_data_still_predicts(steps, values, mean):
    ens = CurveEnsemble(bootstrap=20).fit(steps, values)
    m, low, high = ens.predict(1000)
    assert all(np.isfinite([m, low, high]))
    assert 0.0 <= low <= high <= 1.0
    if mean is not None:
        assert m == pytest.approx(mean, abs=1e-4)


@pytest.mark.parametrize("steps, values", [([], []), ([1, 2], [0.5]), ([1, 2], [0.5, np.nan]), ([-1, 2], [0.1, 0.2])])
def test_bad_data_raises(steps, values):
    with pytest.raises(ValueError):
        CurveEnsemble().fit(steps, values)


@pytest.mark.parametrize(
    "kwargs", [{"models": ("pow4",)}, {"models": ()}, {"confidence": 1.0}, {"bootstrap": -1}, {"clip": (1.0, 0.0)}]
)
def test_bad_ensemble_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        CurveEnsemble(**kwargs)


def test_predict_before_fit_raises():
    with pytest.raises(RuntimeError):
        CurveEnsemble().predict(10)


# -- ensemble ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, f", [("pow3", pow3), ("exp3", exp3), ("log-power", log_power)])
def test_weights_favour_the_generating_family(name, f):
    t = np.linspace(10, 1000, 30)
    for y in (f(t), noisy(f, t, 0.003, 0)):
        weights = CurveEnsemble(bootstrap=0).fit(t, y).weights
        assert max(weights, key=weights.get) == name
        assert sum(weights.values()) == pytest.approx(1.0)
    assert CurveEnsemble(bootstrap=0).fit(t, f(t)).weights[name] > 0.99


@pytest.mark.parametrize(
    "f, sd, seeds, min_hits",
    [
        # A slow power law is the hard case: exp3 and log-power fit the seen half as well and saturate sooner, so
        # they pull the interval down (about 85 % coverage for a 90 % interval, measured over 40 seeds).
        (lambda t: 0.9 - 0.8 * (t / 10) ** -0.5, 0.02, 20, 15),
        (lambda t: 0.85 - 0.75 * np.exp(-t / 300), 0.05, 10, 8),
        (lambda t: 0.85 / (1 + (t / 100) ** -1.0), 0.03, 10, 8),
    ],
    ids=["pow3", "exp3", "log-power"],
)
def test_interval_covers_the_true_end_value(f, sd, seeds, min_hits):
    t = np.linspace(12.5, 500, 40)  # half the budget seen
    hits = 0
    for seed in range(seeds):
        mean, low, high = CurveEnsemble(bootstrap=100, seed=seed).fit(t, noisy(f, t, sd, seed)).predict(1000)
        assert low <= mean <= high
        hits += low <= f(1000.0) <= high
    assert hits >= min_hits


def width(t, sd, at, seeds=range(3)):
    """The interval's mean width at step ``at`` over a few noisy draws of an exp3 curve measured at ``t``."""
    widths = []
    for seed in seeds:
        _, low, high = CurveEnsemble(bootstrap=60).fit(t, noisy(exp3, t, sd, seed)).predict(at)
        widths.append(high - low)
    return np.mean(widths)


@pytest.mark.parametrize("at, more_points, less_noise", [(300, 0.7, 0.5), (600, 0.85, 0.65)])
def test_interval_narrows_with_more_points_and_less_noise(at, more_points, less_noise):
    # At the last seen step, and twice as far: there the members' disagreement, which more data hardly removes,
    # is a larger part of the width.
    assert width(np.linspace(10, 300, 40), 0.02, at) < more_points * width(np.linspace(10, 300, 10), 0.02, at)
    assert width(np.linspace(10, 300, 20), 0.005, at) < less_noise * width(np.linspace(10, 300, 20), 0.03, at)


def test_clipping():
    t = np.linspace(10, 300, 15)
    y = noisy(lambda s: 1.02 - 0.5 * np.exp(-s / 50), t, 0.03, 0)  # heads above 1
    assert all(0.0 <= v <= 1.0 for v in CurveEnsemble(bootstrap=50).fit(t, y).predict(1000))
    assert CurveEnsemble(bootstrap=50, clip=None).fit(t, y).predict(1000)[2] > 1.0


def test_bootstrap_is_deterministic_and_cached():
    t = np.linspace(10, 400, 16)
    y = noisy(pow3, t, 0.03, 0)
    a = CurveEnsemble(bootstrap=40, seed=3).fit(t, y)
    b = CurveEnsemble(bootstrap=40, seed=3).fit(t, y)
    assert a.predict(1000) == b.predict(1000)
    assert a.predict(1000) == a.predict(1000)
    assert CurveEnsemble(bootstrap=40, seed=4).fit(t, y).predict(1000) != a.predict(1000)
    many = a.predict_many([500, 1000, 2000])
    assert all(arr.shape == (3,) for arr in many)
    assert tuple(float(arr[1]) for arr in many) == pytest.approx(a.predict(1000))
    assert np.all(np.diff(many[0]) >= 0)  # a rising curve
    a.fit(t, y + 0.01)  # a refit drops the cached bootstrap
    assert a.predict(1000)[0] == pytest.approx(b.predict(1000)[0] + 0.01, abs=1e-3)


def test_no_bootstrap_gives_a_point_interval():
    mean, low, high = CurveEnsemble(bootstrap=0).fit(T, noisy(pow3, T, 0.01, 0)).predict(2000)
    assert mean == low == high


# -- LR-annealing loss law ---------------------------------------------------------------------------------------------
def test_areas_by_hand():
    s1, s2 = AnnealingLaw(decay=0.5).areas([1.0, 1.0, 0.5, 0.5])
    np.testing.assert_allclose(s1, [1.0, 2.0, 2.5, 3.0])
    np.testing.assert_allclose(s2, [0.0, 0.0, 0.5, 0.75])  # momentum 0, 0, 0.5, 0.25


def test_annealing_law_transfers_from_cosine_to_wsd():
    n, peak, true = 3000, 1e-3, (2.0, 0.4, 0.5, 0.3)
    s = np.arange(n)
    cosine = peak * 0.5 * (1 + np.cos(np.pi * s / n))
    wsd = np.where(s < 0.8 * n, peak, peak * np.maximum(1 - (s - 0.8 * n) / (0.2 * n), 1e-3))
    truth = AnnealingLaw()
    truth._params = true
    law = AnnealingLaw().fit(cosine, truth.predict(cosine) + np.random.default_rng(0).normal(0, 0.02, n))
    np.testing.assert_allclose(law.params, true, rtol=0.05)
    predicted, expected = law.predict(wsd), truth.predict(wsd)
    assert np.max(np.abs(predicted - expected)) < 0.01
    # The annealing term matters: WSD's end loss is well below its constant phase, and the law says so.
    assert expected[int(0.8 * n)] - expected[-1] > 0.03
    assert predicted[-1] == pytest.approx(expected[-1], abs=0.005)


def test_annealing_law_errors():
    with pytest.raises(ValueError, match="decay"):
        AnnealingLaw(decay=1.0)
    with pytest.raises(RuntimeError):
        AnnealingLaw().predict([1e-3] * 10)
    with pytest.raises(ValueError, match="losses"):
        AnnealingLaw().fit([1e-3] * 10, [1.0] * 9)


# -- stopping rule -----------------------------------------------------------------------------------------------------
def test_stops_on_a_flat_noisy_curve():
    t = np.arange(10, 410, 10)  # 40 % of the budget
    for seed in range(3):
        d = StopRule(bootstrap=50, seed=seed).decide(t, 0.7 + np.random.default_rng(seed).normal(0, 0.01, t.size), 1000)
        assert d.stop and d.reason == "predicted gain below epsilon"
        assert d.step == 400 and d.current == pytest.approx(0.7, abs=0.01)
        assert d.high - d.current < 0.01


def test_keeps_going_on_a_rising_curve():
    t = np.arange(25, 325, 25)  # 30 % of the budget
    for seed in range(3):
        y = 1 - np.exp(-t / 1000) + np.random.default_rng(seed).normal(0, 0.01, t.size)
        d = StopRule(bootstrap=50).decide(t, y, 1000)
        assert not d.stop and d.reason == "still rising"
        assert d.mean > d.current + 0.1
        assert d.low <= d.mean <= d.high


def test_keeps_going_on_a_curve_that_has_only_begun_to_rise():
    # An S-shaped start fits as a curve about to level off at 0.08; the recent rise keeps the round going.
    d = StopRule(min_fraction=0.0).decide([10, 20, 30, 40], [0.0, 0.0, 0.04, 0.08], 100)
    assert not d.stop and d.reason == "still rising"


def test_keeps_going_while_the_curve_has_not_moved():
    # Nothing learned yet (a plateau before the rise): flat, but not a reason to stop.
    d = StopRule().decide([10, 20, 30, 40, 50], [0.0] * 5, 100)
    assert (d.stop, d.reason, d.mean) == (False, "nothing learned yet", None)


def test_keeps_going_when_the_interval_still_allows_a_gain():
    # Levelled off over the last measurements, but so few and so noisy that the interval's top end is far above.
    t = np.arange(10, 130, 10)
    y = np.array([0.1, 0.3, 0.42, 0.5, 0.55, 0.57, 0.62, 0.57, 0.6, 0.64, 0.58, 0.62])
    d = StopRule(bootstrap=50, min_points=2).decide(t, y, 400)  # the rise over one interval is under epsilon
    assert not d.stop and d.reason == "still gaining" and d.high - d.current >= 0.01


def test_stops_on_target():
    d = StopRule(target=0.8).decide([10, 20], [0.5, 0.85], 1000)
    assert d == StopDecision(step=20, stop=True, reason="target reached", current=0.85, mean=None, low=None, high=None)


def test_with_the_gain_stop_off_only_the_target_stops():
    t = np.arange(10, 410, 10)
    flat = 0.7 + np.random.default_rng(0).normal(0, 0.01, t.size)  # the curve that stops on its gain above
    d = StopRule(bootstrap=50, gain=False).decide(t, flat, 1000)
    assert d == StopDecision(400, False, "below target", float(flat[-1]), None, None, None)
    d = StopRule(target=0.8, gain=False).decide([10, 20], [0.5, 0.85], 1000)
    assert (d.stop, d.reason) == (True, "target reached")


def test_too_early():
    rule = StopRule(target=0.9, min_points=4, min_fraction=0.25)
    assert rule.decide([50, 100, 150, 200], [0.1, 0.2, 0.3, 0.4], 1000).reason == "too early"  # 20 % of the budget
    d = rule.decide([100, 300], [0.1, 0.4], 1000)  # two points only
    assert (d.stop, d.reason, d.current, d.mean) == (False, "too early", 0.4, None)
    assert rule.decide([100, 200, 300, 400], [0.1, 0.2, 0.3, 0.4], 1000).reason == "still rising"


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"epsilon": -0.1}, "epsilon"),
        ({"confidence": 0.0}, "confidence"),
        ({"confidence": 1.5}, "confidence"),
        ({"min_points": 1}, "min_points"),
        ({"min_fraction": -0.1}, "min_fraction"),
        ({"min_fraction": 1.5}, "min_fraction"),
        ({"target": 1.2}, "target"),
        ({"target": -0.1}, "target"),
        ({"min_accuracy": 1.5}, "min_accuracy"),
    ],
)
def test_bad_rule_arguments_raise(kwargs, name):
    with pytest.raises(ValueError, match=name):
        StopRule(**kwargs)


def test_bad_budget_raises():
    with pytest.raises(ValueError, match="budget"):
        StopRule().decide([1, 2], [0.1, 0.2], 0)


def test_decisions_are_deterministic():
    t = np.arange(20, 420, 20)
    y = noisy(pow3, t, 0.03, 5)
    rule = StopRule(bootstrap=40, seed=1)
    assert rule.decide(t, y, 1000) == StopRule(bootstrap=40, seed=1).decide(list(t), list(y), 1000)
    assert rule.decide(t, y, 1000) == rule.decide(t, y, 1000)
