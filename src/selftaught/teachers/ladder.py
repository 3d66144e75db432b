"""The fixed ladder: each round practises the difficulty ``step`` above the last one mastered."""

from __future__ import annotations

import random

from ..types import Ask
from .base import Outcome, Teacher


class LadderTeacher(Teacher):
    """Climbs ``step`` difficulties at a time from ``start`` (the largest labelled difficulty).

    With ``advance_at = 0`` it climbs every round whatever happened. Above 0 it climbs only once the evaluated
    accuracy at the difficulty it proposed reaches ``advance_at``; until then it proposes the same difficulty again,
    so the next round labels it with a better model. Stopping when the climb stops paying is the loop's decision.
    """

    def __init__(self, skill: str, start: int, step: int = 1, advance_at: float = 0.0) -> None:
        if start < 0 or step < 1:
            raise ValueError(f"start={start} must be >= 0 and step={step} >= 1")
        if not 0.0 <= advance_at <= 1.0:
            raise ValueError(f"advance_at={advance_at} must be in [0, 1]")
        self.skill, self.step, self.advance_at = skill, step, advance_at
        self.frontier_ = start

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        return [Ask(self.skill, self.frontier_ + self.step)] * n

    def observe(self, outcomes: list[Outcome]) -> None:
        target = self.frontier_ + self.step
        seen = [o for o in outcomes if o.skill == self.skill and o.difficulty == target and o.trials]
        accuracy = sum(o.successes for o in seen) / sum(o.trials for o in seen) if seen else 0.0
        if accuracy >= self.advance_at:
            self.frontier_ = target
