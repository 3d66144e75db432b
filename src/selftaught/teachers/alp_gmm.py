"""ALP-GMM (Portelas et al. 2019): sample task parameters where absolute learning progress is high.

Each skill has a continuous parameter box (``Skill.space``; the first dimension is the difficulty). Every measured
result r at a point p gets ALP = |r - r_old|, with r_old the result at the nearest earlier point. A Gaussian mixture
is fitted on (p, ALP); new points are drawn from its components in proportion to their mean ALP.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np

from selftaught.teachers._sampling import check, check_kinds, check_skills, usable, with_floor
from selftaught.teachers.base import Outcome, Skill, Teacher
from selftaught.types import Ask

RECENT = 50  # a skill's ALP is the mean over its last RECENT results
TINY = 1e-6  # keeps every skill and component drawable


class ALPGMMTeacher(Teacher):
    """ALP-GMM per skill, over the skill's box scaled to [0, 1] in each dimension.

    A skill is chosen with probability proportional to its recent mean ALP, mixed with ``epsilon`` uniform. Within
    it, with probability ``epsilon`` (or until a mixture is fitted) the point is uniform in the box; otherwise a
    Gaussian is picked with probability proportional to its mean ALP and the point is drawn from it and clipped.
    Mixtures with 2..``k_max`` components are refitted every ``fit_every`` new results; the lowest AIC is kept.
    """

    def __init__(
        self,
        skills: list[Skill],
        fit_every: int = 30,
        k_max: int = 5,
        epsilon: float = 0.2,
        history: int = 500,
        kinds: list[str] | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(fit_every >= 1, f"fit_every={fit_every} must be >= 1")
        check(k_max >= 2, f"k_max={k_max} must be >= 2")
        check(0.0 <= epsilon <= 1.0, f"epsilon={epsilon} must be in [0, 1]")
        check(history >= 1, f"history={history} must be >= 1")
        self.fit_every, self.k_max, self.epsilon, self.history = int(fit_every), int(k_max), epsilon, int(history)
        self.kinds = check_kinds(kinds)
        names = [s.name for s in self.skills]
        self.points_: dict[str, list[list[float]]] = {n: [] for n in names}  # scaled points, oldest first
        self.results_: dict[str, list[float]] = {n: [] for n in names}  # the success rate at each point
        self.alp_: dict[str, list[float]] = {n: [] for n in names}  # the ALP of each point
        self.pending_: dict[str, int] = {n: 0 for n in names}  # results since the last fit
        self.mixture_: dict[str, dict[str, Any] | None] = {n: None for n in names}  # weights, means, covariances

    @staticmethod
    def _bounds(s: Skill) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.array(s.space, dtype=float).T
        return lo, hi

    def _scale(self, s: Skill, point: tuple[float, ...]) -> list[float]:
        lo, hi = self._bounds(s)
        width = np.where(hi > lo, hi - lo, 1.0)
        return np.clip((np.array(point, dtype=float) - lo) / width, 0.0, 1.0).tolist()

    def _recent_alp(self, name: str) -> float:
        recent = self.alp_[name][-RECENT:]
        return sum(recent) / len(recent) if recent else 0.0

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        g = np.random.default_rng(rng.getrandbits(63))
        skill_p = with_floor([self._recent_alp(s.name) + TINY for s in self.skills], self.epsilon)
        asks = []
        for _ in range(n):
            s = self.skills[g.choice(len(self.skills), p=skill_p)]
            dims = len(s.space)
            mix = self.mixture_[s.name]
            if mix is None or g.random() < self.epsilon:
                x = g.random(dims)
            else:  # pick a component with probability proportional to its mean ALP (last coordinate)
                w = np.array([max(m[-1], 0.0) + TINY for m in mix["means"]])
                k = g.choice(len(w), p=w / w.sum())
                mean = np.array(mix["means"][k][:dims])
                cov = np.array(mix["covariances"][k])[:dims, :dims]  # marginal over the point dimensions
                x = np.clip(g.multivariate_normal(mean, cov), 0.0, 1.0)
            lo, hi = self._bounds(s)
            p = lo + x * (hi - lo)
            difficulty = int(min(max(round(float(p[0])), s.low), s.high))
            asks.append(Ask(s.name, difficulty, tuple(float(v) for v in p)))
        return asks

    def observe(self, outcomes: list[Outcome]) -> None:
        by_name = {s.name: s for s in self.skills}
        for o in usable(outcomes, self.skills, self.kinds):
            s = by_name[o.skill]
            if o.params is not None and len(o.params) == len(s.space):
                point = tuple(o.params)
            else:  # the difficulty, and each further dimension at its high bound
                point = (float(o.difficulty), *(hi for _, hi in s.space[1:]))
            x = self._scale(s, point)
            points, results, alp = self.points_[s.name], self.results_[s.name], self.alp_[s.name]
            if points:  # ALP = |r - r_old| at the nearest earlier point (the most recent one on ties)
                dist = np.linalg.norm(np.array(points) - np.array(x), axis=1)
                nearest = len(points) - 1 - int(np.argmin(dist[::-1]))
                alp.append(abs(o.rate - results[nearest]))
            else:
                alp.append(0.0)
            points.append(x)
            results.append(o.rate)
            for history in (points, results, alp):
                del history[: -self.history]
            self.pending_[s.name] += 1
        for name, pending in self.pending_.items():
            if pending >= self.fit_every:
                self._fit(name)
                self.pending_[name] = 0

    def _fit(self, name: str) -> None:
        """Fit GMMs with 2..k_max components on (point, ALP) and keep the one with the lowest AIC."""
        from sklearn.mixture import GaussianMixture

        data = np.column_stack([np.array(self.points_[name]), np.array(self.alp_[name])])
        best = None
        with warnings.catch_warnings():  # repeated points make k-means warn about fewer distinct clusters
            warnings.simplefilter("ignore")
            for k in range(2, min(self.k_max, len(data)) + 1):
                gmm = GaussianMixture(k, covariance_type="full", random_state=0, reg_covar=1e-4).fit(data)
                aic = gmm.aic(data)
                if best is None or aic < best[0]:
                    best = (aic, gmm)
        if best is not None:
            gmm = best[1]
            self.mixture_[name] = {
                "weights": gmm.weights_.tolist(),
                "means": gmm.means_.tolist(),
                "covariances": gmm.covariances_.tolist(),
            }

    def scores(self) -> dict[str, float]:
        return {s.name: self._recent_alp(s.name) for s in self.skills}
