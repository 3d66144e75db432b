"""The curve ensemble: curve models weighted by fit quality, with a residual-bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftaught.curves.fitting import TINY, as_data
from selftaught.curves.models import MODELS, CurveModel


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
        t, y = as_data(steps, values)
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


def _is_curve_model(obj: object) -> bool:
    return isinstance(obj, type) and issubclass(obj, CurveModel)


def _weights(sses: Sequence[float], n_params: Sequence[int], n: int) -> np.ndarray:
    """w_i proportional to 1 / residual variance (SSE / max(1, n - k)); NaN or inf SSE (a failed fit) -> 0."""
    var = np.array([s / max(1, n - k) for s, k in zip(sses, n_params)], dtype=np.float64)
    good = np.isfinite(var)
    w = np.zeros_like(var)
    w[good] = 1.0 / np.maximum(var[good], TINY)
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
        t, y = as_data(steps, values)
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
