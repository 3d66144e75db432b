"""Curve models: rising curves y(t) fitted by bounded least squares; here the saturating ones (``Pow3``, ``Exp3``,
``LogPower``), in ``sigmoid`` the S-shaped ones, in ``template`` the one that follows an earlier curve.

Steps are training steps; the models are defined for t >= 1, and a step 0 is evaluated as step 1. Time is rescaled
by the largest fitted step internally, so curves over 1..10 000 steps are as well conditioned as over 1..10.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from selftaught.curves.fitting import TINY, as_data, as_prior, solve


class CurveModel(ABC):
    """A rising, saturating curve y(t) fitted by least squares.

    Subclasses define the curve in rescaled time x = t / scale (``_f``), its Jacobian (``_jac``), bounds and
    starting points. With ``increasing=False`` the model fits the negated values (a falling curve such as a loss)
    and negates its predictions; ``params`` then describe the negated curve.

    Two optional hints, which the saturating models ignore: ``ceiling``, the largest value the curve can reach (1.0
    for an accuracy; on the negated values for a falling curve), lets a model whose rise has barely begun head that
    far; ``prior``, earlier curves of the same kind (a list of (step, value) sequences, on this curve's step axis),
    gives their shape (see ``selftaught.curves.template``).
    """

    name: str = ""
    n_params: int = 0
    follows_prior: bool = False  # its shape is the prior's (the ensemble's ``prior_share``)
    delayed_rise: bool = False  # it can predict a rise that has not begun (the stopping rule's "rise predicted")

    def __init__(
        self,
        increasing: bool = True,
        ceiling: float | None = None,
        prior: Sequence[Sequence[tuple[float, float]]] | None = None,
    ) -> None:
        self.increasing = increasing
        self.ceiling = ceiling
        self.prior = prior
        if prior is not None:
            as_prior(prior)  # checks it
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
        return solve(fun, jac, theta0, self._bounds, max_nfev, quick)

    def fit(self, steps: Sequence[float], values: Sequence[float]) -> CurveModel:
        """Fit from several data-derived starting points and keep the best. Never raises on a failed fit: then
        ``ok`` is False and ``predict`` returns NaN. Needs at least ``n_params`` points."""
        t, y = as_data(steps, values)
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
                starts.append(np.array([a, max(a - y[0], TINY) * x[0] ** c, c]))
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
                starts.append(np.array([a, max(a - y[0], TINY) * np.exp(c * x[0]), c]))
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
            ub = np.array([max(y.max() + 3.0 * span, TINY), 20.0, 0.0])
        else:
            lb = np.array([min(y.min() - 3.0 * span, -TINY), lo - 20.0, 0.0])
            ub = np.array([0.0, 20.0, 20.0])
        starts = []
        for c in (-1.0, -0.5, -2.0):
            if positive:
                a = top + 0.05 * span
            else:
                a, c = y.min() - 0.05 * span, -c
            # Through the first point: a / y0 - 1 = exp(c * (log x0 - b)).
            ratio = a / y[0] - 1.0 if y[0] * a > 0 else 1.0
            b = lo - np.log(max(ratio, TINY)) / c
            starts.append(np.array([a, b, c]))
        return (lb, ub), starts

    def _unscale(self, theta):
        a, b, c = theta
        return a, b + float(np.log(self._scale)), c
