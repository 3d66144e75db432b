"""UCB over cells on the magnitude of the advantage (DUMP-style): practise where rewards still vary."""

from __future__ import annotations

import math
import random

from selftaught.teachers._sampling import (
    cells_of,
    check,
    check_kinds,
    check_skills,
    draw_cells,
    softmax,
    usable,
    with_floor,
)
from selftaught.teachers.base import Outcome, Skill, Teacher, cell_key
from selftaught.types import Ask

UNVISITED = 1e6  # the score of a cell never proposed: far above any visited one, but finite


class UCBTeacher(Teacher):
    """Scores each cell j by ``mean(window_j) + c * sqrt(2 ln(sum_k n_k) / n_j)``.

    The window holds the last ``window`` values of |advantage| = 2 p (1 - p) for the cell's outcomes (p = the
    outcome's success rate: the expected |reward - mean| of binary rewards, 0 when always or never solved). n_j
    counts the asks proposed for cell j. Asks are sampled with
    ``(1 - epsilon) * softmax(score / temperature) + epsilon * uniform``.
    """

    def __init__(
        self,
        skills: list[Skill],
        c: float = 1.0,
        window: int = 10,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        kinds: list[str] | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(c >= 0, f"c={c} must be >= 0")
        check(window >= 1, f"window={window} must be >= 1")
        check(temperature > 0, f"temperature={temperature} must be > 0")
        check(0.0 <= epsilon <= 1.0, f"epsilon={epsilon} must be in [0, 1]")
        self.c, self.window, self.temperature, self.epsilon = c, int(window), temperature, epsilon
        self.kinds = check_kinds(kinds)
        self.cells = cells_of(self.skills)
        self.visits_: dict[str, int] = {}  # cell key -> asks proposed so far
        self.advantages_: dict[str, list[float]] = {}  # cell key -> last `window` |advantage| values

    def _score(self, key: str, total: int) -> float:
        n = self.visits_.get(key, 0)
        if n == 0:
            return UNVISITED
        window = self.advantages_.get(key, [])
        mean = sum(window) / len(window) if window else 0.0
        return mean + self.c * math.sqrt(2 * math.log(total) / n)  # UCB1 bonus

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        total = sum(self.visits_.values())
        score = [self._score(cell_key(s, d), total) for s, d in self.cells]
        asks = draw_cells(self.cells, with_floor(softmax(score, self.temperature), self.epsilon), n, rng)
        for a in asks:  # counts change only after the whole call's draws
            key = cell_key(a.skill, a.difficulty)
            self.visits_[key] = self.visits_.get(key, 0) + 1
        return asks

    def observe(self, outcomes: list[Outcome]) -> None:
        for o in usable(outcomes, self.skills, self.kinds):
            values = self.advantages_.setdefault(cell_key(o.skill, o.difficulty), [])
            values.append(2 * o.rate * (1 - o.rate))  # E|r - p| for r ~ Bernoulli(p)
            del values[: -self.window]

    def scores(self) -> dict[str, float]:
        total = sum(self.visits_.values())
        return {cell_key(s, d): self._score(cell_key(s, d), total) for s, d in self.cells}
