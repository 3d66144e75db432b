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

    Faster climbs, each off by default:

    - ``spread``: the asks are spread evenly over every difficulty above the frontier up to the target, instead of
      all at the target, so a step of several difficulties trains each of them.
    - ``jump``: the frontier moves to the highest difficulty up to which every measured difficulty above it has
      reached ``advance_at`` (the evaluation's ``ahead`` measures past the target), not only to the target.
    - ``grow_at``: after each ``observe`` a skill's step becomes one more than the number of difficulties above its
      (new) frontier measured at ``grow_at`` or more in a row, between ``step`` and ``max_step``: the step grows
      with the margin the model already has past its frontier and falls back when it has none.
    """

    def __init__(
        self,
        skills: list[Skill],
        start: int | dict[str, int] | None = None,
        step: int = 1,
        advance_at: float = 0.9,
        review: float = 0.0,
        spread: bool = False,
        jump: bool = False,
        grow_at: float | None = None,
        max_step: int | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(step >= 1, f"step={step} must be >= 1")
        check(0.0 <= advance_at <= 1.0, f"advance_at={advance_at} must be in [0, 1]")
        check(0.0 <= review < 1.0, f"review={review} must be in [0, 1)")
        check(grow_at is None or 0.0 < grow_at <= 1.0, f"grow_at={grow_at} must be in (0, 1]")
        check(max_step is None or max_step >= step, f"max_step={max_step} must be >= step ({step})")
        check(max_step is None or grow_at is not None, "max_step applies only with grow_at")
        names = [s.name for s in self.skills]
        if isinstance(start, dict):
            for name in start:
                check(
                    name in names, f"start names skill {name!r}, which is not in this experiment ({', '.join(names)})"
                )
        self.step, self.advance_at, self.review = step, advance_at, review
        self.spread, self.jump, self.grow_at = bool(spread), bool(jump), grow_at
        self.max_step = max_step if max_step is not None else 4 * step
        self.frontier_: dict[str, int] = {}
        self.step_: dict[str, int] = {s.name: step for s in self.skills}
        for s in self.skills:
            first = start.get(s.name) if isinstance(start, dict) else start
            first = s.low - 1 if first is None else int(first)
            self.frontier_[s.name] = min(max(first, s.low - 1), s.high)

    def _target(self, s: Skill) -> int:
        return min(self.frontier_[s.name] + self.step_.get(s.name, self.step), s.high)

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        asks = []
        for i in range(n):
            s = self.skills[i % len(self.skills)]
            target = self._target(s)
            if self.review > 0 and target > s.low and rng.random() < self.review:
                asks.append(Ask(s.name, rng.randint(s.low, target - 1)))
            elif self.spread:  # every difficulty above the frontier up to the target (the target alone at the top)
                first = min(max(self.frontier_[s.name] + 1, s.low), target)
                asks.append(Ask(s.name, first + (i // len(self.skills)) % (target - first + 1)))
            else:
                asks.append(Ask(s.name, target))
        return asks

    def observe(self, outcomes: list[Outcome]) -> None:
        seen = usable(outcomes, self.skills, DEFAULT_KINDS)
        for s in self.skills:
            target = self._target(s)
            rates = _rates(o for o in seen if o.skill == s.name)
            if self.jump:
                d = self.frontier_[s.name]
                while d < s.high and d + 1 in rates and rates[d + 1] >= self.advance_at:
                    d += 1
                self.frontier_[s.name] = max(self.frontier_[s.name], d)
            elif rates.get(target, 0.0) >= self.advance_at and self.frontier_[s.name] < s.high:
                self.frontier_[s.name] = target
            if self.grow_at is not None:
                d, ahead = self.frontier_[s.name], 0
                while d + ahead < s.high and rates.get(d + ahead + 1, 0.0) >= self.grow_at:
                    ahead += 1
                self.step_[s.name] = min(max(ahead + 1, self.step), self.max_step)

    def scores(self) -> dict[str, float]:
        return {name: float(f) for name, f in self.frontier_.items()}


def _rates(outcomes) -> dict[int, float]:
    """Difficulty -> successes / trials pooled over ``outcomes``."""
    totals: dict[int, list[int]] = {}
    for o in outcomes:
        t = totals.setdefault(o.difficulty, [0, 0])
        t[0] += o.successes
        t[1] += o.trials
    return {d: k / n for d, (k, n) in totals.items()}
