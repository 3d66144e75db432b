"""Helpers the built-in teachers share: checking arguments, reading outcomes, sampling cells."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

from selftaught.teachers.base import Outcome, Skill, all_cells, cell_key
from selftaught.types import Ask

KINDS = ("evaluation", "slice", "attempts")
DEFAULT_KINDS = ("evaluation", "slice")


def check(ok: bool, message: str) -> None:
    """Raise the one-line ``ValueError`` the loop reports when a parameter is invalid."""
    if not ok:
        raise ValueError(message)


def check_skills(skills: Sequence[Skill]) -> list[Skill]:
    skills = list(skills)
    check(bool(skills), "a teacher needs at least one skill (skills is empty)")
    names = [s.name for s in skills]
    check(len(set(names)) == len(names), f"skills={names} repeats a name")
    return skills


def check_kinds(kinds: Iterable[str] | None) -> tuple[str, ...]:
    kinds = DEFAULT_KINDS if kinds is None else tuple(kinds)
    for k in kinds:
        check(k in KINDS, f"kinds={list(kinds)} names {k!r}, which is not one of {', '.join(KINDS)}")
    return kinds


def usable(outcomes: Iterable[Outcome], skills: Sequence[Skill], kinds: Sequence[str]) -> list[Outcome]:
    """The outcomes a teacher learns from: of the given kinds, with trials, for a known skill and difficulty."""
    by_name = {s.name: s for s in skills}
    return [
        o
        for o in outcomes
        if o.kind in kinds and o.trials > 0 and o.skill in by_name and o.difficulty in by_name[o.skill].difficulties
    ]


def pooled_counts(outcomes: Iterable[Outcome], skills: Sequence[Skill], kinds: Sequence[str]) -> dict[str, list[int]]:
    """Cell key -> [successes, trials] summed over the usable outcomes of that cell."""
    totals: dict[str, list[int]] = {}
    for o in usable(outcomes, skills, kinds):
        t = totals.setdefault(cell_key(o.skill, o.difficulty), [0, 0])
        t[0] += o.successes
        t[1] += o.trials
    return totals


def pooled_rates(outcomes: Iterable[Outcome], skills: Sequence[Skill], kinds: Sequence[str]) -> dict[str, float]:
    """Cell key -> successes / trials pooled over the usable outcomes of that cell."""
    return {k: s / n for k, (s, n) in pooled_counts(outcomes, skills, kinds).items()}


def cells_of(skills: Sequence[Skill]) -> list[tuple[str, int]]:
    return list(all_cells(skills))


def softmax(values: Sequence[float], temperature: float) -> list[float]:
    """exp(v / T) / sum exp(v / T), shifted by the maximum so large scores do not overflow."""
    top = max(values)
    e = [math.exp((v - top) / temperature) for v in values]
    total = sum(e)
    return [x / total for x in e]


def with_floor(probs: Sequence[float], epsilon: float) -> list[float]:
    """(1 - epsilon) * probs + epsilon * uniform: every choice keeps at least epsilon / len(probs)."""
    total = sum(probs)
    n = len(probs)
    return [(1 - epsilon) * p / total + epsilon / n for p in probs]


def draw_cells(cells: Sequence[tuple[str, int]], probs: Sequence[float], n: int, rng: random.Random) -> list[Ask]:
    """``n`` asks, each cell drawn independently with the given probabilities."""
    return [Ask(s, d) for s, d in rng.choices(cells, weights=probs, k=n)]
