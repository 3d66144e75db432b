"""The template model: this round's curve follows the shape of an earlier round's.

A round of a run often learns like the round before it (same schedule, a difficulty one step on): its held-out
curve sits, rises and levels off at about the same steps. No curve fitted on this round's first points alone can
see a rise that has not begun; the earlier curve can. ``Template`` fits

    y = a - b * (1 - g(c * t))

where g is the most recent earlier curve that rose (``prior``; the last one given, or before it), made
non-decreasing by isotonic regression and scaled to go from 0 at its first measurement to 1 at its last, and linear
between its measurements (0 before the first, 1 after the last). a is the level it heads for, b the height of its
rise, c stretches time. Where this round's points cannot tell (all before the earlier rise, or too noisy to place
a level: a round's first quarter at a high learning rate often is), a prior holds a near the level the earlier
curve ended at (a0), b near the earlier rise's height (b0) and c near 1: the fit minimises the squared residuals
plus sigma^2 * ((a - a0) / (LEVEL_SD * b0))^2 + sigma^2 * ((b - b0) / (HEIGHT_SD * b0))^2
+ sigma^2 * (ln c / TIME_SD)^2, sigma the noise (the larger of the earlier curve's and this one's residual sd
around their isotonic fits). The level's prior is the tightest: rounds of one run (and the same round of earlier
runs) trained to the end of their schedule end near one level, while the noisy points before the decay scatter
well below it; measurements that keep disagreeing with a0 still move a, since each residual counts once and the
prior once. ``sse`` and the ensemble's weights count the residuals alone.

The earlier curves must be on this curve's step axis: a caller whose rounds have different budgets rescales their
steps first (``selftaught.curves.prior_curves`` does). Without a prior that rose, the fit fails (``ok`` False).
"""

from __future__ import annotations

import numpy as np

from selftaught.curves.fitting import TINY, as_prior, monotone, solve
from selftaught.curves.models import CurveModel, _level

MIN_RISE = 4.0  # an earlier curve counts as rising when its rise is this many times its noise
LEVEL_SD = 0.05  # the prior on a: within about a twentieth of the earlier rise's height of where it ended
HEIGHT_SD = 0.3  # the prior on b: within about a third of the earlier height
TIME_SD = float(np.log(1.5))  # the prior on c: within about a factor 1.5
C_RANGE = (0.25, 4.0)


def shape_of(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float] | None:
    """(steps, shape from 0 to 1, height of the rise, noise sd, level at its end) of a rising curve; None when it
    does not rise."""
    m = monotone(y)
    rise = float(m[-1] - m[0])
    noise = float(np.sqrt(np.mean((y - m) ** 2)))
    if not rise > max(MIN_RISE * noise, TINY):
        return None
    return t, (m - m[0]) / rise, rise, max(noise, 1e-3 * rise), float(m[-1])


class Template(CurveModel):
    """y = a - b * (1 - g(c t)), g the shape of the most recent earlier curve that rose (see the module docstring).
    Parameters (a, b, c)."""

    name = "template"
    n_params = 3
    follows_prior = True
    delayed_rise = True

    def _shape(self) -> tuple[np.ndarray, np.ndarray, float, float, float]:
        for t, y in reversed(as_prior(self.prior or [])):
            found = shape_of(t, self._sign() * y)
            if found is not None:
                return found
        raise ValueError("template: no earlier curve that rose")

    def _g(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The shape and its slope at steps ``s`` (any shape)."""
        ts, gs = self._knots
        flat = np.ravel(s)
        g = np.interp(flat, ts, gs, left=0.0, right=1.0)
        slopes = np.diff(gs) / np.maximum(np.diff(ts), TINY)
        i = np.searchsorted(ts, flat, side="right") - 1
        inside = (i >= 0) & (i < ts.size - 1)
        dg = np.where(inside, slopes[np.clip(i, 0, ts.size - 2)], 0.0)
        return g.reshape(np.shape(s)), dg.reshape(np.shape(s))

    def _f(self, x, a, b, c):
        g, _ = self._g(c * x * self._scale)
        return a - b * (1.0 - g)

    def _jac(self, x, a, b, c):
        g, dg = self._g(c * x * self._scale)
        return np.column_stack([np.ones_like(x), g - 1.0, b * dg * x * self._scale])

    def _setup(self, x, y):
        ts, gs, height, noise, level = self._shape()
        self._knots = (ts, gs)
        # The prior's weight is in units of the noise: this curve's or the earlier one's, whichever is larger (an
        # isotonic fit takes up part of the noise, so each alone is an underestimate).
        self._a0, self._b0 = level, height
        self._sigma = max(noise, float(np.sqrt(np.mean((y - monotone(y)) ** 2))))
        top, span = _level(y)
        # Without a ceiling the top may be the earlier rise's height (twice over) or three ranges above the values.
        ceiling = self.ceiling if self.ceiling is not None else float(y.max()) + max(3.0 * span, 2.0 * height)
        ceiling = max(ceiling, float(y.max()))
        low = float(y.min()) - span
        lb = np.array([float(y.min()), 0.0, C_RANGE[0]])
        ub = np.array([ceiling, max(ceiling - low, height), C_RANGE[1]])
        starts = []
        for c in (1.0, 0.7, 1.4):
            g, _ = self._g(c * x * self._scale)
            # The level reached so far, plus the earlier curve's rise still to come from here.
            b = height
            a = float(np.mean(y - b * (g - 1.0)))
            starts.append(np.array([a, b, c]))
        starts.append(np.clip([level, height, 1.0], lb, ub))  # where the prior would put it
        return (lb, ub), starts

    def _penalty(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b, c = theta
        wa = self._sigma / (LEVEL_SD * self._b0)
        wb = self._sigma / (HEIGHT_SD * self._b0)
        wc = self._sigma / TIME_SD
        rows = np.array([wa * (a - self._a0), wb * (b - self._b0), wc * np.log(max(c, TINY))])
        jac = np.array([[wa, 0.0, 0.0], [0.0, wb, 0.0], [0.0, 0.0, wc / max(c, TINY)]])
        return rows, jac

    def _solve(self, y, theta0, max_nfev=None, quick=False):
        x = self._x

        def fun(th):
            return np.concatenate([self._f(x, *th) - y, self._penalty(th)[0]])

        def jac(th):
            return np.vstack([self._jac(x, *th), self._penalty(th)[1]])

        found = solve(fun, jac, theta0, self._bounds, max_nfev, quick)
        if found is None:
            return None
        theta = found[0]
        return theta, float(np.sum((self._f(x, *theta) - y) ** 2))

    def _unscale(self, theta):
        return tuple(theta)
