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
