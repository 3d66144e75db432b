"""Absolute learning progress: practise the cells whose success rate is changing, not the solved or the hopeless."""

from __future__ import annotations

import random

from selftaught.teachers._sampling import (
    cells_of,
    check,
    check_kinds,
    check_skills,
    draw_cells,
    pooled_rates,
    softmax,
    with_floor,
)
from selftaught.teachers.base import Outcome, Skill, Teacher, cell_key
from selftaught.types import Ask


class ProgressTeacher(Teacher):
    """A bandit over cells whose reward is the absolute learning progress |fast EMA - slow EMA| of the success rate.

    A cell mastered long ago (rate steady at 1) and an impossible one (steady at 0) both have LP near 0; a cell
    being learned (or forgotten) has a gap between its fast and slow averages. Cells are sampled with
    ``(1 - epsilon) * softmax(LP / temperature) + epsilon * uniform``; unobserved cells have LP 0.
    """

    def __init__(
        self,
        skills: list[Skill],
        fast: float = 0.5,
        slow: float = 0.1,
        temperature: float = 0.05,
        epsilon: float = 0.1,
        kinds: list[str] | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(temperature > 0, f"temperature={temperature} must be > 0")
        check(0.0 <= epsilon <= 1.0, f"epsilon={epsilon} must be in [0, 1]")
        check(0.0 < slow < fast <= 1.0, f"slow={slow} and fast={fast} must satisfy 0 < slow < fast <= 1")
        self.fast, self.slow, self.temperature, self.epsilon = fast, slow, temperature, epsilon
        self.kinds = check_kinds(kinds)
        self.cells = cells_of(self.skills)
        self.fast_: dict[str, float] = {}  # cell key -> fast EMA of the success rate
        self.slow_: dict[str, float] = {}  # cell key -> slow EMA

    def _lp(self, key: str) -> float:
        return abs(self.fast_[key] - self.slow_[key]) if key in self.fast_ else 0.0

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        lp = [self._lp(cell_key(s, d)) for s, d in self.cells]
        return draw_cells(self.cells, with_floor(softmax(lp, self.temperature), self.epsilon), n, rng)

    def observe(self, outcomes: list[Outcome]) -> None:
        for key, rate in pooled_rates(outcomes, self.skills, self.kinds).items():
            if key not in self.fast_:  # the first observation sets both averages
                self.fast_[key] = self.slow_[key] = rate
            else:  # EMA: new = old + a * (rate - old)
                self.fast_[key] += self.fast * (rate - self.fast_[key])
                self.slow_[key] += self.slow * (rate - self.slow_[key])

    def scores(self) -> dict[str, float]:
        return {cell_key(s, d): self._lp(cell_key(s, d)) for s, d in self.cells}
