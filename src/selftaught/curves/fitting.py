"""Fitting helpers shared by the curve models and the annealing law: validated data and bounded least squares."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import least_squares

TINY = 1e-12


def as_data(steps: Sequence[float], values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
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


def solve(fun, jac, theta0, bounds, max_nfev=None, quick=False) -> tuple[np.ndarray, float] | None:
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


def as_prior(prior) -> list[tuple[np.ndarray, np.ndarray]]:
    """Earlier curves, each a sequence of (step, value) pairs, as validated (steps, values) arrays sorted by step."""
    if isinstance(prior, str | bytes) or not hasattr(prior, "__iter__"):
        raise ValueError(f"prior: need a list of earlier curves, each a list of (step, value) pairs; got {prior!r}")
    out = []
    for i, curve in enumerate(prior):
        pts = np.asarray(curve, dtype=np.float64) if len(curve) else np.empty((0, 2))
        if pts.ndim != 2 or pts.shape[1] != 2 or pts.shape[0] < 2:
            raise ValueError(f"prior: curve {i} must be two or more (step, value) pairs, got shape {pts.shape}")
        try:
            out.append(as_data(pts[:, 0], pts[:, 1]))
        except ValueError as e:
            raise ValueError(f"prior: curve {i}: {e}") from None
    return out


def monotone(y: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to ``y`` in least squares (pool adjacent violators)."""
    means: list[float] = []
    sizes: list[int] = []
    for v in np.asarray(y, dtype=np.float64):
        means.append(float(v))
        sizes.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            n = sizes[-2] + sizes[-1]
            means[-2] = (means[-2] * sizes[-2] + means[-1] * sizes[-1]) / n
            sizes[-2] = n
            means.pop()
            sizes.pop()
    return np.repeat(means, sizes)


def half_rise(x: np.ndarray, y: np.ndarray) -> float:
    """Where the curve's monotone fit first reaches half way from its first to its last value (linearly
    interpolated); the last ``x`` when it does not rise."""
    m = monotone(y)
    half = m[0] + 0.5 * (m[-1] - m[0])
    if not m[-1] > m[0]:
        return float(x[-1])
    i = int(np.argmax(m >= half))
    if i == 0:
        return float(x[0])
    frac = (half - m[i - 1]) / max(m[i] - m[i - 1], TINY)
    return float(x[i - 1] + frac * (x[i] - x[i - 1]))
