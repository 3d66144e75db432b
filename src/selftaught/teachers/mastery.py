"""Mastery gap: practise each cell in proportion to how far it is below the mastery mark, once it is learnable."""

from __future__ import annotations

import random

from selftaught.teachers._sampling import (
    cells_of,
    check,
    check_kinds,
    check_skills,
    draw_cells,
    pooled_counts,
    with_floor,
)
from selftaught.teachers.base import Outcome, Skill, Teacher, cell_key
from selftaught.types import Ask


class MasteryTeacher(Teacher):
    """Weights each cell by its gap to the mark times how learnable it is, with a uniform floor.

    In the spirit of the mastering-rate curriculum (Willems, Lahlou & Bengio, 2020: attend to the tasks that are
    learnable, because what they build on is mastered, and not yet mastered themselves). Here a cell's weight is
    ``max(0, target - r) ** power * ready(r_prev)``, where ``r`` is its success rate pooled over the outcomes of its
    last ``pool`` updates (0 when never observed), ``target`` sits above the mastery mark so that a cell just over
    the mark keeps some practice instead of drifting back under it, and ``ready = r_prev ** readiness`` with
    ``r_prev`` the pooled rate of the difficulty below (1 for a skill's lowest difficulty; ``readiness = 0``
    ignores it). Cells are sampled with ``(1 - epsilon) * weights + epsilon * uniform``; when every weight is 0
    (all at ``target``), uniformly.

    Unlike an exponentiated mixture (skill-it), the weights are proportional to the gap, so the easy cells are not
    starved early: before anything is measured every skill's lowest difficulty weighs the same (every cell, with
    ``readiness = 0``), and each next difficulty opens as the one below is learned. Once most cells are mastered
    nearly all the practice goes to the few still short of the mark, in proportion to how short they are.
    """

    def __init__(
        self,
        skills: list[Skill],
        target: float = 1.0,
        power: float = 1.0,
        readiness: float = 1.0,
        pool: int = 3,
        epsilon: float = 0.1,
        kinds: list[str] | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(0.0 < target <= 1.0, f"target={target} must be in (0, 1]")
        check(power > 0, f"power={power} must be > 0")
        check(readiness >= 0, f"readiness={readiness} must be >= 0 (0: every cell is learnable)")
        check(isinstance(pool, int) and pool >= 1, f"pool={pool} must be an integer >= 1 (updates pooled per cell)")
        check(0.0 <= epsilon <= 1.0, f"epsilon={epsilon} must be in [0, 1]")
        self.target, self.power, self.readiness, self.pool, self.epsilon = target, power, readiness, pool, epsilon
        self.kinds = check_kinds(kinds)
        self.cells = cells_of(self.skills)
        # cell key -> [successes, trials] of each of its last `pool` updates that measured it
        self.recent_: dict[str, list[list[int]]] = {}

    def rate(self, key: str) -> float | None:
        """The pooled success rate of a cell over its last ``pool`` updates (None: never observed)."""
        window = self.recent_.get(key)
        if not window:
            return None
        trials = sum(n for _, n in window)
        return sum(k for k, _ in window) / trials

    def _weight(self, skill: str, difficulty: int, low: int) -> float:
        rate = self.rate(cell_key(skill, difficulty)) or 0.0
        gap = max(0.0, self.target - rate) ** self.power
        if difficulty == low or self.readiness == 0:
            return gap
        below = self.rate(cell_key(skill, difficulty - 1)) or 0.0
        return gap * below**self.readiness

    def _weights(self) -> list[float]:
        low = {s.name: s.low for s in self.skills}
        return [self._weight(s, d, low[s]) for s, d in self.cells]

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        weights = self._weights()
        if sum(weights) <= 0:
            weights = [1.0] * len(self.cells)
        return draw_cells(self.cells, with_floor(weights, self.epsilon), n, rng)

    def observe(self, outcomes: list[Outcome]) -> None:
        for key, t in pooled_counts(outcomes, self.skills, self.kinds).items():
            self.recent_[key] = [*self.recent_.get(key, []), t][-self.pool :]

    def scores(self) -> dict[str, float]:
        """Each cell's share of the non-floor practice (gap x readiness, normalised)."""
        weights = self._weights()
        total = sum(weights) or 1.0
        return {cell_key(s, d): w / total for (s, d), w in zip(self.cells, weights)}
