"""The uniform teacher: every cell of every skill equally often. The baseline the adaptive teachers must beat."""

from __future__ import annotations

import random

from selftaught.teachers._sampling import cells_of, check_skills
from selftaught.teachers.base import Outcome, Skill, Teacher
from selftaught.types import Ask


class UniformTeacher(Teacher):
    """Each ask is a (skill, difficulty) cell drawn uniformly over all cells; it learns nothing."""

    def __init__(self, skills: list[Skill]) -> None:
        self.skills = check_skills(skills)
        self.cells = cells_of(self.skills)

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        return [Ask(s, d) for s, d in rng.choices(self.cells, k=n)]

    def observe(self, outcomes: list[Outcome]) -> None:
        pass
