"""The Student interface: what the loop needs from a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import SelftaughtError
from ..training.schedules import Schedule
from ..training.trainer import StepCallback, StopCheck
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
        stop: StopCheck | None = None,
    ) -> TrainStats:
        """Train for up to ``steps`` optimiser steps on batches drawn from ``examples``.

        ``pick(step, batch_size)``, when given, chooses each batch's examples (by index); a teacher uses it to
        steer training and may evaluate the student in between. ``stop(steps_done)``, asked after every step, ends
        training early when it returns True (the stopping rule); the schedule still spans ``steps``. A student that
        takes neither still works with teachers that act between rounds and with rounds of fixed length.
        """

    def restart(self, how: str, shrink: float = 1.0, perturb: float = 0.0, seed: int = 0) -> None:
        """Prepare the weights for a new round: ``continue`` / ``re-warm`` keep them, ``shrink-perturb`` sets
        theta <- shrink * theta + perturb * xi with xi a fresh initialisation, ``fresh`` re-initialises."""
        if how not in ("continue", "re-warm"):
            raise SelftaughtError(f"student {type(self).__name__} does not support the warm start {how!r}")

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed to ``load`` this student into ``directory``."""

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Student:
        """Read a student written by ``save``; a corrupt or missing checkpoint raises SelftaughtError."""
