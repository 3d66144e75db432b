"""The Teacher interface: ``propose`` what to practise, ``observe`` how it went.

Teachers import nothing from training; the loop is the only place that connects them to the student. A teacher's
configuration is its constructor's arguments; what it learns lives in attributes ending in ``_`` and round-trips
through ``state_dict`` / ``load_state_dict`` so that ``resume`` restores it exactly.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from ..types import Ask


@dataclass(frozen=True)
class Outcome:
    """What happened to one skill at one difficulty: ``successes`` of ``trials`` (from attempts or evaluation)."""

    skill: str
    difficulty: int
    successes: int
    trials: int
    kind: str = "evaluation"  # or "attempts"


class Teacher(ABC):
    @abstractmethod
    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        """``n`` asks for the next round of self-labelled practice."""

    @abstractmethod
    def observe(self, outcomes: list[Outcome]) -> None:
        """Update from a round's results."""

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k.endswith("_")}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)
