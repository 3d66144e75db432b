"""The fixed ladder: each round practises the difficulty ``step`` above the last one."""

from __future__ import annotations

import random

from ..types import Ask
from .base import Outcome, Teacher


class LadderTeacher(Teacher):
    """Climbs ``step`` difficulties per round from ``start`` (the largest labelled difficulty), whatever happened.

    Stopping when the climb stops paying is the loop's decision, not the ladder's.
    """

    def __init__(self, skill: str, start: int, step: int = 1) -> None:
        if start < 0 or step < 1:
            raise ValueError(f"start={start} must be >= 0 and step={step} >= 1")
        self.skill, self.step = skill, step
        self.frontier_ = start

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        return [Ask(self.skill, self.frontier_ + self.step)] * n

    def observe(self, outcomes: list[Outcome]) -> None:
        self.frontier_ += self.step
