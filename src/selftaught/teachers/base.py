"""The Teacher interface: ``propose`` what to practise, ``observe`` how it went.

Teachers import nothing from training; the loop is the only place that connects them to the student. A teacher's
configuration is its constructor's arguments (the loop passes ``skills`` plus whatever ``[teacher.params]`` holds);
what it learns lives in attributes ending in ``_``. Those must be JSON values (numbers, strings, lists, dicts with
string keys): they round-trip through ``state_dict`` / ``load_state_dict`` and the run store, so that ``resume``
restores a teacher exactly.

A *cell* is one skill at one integer difficulty, written ``"skill:difficulty"`` where a string key is needed.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from selftaught.types import Ask


@dataclass(frozen=True)
class Skill:
    """A task over a range of difficulties, which the teacher tracks separately.

    ``space`` is the skill's continuous parameter box, one ``(low, high)`` pair per dimension; its first dimension
    is the difficulty itself. Most tasks have that one dimension; a task may declare more (see ``Task.space``),
    which teachers over continuous parameters (ALP-GMM) sample from.
    """

    name: str
    low: int
    high: int
    space: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if self.low > self.high:
            raise ValueError(f"skill {self.name!r}: low difficulty {self.low} is above high {self.high}")
        if not self.space:
            object.__setattr__(self, "space", ((float(self.low), float(self.high)),))

    @property
    def difficulties(self) -> range:
        return range(self.low, self.high + 1)


@dataclass(frozen=True)
class Outcome:
    """What happened to one skill at one difficulty: ``successes`` of ``trials``.

    ``kind`` says where it was measured: ``"evaluation"`` (held-out problems after a round), ``"slice"`` (a small
    held-out slice during training) or ``"attempts"`` (the share of a round's problems whose answer was accepted).
    ``params`` is where in the skill's parameter box it was measured, when the problems were drawn from a point.
    """

    skill: str
    difficulty: int
    successes: int
    trials: int
    kind: str = "evaluation"
    params: tuple[float, ...] | None = None

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


def cell_key(skill: str, difficulty: int) -> str:
    return f"{skill}:{difficulty}"


class Teacher(ABC):
    @abstractmethod
    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        """``n`` asks: what to practise next. Use only ``rng`` for randomness, so a re-run repeats itself."""

    @abstractmethod
    def observe(self, outcomes: list[Outcome]) -> None:
        """Update from measured outcomes (several kinds may arrive together; filter on ``Outcome.kind``)."""

    def observe_labelled(self, outcomes: list[Outcome]) -> None:
        """What round 0 taught, for a teacher that did not choose round 0's batches (``teacher.labelled = false``):
        the held-out evaluation after the labelled round, as ``"evaluation"`` outcomes.

        A teacher that chose the labelled batches gets them through ``observe`` instead. The default ignores them:
        the built-in teachers start from the labelled top they are given (``start``). Override it (for instance to
        call ``observe``) to begin from measured accuracies.
        """
        return None

    def scores(self) -> dict[str, float]:
        """The teacher's internal scores for the report (learning progress, UCB scores, mixture weights...).

        Keys are cell keys (``"skill:difficulty"``) or skill names. The default: none.
        """
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.endswith("_")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


def all_cells(skills: Sequence[Skill]) -> Iterator[tuple[str, int]]:
    """Every (skill name, difficulty) pair the skills cover, in order."""
    for s in skills:
        for d in s.difficulties:
            yield s.name, d
