"""The annealing law: the training loss as a function of the learning-rate schedule."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftaught.curves.fitting import TINY, solve


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
        n1, n2 = s1.max(), max(float(np.abs(s2).max()), TINY)
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

        found = solve(
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
