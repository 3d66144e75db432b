"""S-shaped curve models: curves that can sit flat and then rise (``Logistic``, ``Janoschek``, ``Weibull``, ``MMF``).

From the eleven parametric families of Domhan, Springenberg and Hutter (IJCAI 2015, "Speeding up automatic
hyperparameter optimization of deep neural networks by extrapolation of learning curves"):

- logistic, with a lower level: y = a - d / (1 + exp(k (t - t0))), rising from a - d to a around t0;
- Janoschek: y = alpha - (alpha - beta) exp(-kappa t^delta);
- Weibull: y = alpha - (alpha - beta) exp(-(kappa t)^delta) (the same family as Janoschek, kappa_J = kappa_W^delta,
  parameterised as the paper has it; the solver walks each differently);
- MMF: y = (alpha beta + gamma t^delta) / (beta + t^delta), rising from alpha to gamma; fitted as
  y = a - d / (1 + exp(delta (ln t - m))), a logistic in ln t with a = gamma, d = gamma - alpha, beta = e^(delta m).

Each is written with its top a (alpha, gamma) and its height d = a - (the lower level) >= 0, so the curve rises and
``ceiling`` bounds its top: the fitted curve never passes the ceiling. Without a ceiling the top may reach three
times the measured range above the highest value. The starting points put the rise within the measured steps, and
also after them (the top at the ceiling: a rise that has only begun), and, given a ``prior``, where the earlier
curves rose (scaled to this curve's steps). With delta > 1 Janoschek and Weibull are S-shaped; with delta <= 1
they saturate from the start, like exp3.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
from scipy.special import expit

from selftaught.curves.fitting import TINY, as_prior, half_rise, monotone, solve
from selftaught.curves.models import CurveModel, _level

SHARPNESS = (1.5, 3.0, 6.0)  # the rise's steepness at its midpoint, per starting point (a shape exponent)
LATER = (1.5, 3.0)  # midpoints after the last measured step, in its multiples, for a rise that has only begun
REACH = 20.0  # the furthest midpoint, in multiples of the last measured step
SEEN_SD = 2.0  # a rise mostly still to come needs the part seen to be this many residual sds (see _Sigmoid.fit)
TOP_SD = 0.1  # with a ceiling, the prior that the top is near it: its sd, in the values' units (see _Sigmoid._solve)


class _Sigmoid(CurveModel):
    """Shared bounds and starting points: each family maps a shape (top, height, midpoint x_h, sharpness) to its
    parameters (``_from_shape``); the first two parameters are always the top and the height."""

    n_params = 4
    delayed_rise = True

    @abstractmethod
    def _from_shape(self, a: float, d: float, xh: float, sharp: float) -> np.ndarray:
        """The parameters of a rise from a - d to a, half way at x = ``xh``, about as steep as ``sharp``."""

    @abstractmethod
    def _rest_bounds(self, x: np.ndarray) -> tuple[list[float], list[float]]:
        """Bounds of the third and fourth parameters."""

    def _setup(self, x, y):
        top, span = _level(y)
        ceiling = self.ceiling if self.ceiling is not None else float(y.max()) + 3.0 * span
        ceiling = max(ceiling, float(y.max()))
        low = float(y.min()) - span
        lo3, hi3 = self._rest_bounds(x)
        lb = np.array([float(y.min()), 0.0, *lo3])
        ub = np.array([ceiling, ceiling - low, *hi3])
        base = float(np.mean(y[: max(2, y.size // 5)]))
        base = min(base, top)
        shapes = [(top, top - base, half_rise(x, y)), *((ceiling, ceiling - base, later) for later in LATER)]
        shapes += [(ceiling, ceiling - base, xh / self._scale) for xh in self._prior_midpoints()]
        starts = [self._from_shape(a, max(d, TINY), xh, s) for a, d, xh in shapes for s in SHARPNESS]
        return (lb, ub), starts

    def fit(self, steps, values):
        """As ``CurveModel.fit``; then a fit whose rise is mostly still to come is refused (``ok`` False) unless the
        part of the rise it has seen is SEEN_SD residual sds or more: less, and the rise is extrapolated from the
        noise of the last points (a flat curve that ends on a high measurement)."""
        super().fit(steps, values)
        n = self._x.size
        if self.ok and n > self.n_params:
            a, d = self._theta[0], self._theta[1]
            now = float(self._f(self._x[-1:], *self._theta)[0])
            sd = float(np.sqrt(self.sse / (n - self.n_params)))
            seen, to_come = now - (a - d), a - now
            if to_come > seen and seen < SEEN_SD * sd:
                self.ok = False
        return self

    def _solve(self, y, theta0, max_nfev=None, quick=False):
        """Least squares plus, with a ceiling, sigma^2 ((top - ceiling) / TOP_SD)^2, sigma the values' noise (their
        residual sd around an isotonic fit): where the points pin the top down this weighs little; where they
        cannot (a rise seen only at its start, any top fits as well) it takes the top to the ceiling rather than
        wherever the solver stopped."""
        if self.ceiling is None:
            return super()._solve(y, theta0, max_nfev, quick)
        x = self._x
        w = float(np.sqrt(np.mean((y - monotone(y)) ** 2))) / TOP_SD
        row = np.zeros((1, self.n_params))
        row[0, 0] = w

        def fun(th):
            return np.append(self._f(x, *th) - y, w * (th[0] - self.ceiling))

        def jac(th):
            return np.vstack([self._jac(x, *th), row])

        found = solve(fun, jac, theta0, self._bounds, max_nfev, quick)
        if found is None:
            return None
        return found[0], float(np.sum((self._f(x, *found[0]) - y) ** 2))

    def _prior_midpoints(self) -> list[float]:
        """Where each earlier curve reached half its rise, in steps (none without a prior)."""
        if not self.prior:
            return []
        out = []
        for t, y in as_prior(self.prior):
            y = self._sign() * y
            if np.ptp(y) > 0:
                out.append(half_rise(t, y))
        return out


class Logistic(_Sigmoid):
    """y = a - d * expit(-k (t - t0)): from a - d up to a, half way at t0, k > 0. Parameters (a, d, k, t0)."""

    name = "logistic"

    @staticmethod
    def _f(x, a, d, k, m):
        return a - d * expit(-k * (x - m))

    @staticmethod
    def _jac(x, a, d, k, m):
        s = expit(-k * (x - m))
        g = d * s * (1.0 - s)
        return np.column_stack([np.ones_like(x), -s, g * (x - m), -g * k])

    def _rest_bounds(self, x):
        return [1e-2, -1.0], [500.0 / max(x[-1] - x[0], 1e-3), REACH]

    def _from_shape(self, a, d, xh, sharp):
        return np.array([a, d, 2.0 * sharp / xh, xh])

    def _unscale(self, theta):
        a, d, k, m = theta
        return a, d, k / self._scale, m * self._scale


class Janoschek(_Sigmoid):
    """y = alpha - d * exp(-kappa t^delta), d = alpha - beta >= 0. Parameters (alpha, d, kappa, delta)."""

    name = "janoschek"

    @staticmethod
    def _f(x, a, d, k, delta):
        return a - d * np.exp(-k * x**delta)

    @staticmethod
    def _jac(x, a, d, k, delta):
        p = x**delta
        e = np.exp(-k * p)
        return np.column_stack([np.ones_like(x), -e, d * p * e, d * k * p * np.log(x) * e])

    def _rest_bounds(self, x):
        return [0.0, 0.2], [np.inf, 12.0]

    def _from_shape(self, a, d, xh, sharp):
        return np.array([a, d, np.log(2.0) / xh**sharp, sharp])

    def _unscale(self, theta):
        a, d, k, delta = theta
        return a, d, k * self._scale ** (-delta), delta


class Weibull(_Sigmoid):
    """y = alpha - d * exp(-(kappa t)^delta), d = alpha - beta >= 0. Parameters (alpha, d, kappa, delta)."""

    name = "weibull"

    @staticmethod
    def _f(x, a, d, k, delta):
        return a - d * np.exp(-((k * x) ** delta))

    @staticmethod
    def _jac(x, a, d, k, delta):
        kx = k * x
        p = kx**delta
        e = np.exp(-p)
        return np.column_stack([np.ones_like(x), -e, d * e * delta * p / k, d * e * p * np.log(kx)])

    def _rest_bounds(self, x):
        return [1.0 / (2.0 * REACH), 0.2], [50.0 / x[0], 12.0]

    def _from_shape(self, a, d, xh, sharp):
        return np.array([a, d, np.log(2.0) ** (1.0 / sharp) / xh, sharp])

    def _unscale(self, theta):
        a, d, k, delta = theta
        return a, d, k / self._scale, delta


class MMF(_Sigmoid):
    """y = a - d * expit(-delta (ln t - m)): MMF's (alpha beta + gamma t^delta) / (beta + t^delta) with gamma = a,
    alpha = a - d, beta = e^(delta m). Parameters (a, d, m, delta)."""

    name = "mmf"

    @staticmethod
    def _f(x, a, d, m, delta):
        return a - d * expit(-delta * (np.log(x) - m))

    @staticmethod
    def _jac(x, a, d, m, delta):
        u = np.log(x) - m
        s = expit(-delta * u)
        g = d * s * (1.0 - s)
        return np.column_stack([np.ones_like(x), -s, -g * delta, g * u])

    def _rest_bounds(self, x):
        return [float(np.log(x[0])) - 5.0, 0.2], [float(np.log(REACH)), 20.0]

    def _from_shape(self, a, d, xh, sharp):
        return np.array([a, d, float(np.log(xh)), 2.0 * sharp])

    def _unscale(self, theta):
        a, d, m, delta = theta
        return a, d, m + float(np.log(self._scale)), delta


SIGMOIDS: tuple[type[CurveModel], ...] = (Logistic, Janoschek, Weibull, MMF)
