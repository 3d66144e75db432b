"""The curve ensemble: curve models weighted by fit quality, with a residual-bootstrap interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from selftaught.curves.fitting import TINY, as_data, as_prior
from selftaught.curves.models import CurveModel
from selftaught.curves.registry import MODELS, SATURATING


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
    """w_i proportional to 1 / residual variance (SSE / (n - k)); NaN or inf SSE (a failed fit) -> 0, and so is a
    member with as many parameters as points or more (it passes through every point: no residual to judge it by)."""
    var = np.array([s / (n - k) if n > k else np.inf for s, k in zip(sses, n_params)], dtype=np.float64)
    good = np.isfinite(var)
    w = np.zeros_like(var)
    w[good] = 1.0 / np.maximum(var[good], TINY)
    total = w.sum()
    return w / total if total > 0 else w


def _share(w: np.ndarray, fixed: np.ndarray, share: float | None) -> np.ndarray:
    """Weights ``w`` (summing to 1, or all 0) with the members marked ``fixed`` favoured so that, were every member's
    fit equally good, they would hold ``share`` of the total: their weights are multiplied by
    share * (members with a weight - 1) / (1 - share), then all are normalised. A worse fit still counts against
    them, as in the weights themselves; ``share`` 1 leaves them alone whenever one has a weight."""
    if share is None or not (w[fixed].any() and w[~fixed].any()):
        return w
    if share >= 1.0:
        out = np.where(fixed, w, 0.0)
    else:
        n = int((w > 0).sum())
        out = np.where(fixed, w * share * max(n - 1, 1) / max(1.0 - share, TINY), w)
    return out / out.sum()


class CurveEnsemble:
    """Curve models weighted by fit quality, with a residual-bootstrap interval on their extrapolation.

    The mean is the weighted members' prediction. The interval covers the uncertainty of the fitted curve (not of
    a new noisy measurement): each of ``bootstrap`` replicates adds resampled residuals to the ensemble's fitted
    values, refits every member from its fitted parameters (a few iterations), reweights them, and takes the
    prediction of one member drawn by those weights; ``low``/``high`` are percentiles over the replicates. Drawing
    one member, rather than averaging them, keeps the members' disagreement in the interval. The bootstrap runs
    once per fit, on the first prediction, and is cached.

    ``clip`` bounds every output (accuracies by default); pass None for a loss (``increasing=False``). Its top is
    also each member's ``ceiling``: an S-shaped member may head for 1.0 from a rise that has only begun. ``fit``
    takes earlier curves of the same kind (``prior``) for the members that use them (the template, and the
    S-shaped members' starting points); ``prior_share`` favours the template (see ``_share``). A member with as many
    parameters as points gets no weight. ``predict_gain`` gives the interval of each replicate's own gain between
    two steps.
    """

    def __init__(
        self,
        models: Sequence[str | type[CurveModel]] = SATURATING,
        bootstrap: int = 100,
        confidence: float = 0.9,
        seed: int = 0,
        increasing: bool = True,
        clip: tuple[float, float] | None = (0.0, 1.0),
        refit_iterations: int = 15,
        prior_share: float | None = None,
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
        if prior_share is not None and not 0.0 <= prior_share <= 1.0:
            raise ValueError(f"prior_share={prior_share}: must be in [0, 1] or None")
        self.models = tuple(models)
        self.bootstrap = bootstrap
        self.confidence = confidence
        self.seed = seed
        self.increasing = increasing
        self.clip = clip
        self.refit_iterations = refit_iterations
        self.prior_share = prior_share
        self.members: list[CurveModel] = []
        self._w = np.empty(0)
        self._boot: tuple[list[np.ndarray], np.ndarray] | None = None

    def fit(
        self,
        steps: Sequence[float],
        values: Sequence[float],
        prior: Sequence[Sequence[tuple[float, float]]] | None = None,
    ) -> CurveEnsemble:
        t, y = as_data(steps, values)
        if prior is not None:
            as_prior(prior)  # checks it
        classes = [MODELS[m] if isinstance(m, str) else m for m in self.models]
        self.members = []
        for cls in classes:
            member = cls(self.increasing)
            member.ceiling, member.prior = self._ceiling(), prior
            self.members.append(member.fit(t, y))
        self._fixed = np.array([m.follows_prior for m in self.members], dtype=bool)
        self._w = self._weigh([m.sse if m.ok else np.nan for m in self.members], t.size)
        if not self._w.any():
            self.members = [_Constant(self.increasing).fit(t, y)]
            self._w, self._fixed = np.ones(1), np.zeros(1, dtype=bool)
        self._t, self._y = t, y
        self._boot = None
        return self

    def _weigh(self, sses: Sequence[float], n: int) -> np.ndarray:
        """Inverse residual variance; the members that follow the prior's shape get ``prior_share`` of it."""
        return _share(_weights(sses, [m.n_params for m in self.members], n), self._fixed, self.prior_share)

    def _ceiling(self) -> float | None:
        """The largest value a member's (possibly negated) curve may reach."""
        if self.clip is None:
            return None
        return self.clip[1] if self.increasing else -self.clip[0]

    @property
    def fallback(self) -> bool:
        """Did no member fit, so that the ensemble is the constant (the mean of the last third)?"""
        self._check_fitted()
        return isinstance(self.members[0], _Constant)

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
            k = float(np.dot(self._w, [m.n_params for m in self.members]))
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
            weights = np.stack([self._weigh(row, n) for row in sses])
            pick = (np.cumsum(weights, axis=1) < rng.random((reps, 1))).sum(axis=1)
            pick = np.where(weights.any(axis=1), np.minimum(pick, len(self.members) - 1), -1)
            self._boot = thetas, pick
        return self._boot

    def member_predictions(self, steps: Sequence[float]) -> list[tuple[CurveModel, float, np.ndarray]]:
        """(member, weight, point predictions at ``steps``) of each member with a weight, unclipped."""
        self._check_fitted()
        t = np.atleast_1d(np.asarray(steps, dtype=np.float64)).ravel()
        return [(m, float(w), m.predict(t)) for m, w in zip(self.members, self._w) if w > 0]

    def _replicates(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The mean at steps ``t`` and each bootstrap replicate's curve there (B, m), both clipped; None without a
        bootstrap."""
        mean = self._mean(t)
        reps = None
        if self.bootstrap:
            thetas, pick = self._bootstrap()
            reps = np.tile(mean, (self.bootstrap, 1))  # a replicate whose refits all failed keeps the mean
            for j, m in enumerate(self.members):
                rows = pick == j
                if rows.any():
                    reps[rows] = m._eval(t, thetas[j][rows])
        if self.clip is not None:
            mean = np.clip(mean, *self.clip)
            reps = None if reps is None else np.clip(reps, *self.clip)
        return mean, reps

    def _interval(self, reps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tail = (1.0 - self.confidence) / 2.0
        low, high = np.quantile(reps, [tail, 1.0 - tail], axis=0)
        return low, high

    def predict_many(self, steps: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, low, high) arrays at ``steps``."""
        self._check_fitted()
        t = np.atleast_1d(np.asarray(steps, dtype=np.float64)).ravel()
        mean, reps = self._replicates(t)
        if reps is None:
            return mean, mean.copy(), mean.copy()
        return (mean, *self._interval(reps))

    def predict_gain(self, start: float, end: float) -> tuple[float, float, float]:
        """(mean, low, high) of the gain from step ``start`` to step ``end``: each replicate's own curve at ``end``
        minus at ``start`` (both clipped), so members that agree there is nothing left to gain agree on a gain near
        0 even where they disagree on the level."""
        self._check_fitted()
        mean, reps = self._replicates(np.array([start, end], dtype=np.float64))
        gain = float(mean[1] - mean[0])
        if reps is None:
            return gain, gain, gain
        low, high = self._interval(reps[:, 1] - reps[:, 0])
        return gain, float(low), float(high)

    def predict(self, step: float) -> tuple[float, float, float]:
        """(mean, low, high) at one step."""
        mean, low, high = self.predict_many([step])
        return float(mean[0]), float(low[0]), float(high[0])
