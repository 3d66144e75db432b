"""The Student interface: what the loop needs from a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

from ..training.schedules import Schedule
from ..training.trainer import StepCallback
from ..types import Example, TrainStats

Pick = Callable[[int, int], Sequence[int]]  # (step, batch size) -> indices into fit's examples


class Student(ABC):
    """A model that answers prompts and learns from (prompt, answer) examples."""

    @abstractmethod
    def generate(
        self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int = 0
    ) -> list[list[str]]:
        """``n`` answers per prompt (greedy when ``temperature == 0``), as text without the end token."""

    @abstractmethod
    def fit(
        self,
        examples: Sequence[Example],
        schedule: Schedule,
        steps: int,
        seed: int = 0,
        callbacks: Sequence[StepCallback] = (),
        pick: Pick | None = None,
    ) -> TrainStats:
        """Train for ``steps`` optimiser steps on batches drawn from ``examples``.

        ``pick(step, batch_size)``, when given, chooses each batch's examples (by index); a teacher uses it to
        steer training and may evaluate the student in between. A student that does not take ``pick`` still works
        with teachers that act only between rounds.
        """

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed to ``load`` this student into ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Student:
        """Read a student written by ``save``; a corrupt or missing checkpoint raises SelftaughtError."""
