"""The fixed ladder: each skill practises the difficulty ``step`` above the last one it mastered."""

from __future__ import annotations

import random

from selftaught.teachers._sampling import DEFAULT_KINDS, check, check_skills, usable
from selftaught.teachers.base import Outcome, Skill, Teacher
from selftaught.types import Ask


class LadderTeacher(Teacher):
    """Climbs ``step`` difficulties at a time from ``start``, one frontier per skill.

    ``start`` is an int for every skill, a dict per skill, or None (``low - 1``: nothing mastered yet). Asks go to
    the skills in turn, at ``target = min(frontier + step, high)``; with probability ``review`` an ask instead
    revisits a uniform difficulty below the target. A skill climbs only once the evaluated accuracy at its target
    reaches ``advance_at`` (default 0.9), and until then it proposes the same target again; with ``advance_at = 0``
    it climbs on every ``observe`` whatever happened. Stopping when the climb stops paying is the loop's decision.
    """

    def __init__(
        self,
        skills: list[Skill],
        start: int | dict[str, int] | None = None,
        step: int = 1,
        advance_at: float = 0.9,
        review: float = 0.0,
    ) -> None:
        self.skills = check_skills(skills)
        check(step >= 1, f"step={step} must be >= 1")
        check(0.0 <= advance_at <= 1.0, f"advance_at={advance_at} must be in [0, 1]")
        check(0.0 <= review < 1.0, f"review={review} must be in [0, 1)")
        names = [s.name for s in self.skills]
        if isinstance(start, dict):
            for name in start:
                check(
                    name in names, f"start names skill {name!r}, which is not in this experiment ({', '.join(names)})"
                )
        self.step, self.advance_at, self.review = step, advance_at, review
        self.frontier_: dict[str, int] = {}
        for s in self.skills:
            first = start.get(s.name) if isinstance(start, dict) else start
            first = s.low - 1 if first is None else int(first)
            self.frontier_[s.name] = min(max(first, s.low - 1), s.high)

    def _target(self, s: Skill) -> int:
        return min(self.frontier_[s.name] + self.step, s.high)

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        asks = []
        for i in range(n):
            s = self.skills[i % len(self.skills)]
            target = self._target(s)
            if self.review > 0 and target > s.low and rng.random() < self.review:
                asks.append(Ask(s.name, rng.randint(s.low, target - 1)))
            else:
                asks.append(Ask(s.name, target))
        return asks

    def observe(self, outcomes: list[Outcome]) -> None:
        seen = usable(outcomes, self.skills, DEFAULT_KINDS)
        for s in self.skills:
            target = self._target(s)
            here = [o for o in seen if o.skill == s.name and o.difficulty == target]
            accuracy = sum(o.successes for o in here) / sum(o.trials for o in here) if here else 0.0
            if accuracy >= self.advance_at and self.frontier_[s.name] < s.high:
                self.frontier_[s.name] = target

    def scores(self) -> dict[str, float]:
        return {name: float(f) for name, f in self.frontier_.items()}
