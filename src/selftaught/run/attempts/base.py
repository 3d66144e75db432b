"""How a round's answers are made: the base of the attempt strategies (``loop.attempts``).

A strategy answers the round's training problems for ATTEMPT, and answers held-out problems for sampling control
(``probe``). It may also hand VERIFY scores it already has (``scores``), hand CURATE extra examples (``examples``)
and write its own records in ATTEMPT's transaction (``Attempted.write``). A new strategy is one file with a subclass
and one line in ``ATTEMPTS`` (``run/attempts/__init__.py``), or ``loop.attempts = "module:Class"``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from selftaught.config import Experiment
from selftaught.run.context import Context
from selftaught.seeding import derive_seed
from selftaught.store import Store
from selftaught.types import Example, Problem
from selftaught.verifiers.base import Score

Answers = list[dict[Any, list[str]]]  # per model: problem key -> its answers


@dataclass
class Attempted:
    """ATTEMPT's result: each model's answers by problem id, and what else to record in the phase's transaction."""

    answers: Answers
    write: Callable[[Store], None] | None = None


class AttemptStrategy(ABC):
    """How answers are made. Subclasses set ``name`` and implement ``attempt``."""

    name = ""

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        """Refuse, with one ``SelftaughtError`` line, settings or parts (``run.build.Parts``: tasks, students) this
        strategy cannot work with; called before the run begins."""
        return None

    @abstractmethod
    def attempt(
        self, ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float
    ) -> Attempted:
        """Every model's ``n`` answers at ``temperature`` to each of round ``r``'s training problems, on round
        ``r - 1``'s weights."""

    def probe(
        self,
        ctx: Context,
        r: int,
        problems: list[tuple[Hashable, Problem]],
        n: int,
        temperature: float,
    ) -> dict[Hashable, list[str]]:
        """Model 0's ``n`` answers at ``temperature`` to held-out ``problems`` (sampling control's slice), made the
        way ``attempt`` makes them, seeded by ``probe_seed``. Default: direct sampling."""
        return ctx.sampler.answers(r, problems, n, temperature, probe_seed(ctx, r, temperature), [0])[0]

    def scores(self, ctx: Context, r: int, attempts: dict[int, list[str]]) -> dict[int, list[Score]]:
        """Scores this strategy already gave some of the round's attempts (VERIFY scores the rest); default none."""
        return {}

    def examples(self, ctx: Context, r: int) -> list[Example]:
        """Training examples this strategy adds to CURATE's fresh ones; default none."""
        return []


def attempt_seed(ctx: Context, r: int, *tag: Any) -> Callable[[int, str, int], int]:
    """ATTEMPT's unit seeds: from (run seed, round, "ATTEMPT", member, skill when there are several, difficulty,
    *``tag``)."""
    seed, single = ctx.exp.seed, len(ctx.parts.skills.skills) == 1
    return lambda m, skill, d: derive_seed(seed, r, "ATTEMPT", m, *(() if single else (skill,)), d, *tag)


def probe_seed(ctx: Context, r: int, temperature: float, *tag: Any) -> Callable[[int, str, int], int]:
    """Sampling control's unit seeds: from (run seed, round, "CONTROL", skill, difficulty, temperature, *``tag``)."""
    seed = ctx.exp.seed
    return lambda m, skill, d: derive_seed(seed, r, "CONTROL", skill, d, temperature, *tag)
