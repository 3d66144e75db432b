"""Learning curves: where is held-out accuracy heading, and is it worth training on?

Inside a round the loop measures held-out accuracy every few steps. These tools extrapolate that noisy, rising,
saturating curve to the end of the round's budget:

- three parametric curve models (``Pow3``, ``Exp3``, ``LogPower``), each fitted by bounded least squares;
- ``CurveEnsemble``: the models weighted by inverse residual variance, with a residual-bootstrap interval;
- ``StopRule``: stop once even the optimistic end of that interval gains less than ``epsilon``;
- ``AnnealingLaw``: the training loss as a function of the learning-rate schedule (forward area and annealing
  area, after Tissue et al., "Scaling Law with Learning Rate Annealing"), to predict the loss under another
  schedule.

Steps are training steps; the models are defined for t >= 1, and a step 0 is evaluated as step 1. Time is rescaled
by the largest fitted step internally, so curves over 1..10 000 steps are as well conditioned as over 1..10.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

_TINY = 1e-12


def _as_data(steps: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Validated 1-D float arrays, sorted by step."""
    t = np.atleast_1d(np.asarray(steps, dtype=np.float64))
    y = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if t.ndim != 1 or y.ndim != 1 or t.size != y.size:
        raise ValueError(f"steps and values: need two 1-D sequences of equal length, got {t.shape} and {y.shape}")
    if t.size == 0:
        raise ValueError("steps: a curve needs at least one point")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise ValueError("steps and values: must be finite")
    if np.any(t < 0):
        raise ValueError("steps: must be >= 0")
    order = np.argsort(t, kind="stable")
    return t[order], y[order]


def _solve(fun, jac, theta0, bounds, max_nfev=None, quick=False) -> tuple[np.ndarray, float] | None:
    """Bounded least squares from ``theta0``; None when it fails or ends non-finite.

    ``quick``: a few unbounded Levenberg-Marquardt steps, then clipped into the bounds (several times faster per
    call; for refits that start at a fitted optimum and move little).
    """
    lb, ub = bounds
    theta0 = np.clip(theta0, lb, ub)
    try:
        with np.errstate(all="ignore"):
            if quick:
                theta = np.clip(least_squares(fun, theta0, jac=jac, method="lm", max_nfev=max_nfev).x, lb, ub)
                resid = fun(theta)
            else:
                res = least_squares(fun, theta0, jac=jac, bounds=bounds, x_scale="jac", max_nfev=max_nfev)
                theta, resid = res.x, res.fun
    except (ValueError, RuntimeError, FloatingPointError, np.linalg.LinAlgError):
        return None
    sse = float(np.sum(resid**2))
    if not (np.all(np.isfinite(theta)) and np.isfinite(sse)):
        return None
    return theta, sse


class CurveModel(ABC):
    """A rising, saturating curve y(t) fitted by least squares.

    Subclasses define the curve in rescaled time x = t / scale (``_f``), its Jacobian (``_jac``), bounds and
    starting points. With ``increasing=False`` the model fits the negated values (a falling curve such as a loss)
    and negates its predictions; ``params`` then describe the negated curve.
    """

    name: str = ""
    n_params: int = 0

    def __init__(self, increasing: bool = True) -> None:
        self.increasing = increasing
        self.ok = False
        self.sse = float("inf")
        self._theta: np.ndarray | None = None
        self._scale = 1.0
        self._x = np.empty(0)
        self._bounds: tuple[np.ndarray, np.ndarray] | None = None

    # -- the curve, in rescaled time and on rising (possibly negated) values --------------------------------------
    @staticmethod
    @abstractmethod
    def _f(x: np.ndarray, *theta: np.ndarray) -> np.ndarray:
        """The curve at ``x``; each parameter may be a column (B, 1) to evaluate B parameter sets at once."""

    @staticmethod
    @abstractmethod
    def _jac(x: np.ndarray, *theta: float) -> np.ndarray:
        """d curve / d parameters, shape (len(x), n_params)."""

    @abstractmethod
    def _setup(self, x: np.ndarray, y: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], list[np.ndarray]]:
        """Bounds and starting points for rising values ``y`` at sorted ``x`` in (0, 1]."""

    @abstractmethod
    def _unscale(self, theta: np.ndarray) -> tuple[float, ...]:
        """Parameters in rescaled time -> parameters in steps."""

    # -- fitting --------------------------------------------------------------------------------------------------
    def _sign(self) -> float:
        return 1.0 if self.increasing else -1.0

    def _solve(self, y: np.ndarray, theta0: np.ndarray, max_nfev: int | None = None, quick: bool = False):
        x = self._x
        fun, jac = (lambda th: self._f(x, *th) - y), (lambda th: self._jac(x, *th))
        return _solve(fun, jac, theta0, self._bounds, max_nfev, quick)

    def fit(self, steps: Sequence[float], values: Sequence[float]) -> CurveModel:
        """Fit from several data-derived starting points and keep the best. Never raises on a failed fit: then
        ``ok`` is False and ``predict`` returns NaN. Needs at least ``n_params`` points."""
        t, y = _as_data(steps, values)
        self.ok, self.sse, self._theta = False, float("inf"), None
        self._scale = float(max(t.max(), 1.0))
        self._x = np.maximum(t, 1.0) / self._scale
        if t.size < self.n_params:
            return self
        y = self._sign() * y
        try:
            self._bounds, starts = self._setup(self._x, y)
        except (ValueError, FloatingPointError):
            return self
        for theta0 in starts:
            found = self._solve(y, theta0)
            if found is not None and found[1] < self.sse:
                self._theta, self.sse = found
        self.ok = self._theta is not None
        return self

    def _refit(self, values: np.ndarray, max_nfev: int) -> tuple[np.ndarray, float] | None:
        """Refit to new values at the same steps, starting from the current fit (for the bootstrap)."""
        return self._solve(self._sign() * values, self._theta, max_nfev, quick=True)

    # -- prediction -----------------------------------------------------------------------------------------------
    def _eval(self, steps: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """The curve at ``steps`` for one parameter set (k,) -> (m,), or many (B, k) -> (B, m)."""
        x = np.maximum(np.asarray(steps, dtype=np.float64), 1.0) / self._scale
        cols = [theta[..., i, None] for i in range(self.n_params)]
        with np.errstate(all="ignore"):
            return self._sign() * self._f(x, *cols)

    def predict(self, steps: float | Sequence[float]) -> np.ndarray:
        """Point predictions, the shape of ``steps``; NaN when the fit failed."""
        t = np.asarray(steps, dtype=np.float64)
        if not self.ok:
            return np.full(t.shape, np.nan)
        return self._eval(t.ravel(), self._theta).reshape(t.shape)

    @property
    def params(self) -> tuple[float, ...] | None:
        """The fitted parameters in steps (see the class docstring), or None before a successful fit."""
        return None if self._theta is None else tuple(float(p) for p in self._unscale(self._theta))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(params={self.params}, sse={self.sse:.3g}, ok={self.ok})"


def _level(y: np.ndarray) -> tuple[float, float]:
    """(where the curve has got to: the mean of its last third, or its maximum if higher; its range > 0)."""
    tail = y[-max(1, y.size // 3) :]
    span = float(np.ptp(y))
    return max(float(tail.mean()), float(y.max())), max(span, 1e-3 * max(1.0, float(np.abs(y).max())))


class Pow3(CurveModel):
    """y = a - b * t^(-c), with b >= 0 and c > 0: rises towards a."""

    name = "pow3"
    n_params = 3

    @staticmethod
    def _f(x, a, b, c):
        return a - b * x ** (-c)

    @staticmethod
    def _jac(x, a, b, c):
        p = x ** (-c)
        return np.column_stack([np.ones_like(x), -p, b * p * np.log(x)])

    def _setup(self, x, y):
        top, span = _level(y)
        lb = np.array([y.min() - span, 0.0, 1e-3])
        ub = np.array([y.max() + 3.0 * span, np.inf, 5.0])
        starts = []
        for c in (0.3, 1.0):
            for a in (top + 0.05 * span, top + 0.5 * span):
                starts.append(np.array([a, max(a - y[0], _TINY) * x[0] ** c, c]))
        return (lb, ub), starts

    def _unscale(self, theta):
        a, b, c = theta
        return a, b * self._scale**c, c


class Exp3(CurveModel):
    """y = a - b * exp(-c * t), with b >= 0 and c > 0: rises towards a."""

    name = "exp3"
    n_params = 3

    @staticmethod
    def _f(x, a, b, c):
        return a - b * np.exp(-c * x)

    @staticmethod
    def _jac(x, a, b, c):
        e = np.exp(-c * x)
        return np.column_stack([np.ones_like(x), -e, b * x * e])

    def _setup(self, x, y):
        top, span = _level(y)
        # c * x[0] <= 20: the first point still sees the rise; beyond that b is not identified.
        lb = np.array([y.min() - span, 0.0, 1e-3])
        ub = np.array([y.max() + 3.0 * span, np.inf, max(20.0 / x[0], 1.0)])
        starts = []
        for c in (1.0, 5.0, 20.0):
            c = min(c, ub[2])
            for a in (top + 0.05 * span, top + 0.5 * span):
                starts.append(np.array([a, max(a - y[0], _TINY) * np.exp(c * x[0]), c]))
        return (lb, ub), starts

    def _unscale(self, theta):
        a, b, c = theta
        return a, b, c / self._scale


class LogPower(CurveModel):
    """y = a / (1 + (t / e^b)^c): a logistic in log t. With a > 0 and c < 0 it rises from 0 towards a.

    Values below zero on average (a negated loss) are fitted with a < 0 and c > 0 instead: rising from a towards
    0. Either way the bounds keep the curve rising.
    """

    name = "log-power"
    n_params = 3

    @staticmethod
    def _f(x, a, b, c):
        return a * expit(-c * (np.log(x) - b))

    @staticmethod
    def _jac(x, a, b, c):
        d = np.log(x) - b
        s = expit(-c * d)
        g = a * s * (1.0 - s)
        return np.column_stack([s, g * c, -g * d])

    def _setup(self, x, y):
        top, span = _level(y)
        lo = float(np.log(x[0]))
        positive = y.mean() >= 0
        if positive:
            lb = np.array([0.0, lo - 20.0, -20.0])
            ub = np.array([max(y.max() + 3.0 * span, _TINY), 20.0, 0.0])
        else:
            lb = np.array([min(y.min() - 3.0 * span, -_TINY), lo - 20.0, 0.0])
            ub = np.array([0.0, 20.0, 20.0])
        starts = []
        for c in (-1.0, -0.5, -2.0):
            if positive:
                a = top + 0.05 * span
            else:
                a, c = y.min() - 0.05 * span, -c
            # Through the first point: a / y0 - 1 = exp(c * (log x0 - b)).
            ratio = a / y[0] - 1.0 if y[0] * a > 0 else 1.0
            b = lo - np.log(max(ratio, _TINY)) / c
            starts.append(np.array([a, b, c]))
        return (lb, ub), starts

    def _unscale(self, theta):
        a, b, c = theta
        return a, b + float(np.log(self._scale)), c


class _Constant(CurveModel):
    """The fallback when no curve fits: the mean of the last third of the values."""

    name = "constant"
    n_params = 1

    @staticmethod
    def _f(x, a):
        return a + np.zeros_like(x)

    @staticmethod
    def _jac(x, a):
        return np.ones((x.size, 1))

    def _setup(self, x, y):
        return (np.array([-np.inf]), np.array([np.inf])), [np.array([self._level(y)])]

    def _unscale(self, theta):
        return (theta[0],)

    @staticmethod
    def _level(y: np.ndarray) -> float:
        return float(y[-max(1, -(-y.size // 3)) :].mean())

    def fit(self, steps, values):
        t, y = _as_data(steps, values)
        self._scale = float(max(t.max(), 1.0))
        self._x = np.maximum(t, 1.0) / self._scale
        self._theta = np.array([self._level(self._sign() * y)])
        self.sse = float(np.sum((self._sign() * y - self._theta[0]) ** 2))
        self.ok = True
        return self

    def _refit(self, values, max_nfev):
        y = self._sign() * values
        level = self._level(y)
        return np.array([level]), float(np.sum((y - level) ** 2))


MODELS: dict[str, type[CurveModel]] = {m.name: m for m in (Pow3, Exp3, LogPower)}


def _is_curve_model(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, CurveModel)


def _weights(sses: Sequence[float], n_params: Sequence[int], n: int) -> np.ndarray:
    """w_i proportional to 1 / residual variance (SSE / max(1, n - k)); NaN or inf SSE (a failed fit) -> 0."""
    var = np.array([s / max(1, n - k) for s, k in zip(sses, n_params)], dtype=np.float64)
    good = np.isfinite(var)
    w = np.zeros_like(var)
    w[good] = 1.0 / np.maximum(var[good], _TINY)
    total = w.sum()
    return w / total if total > 0 else w


class CurveEnsemble:
    """Curve models weighted by fit quality, with a residual-bootstrap interval on their extrapolation.

    The mean is the weighted members' prediction. The interval covers the uncertainty of the fitted curve (not of
    a new noisy measurement): each of ``bootstrap`` replicates adds resampled residuals to the ensemble's fitted
    values, refits every member from its fitted parameters (a few iterations), reweights them, and takes the
    prediction of one member drawn by those weights; ``low``/``high`` are percentiles over the replicates. Drawing
    one member, rather than averaging them, keeps the members' disagreement in the interval. The bootstrap runs
    once per fit, on the first prediction, and is cached.

    ``clip`` bounds every output (accuracies by default); pass None for a loss (``increasing=False``).
    """

    def __init__(
        self,
        models: Sequence[str | type[CurveModel]] = ("pow3", "exp3", "log-power"),
        bootstrap: int = 100,
        confidence: float = 0.9,
        seed: int = 0,
        increasing: bool = True,
        clip: tuple[float, float] | None = (0.0, 1.0),
        refit_iterations: int = 15,
    ) -> None:
        unknown = [m for m in models if not (m in MODELS if isinstance(m, str) else _is_curve_model(m))]
        if unknown or not models:
            raise ValueError(f"models={list(models)}: choose one or more of {sorted(MODELS)} or CurveModel classes")
        if bootstrap < 0:
            raise ValueError(f"bootstrap={bootstrap}: must be >= 0")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence={confidence}: must be in (0, 1)")
        if clip is not None and not clip[0] <= clip[1]:
            raise ValueError(f"clip={clip}: need low <= high")
        if refit_iterations < 1:
            raise ValueError(f"refit_iterations={refit_iterations}: must be >= 1")
        self.models = tuple(models)
        self.bootstrap = bootstrap
        self.confidence = confidence
        self.seed = seed
        self.increasing = increasing
        self.clip = clip
        self.refit_iterations = refit_iterations
        self.members: list[CurveModel] = []
        self._w = np.empty(0)
        self._boot: tuple[list[np.ndarray], np.ndarray] | None = None

    def fit(self, steps: Sequence[float], values: Sequence[float]) -> CurveEnsemble:
        t, y = _as_data(steps, values)
        classes = [MODELS[m] if isinstance(m, str) else m for m in self.models]
        self.members = [cls(self.increasing).fit(t, y) for cls in classes]
        self._w = _weights(
            [m.sse if m.ok else np.nan for m in self.members], [m.n_params for m in self.members], t.size
        )
        if not self._w.any():
            self.members = [_Constant(self.increasing).fit(t, y)]
            self._w = np.ones(1)
        self._t, self._y = t, y
        self._boot = None
        return self

    @property
    def weights(self) -> dict[str, float]:
        """Each member's weight (a failed fit: 0; the constant fallback appears as "constant")."""
        self._check_fitted()
        return {m.name: float(w) for m, w in zip(self.members, self._w)}

    def _check_fitted(self) -> None:
        if not self.members:
            raise RuntimeError("CurveEnsemble: call fit() before predicting")

    def _mean(self, steps: np.ndarray) -> np.ndarray:
        return sum(w * m.predict(steps) for m, w in zip(self.members, self._w) if w > 0)

    def _bootstrap(self) -> tuple[list[np.ndarray], np.ndarray]:
        """Per member, B refitted parameter sets (B, k); and which member each replicate speaks for (B,), -1 for
        none (all its refits failed)."""
        if self._boot is None:
            n, reps = self._t.size, self.bootstrap
            fitted = self._mean(self._t)
            # Residuals are smaller than the noise by the fitted degrees of freedom: centre and rescale them.
            resid = self._y - fitted
            k = max(m.n_params for m in self.members)
            resid = (resid - resid.mean()) * np.sqrt(n / max(1, n - k))
            rng = np.random.default_rng(self.seed)
            draws = rng.integers(0, n, size=(reps, n))
            # A failed refit keeps the fitted parameters; a member that failed to fit is never drawn.
            thetas = [np.tile(m._theta, (reps, 1)) if m.ok else np.empty((reps, m.n_params)) for m in self.members]
            sses = np.full((reps, len(self.members)), np.nan)
            for i in range(reps):
                y_star = fitted + resid[draws[i]]
                for j, m in enumerate(self.members):
                    if self._w[j] > 0 and (found := m._refit(y_star, self.refit_iterations)) is not None:
                        thetas[j][i], sses[i, j] = found
            # Each replicate speaks for one member, drawn by the weights refitted on that replicate: the replicates
            # sample the mixture of the members' curves, so the interval widens where the members disagree.
            ks = [m.n_params for m in self.members]
            weights = np.stack([_weights(row, ks, n) for row in sses])
            pick = (np.cumsum(weights, axis=1) < rng.random((reps, 1))).sum(axis=1)
            pick = np.where(weights.any(axis=1), np.minimum(pick, len(self.members) - 1), -1)
            self._boot = thetas, pick
        return self._boot

    def predict_many(self, steps: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) arrays at ``steps``."""
        self._check_fitted()
        t = np.atleast_1d(np.asarray(steps, dtype=np.float64)).ravel()
        mean = self._mean(t)
        if self.bootstrap == 0:
            low, high = mean.copy(), mean.copy()
        else:
            thetas, pick = self._bootstrap()
            reps = np.tile(mean, (self.bootstrap, 1))  # a replicate whose refits all failed keeps the mean
            for j, m in enumerate(self.members):
                rows = pick == j
                if rows.any():
                    reps[rows] = m._eval(t, thetas[j][rows])
            tail = (1.0 - self.confidence) / 2.0
            low, high = np.quantile(reps, [tail, 1.0 - tail], axis=0)
        if self.clip is not None:
            mean, low, high = (np.clip(v, *self.clip) for v in (mean, low, high))
        return mean, low, high

    def predict(self, step: float) -> tuple[float, float, float]:
        """(mean, low, high) at one step."""
        mean, low, high = self.predict_many([step])
        return float(mean[0]), float(low[0]), float(high[0])


class AnnealingLaw:
    """Loss as a function of the learning-rate schedule: L(s) = L0 + A * S1(s)^(-alpha) - C * S2(s).

    S1 is the forward area (the summed learning rate so far); S2 the annealing area: the sum of a momentum
    m_i = decay * m_{i-1} + max(lr_{i-1} - lr_i, 0) of the learning rate's decreases (a warmup's increases add
    no annealing area). Fit on one schedule's losses,
    predict another schedule's loss curve. A schedule starting at learning rate 0 predicts an infinite loss at
    its first steps (S1 = 0); those steps are left out of the fit.
    """

    def __init__(self, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay={decay}: must be in [0, 1)")
        self.decay = decay
        self._params: tuple[float, float, float, float] | None = None

    def areas(self, lrs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """(S1, S2) after each step, for the per-step learning rates ``lrs``."""
        eta = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
        if eta.ndim != 1 or eta.size == 0 or not np.all(np.isfinite(eta)):
            raise ValueError("lrs: need a non-empty 1-D sequence of finite learning rates")
        drops = np.concatenate([[0.0], np.maximum(eta[:-1] - eta[1:], 0.0)])
        m = np.empty_like(eta)
        acc = 0.0
        for i, d in enumerate(drops):
            acc = self.decay * acc + d
            m[i] = acc
        return np.cumsum(eta), np.cumsum(m)

    @staticmethod
    def _law(s1, s2, l0, a, alpha, c):
        with np.errstate(divide="ignore"):
            return l0 + a * s1 ** (-alpha) - c * s2

    def fit(self, lrs: Sequence[float], losses: Sequence[float], start: int = 0) -> AnnealingLaw:
        """Least squares for L0, A, alpha, C >= 0 over the steps from ``start`` on (the areas count every step;
        skipping the warmup and the first steps' fast fall is common); noisy per-step losses are fine."""
        s1, s2 = self.areas(lrs)
        y = np.asarray(losses, dtype=np.float64)
        if y.shape != s1.shape or not np.all(np.isfinite(y)):
            raise ValueError(f"losses: need {s1.size} finite values, one per learning rate")
        keep = (s1 > 0) & (np.arange(s1.size) >= start)
        if keep.sum() < 4:
            raise ValueError("lrs: need at least 4 steps with a positive forward area")
        s1, s2, y = s1[keep], s2[keep], y[keep]
        # Work with areas scaled to at most 1, so the parameters are of similar size.
        n1, n2 = s1.max(), max(float(np.abs(s2).max()), _TINY)
        u, v = s1 / n1, s2 / n2
        # Start: for a grid of alpha, the linear parameters by least squares; keep the best.
        best = None
        for alpha in (0.1, 0.25, 0.5, 0.75, 1.0, 1.5):
            design = np.column_stack([np.ones_like(u), u ** (-alpha), -v])
            lin = np.maximum(np.linalg.lstsq(design, y, rcond=None)[0], 0.0)
            sse = float(np.sum((design @ lin - y) ** 2))
            if best is None or sse < best[0]:
                best = (sse, np.array([lin[0], lin[1], alpha, lin[2]]))

        def jac(th):
            p = u ** (-th[2])
            return np.column_stack([np.ones_like(u), p, -th[1] * p * np.log(u), -v])

        found = _solve(
            lambda th: self._law(u, v, *th) - y, jac, best[1], (np.zeros(4), np.array([np.inf] * 2 + [5.0, np.inf]))
        )
        l0, a, alpha, c = best[1] if found is None else found[0]
        self._params = (float(l0), float(a * n1**alpha), float(alpha), float(c / n2))
        return self

    @property
    def params(self) -> tuple[float, float, float, float] | None:
        """(L0, A, alpha, C), or None before fitting."""
        return self._params

    def predict(self, lrs: Sequence[float]) -> np.ndarray:
        """The loss after each step under the schedule ``lrs``."""
        if self._params is None:
            raise RuntimeError("AnnealingLaw: call fit() before predict()")
        return self._law(*self.areas(lrs), *self._params)


@dataclass(frozen=True)
class StopDecision:
    step: int  # last measured step
    stop: bool
    reason: str  # "target reached", "too early", "nothing learned yet", "still rising", "still gaining",
    # or "predicted gain below epsilon"
    current: float  # the value at `step` (the ensemble's fitted value there once fitted, else the last value)
    mean: float | None  # predicted value at the budget's end (None when not fitted)
    low: float | None
    high: float | None


class StopRule:
    """Stop training when the target is reached, or when even the optimistic end of the predicted interval at the
    budget gains less than ``epsilon`` over the current value. Predicts only once ``min_points`` points and
    ``min_fraction`` of the budget have been seen. Values are accuracies in [0, 1].

    A curve that is still rising is never stopped on a prediction: when the fitted curve gained ``epsilon`` or more
    over the last ``min_points`` measurements, the round goes on ("still rising"). A curve that has only begun to
    rise (an S-shaped start) fits as one about to level off, and the interval is too sure of it. Nor is a curve that
    has learned nothing yet (every measurement under ``min_accuracy``, typically all zero before learning begins):
    no curve model can tell a plateau before the rise from the end of training, so it says "nothing learned yet"."""

    def __init__(
        self,
        target: float | None = None,
        epsilon: float = 0.01,
        confidence: float = 0.9,
        min_points: int = 4,
        min_fraction: float = 0.25,
        bootstrap: int = 100,
        seed: int = 0,
        min_accuracy: float = 0.05,
        models: Sequence[str | type[CurveModel]] = ("pow3", "exp3", "log-power"),
    ) -> None:
        if target is not None and not 0.0 <= target <= 1.0:
            raise ValueError(f"target={target}: must be in [0, 1]")
        if not epsilon >= 0.0:
            raise ValueError(f"epsilon={epsilon}: must be >= 0")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence={confidence}: must be in (0, 1)")
        if min_points < 2:
            raise ValueError(f"min_points={min_points}: must be >= 2")
        if not 0.0 <= min_fraction <= 1.0:
            raise ValueError(f"min_fraction={min_fraction}: must be in [0, 1]")
        if not 0.0 <= min_accuracy <= 1.0:
            raise ValueError(f"min_accuracy={min_accuracy}: must be in [0, 1]")
        if bootstrap < 0:
            raise ValueError(f"bootstrap={bootstrap}: must be >= 0")
        self.target = target
        self.epsilon = epsilon
        self.confidence = confidence
        self.min_points = min_points
        self.min_fraction = min_fraction
        self.bootstrap = bootstrap
        self.seed = seed
        self.min_accuracy = min_accuracy
        self.models = tuple(models)
        CurveEnsemble(self.models)  # checks the names

    def decide(self, steps: Sequence[int], values: Sequence[float], budget: int) -> StopDecision:
        t, y = _as_data(steps, values)
        if budget < 1:
            raise ValueError(f"budget={budget}: must be >= 1")
        step, last = int(t[-1]), float(y[-1])
        if self.target is not None and last >= self.target:
            return StopDecision(step, True, "target reached", last, None, None, None)
        if t.size < self.min_points or t[-1] < self.min_fraction * budget:
            return StopDecision(step, False, "too early", last, None, None, None)
        if float(y.max()) < self.min_accuracy:  # e.g. all zero: learning has not begun
            return StopDecision(step, False, "nothing learned yet", last, None, None, None)
        ens = CurveEnsemble(self.models, bootstrap=self.bootstrap, confidence=self.confidence, seed=self.seed)
        ens.fit(t, y)
        fitted = ens.predict_many([t[-self.min_points], t[-1]])[0]
        current = float(fitted[1])
        mean, low, high = ens.predict(budget)
        if current - float(fitted[0]) >= self.epsilon:
            return StopDecision(step, False, "still rising", current, mean, low, high)
        if high - current < self.epsilon:
            return StopDecision(step, True, "predicted gain below epsilon", current, mean, low, high)
        return StopDecision(step, False, "still gaining", current, mean, low, high)
