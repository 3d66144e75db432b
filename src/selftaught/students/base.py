"""The Student interface: what the loop needs from a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.training.schedules import Schedule
from selftaught.training.trainer import StepCallback, StopCheck
from selftaught.types import Example, TrainStats

Pick = Callable[[int, int], Sequence[int]]  # (step, batch size) -> indices into fit's examples


@dataclass(frozen=True)
class Completion:
    """One answer as the model produced it: ``text`` (what the task's ``extract`` reads; no end token), ``ids`` (the
    token ids sampled, the end token last when one was sampled) and ``ended`` (it stopped at an end token, not at
    the token cap). Learning from rewards trains on exactly ``ids``."""

    text: str
    ids: tuple[int, ...]
    ended: bool


class Student(ABC):
    """A model that answers prompts and learns from (prompt, answer) examples.

    The loop builds a student with keyword arguments: ``init_seed`` (int), ``batch_size`` (int), ``optim``
    (``OptimConfig``: lr, weight_decay, grad_clip and ``average`` from ``[train]``; only a ``TorchStudent`` is given a
    nonzero ``average``), ``device`` (``"auto"``, ``"cpu"``, ``"cuda"``),
    ``gen_batch`` (rows decoded at once), plus every key of ``student.params``. It calls ``generate``, ``fit``,
    ``save`` (the checkpoint of a round), ``load_weights`` (back to a checkpoint, on resume and between rounds) and,
    for the ``shrink-perturb`` and ``fresh`` warm starts, ``restart``. Constructing or loading a student must not
    reseed torch's global random generator.
    """

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

    def unencodable(self, text: str) -> set[str]:
        """The characters of ``text`` this student's tokenizer cannot encode (its alphabet lacks them). The default:
        none, as for a tokenizer that encodes everything (a byte-level BPE). The loop refuses, before training, a
        task whose problems or answers hold such a character."""
        return set()

    def restart(self, how: str, shrink: float = 1.0, perturb: float = 0.0, seed: int = 0) -> None:
        """Prepare the weights for a new round: ``continue`` / ``re-warm`` keep them, ``shrink-perturb`` sets
        theta <- shrink * theta + perturb * xi with xi a fresh initialisation, ``fresh`` re-initialises."""
        if how not in ("continue", "re-warm"):
            raise SelftaughtError(f"student {type(self).__name__} does not support the warm start {how!r}")

    def sample_tokens(
        self, prompts: Sequence[str], n: int = 1, temperature: float = 0.0, max_new_tokens: int = 32, seed: int = 0
    ) -> list[list[Completion]]:
        """For on-policy ``train.method = "grpo"``: as ``generate``, each answer as a ``Completion`` (its text and
        the token ids sampled, so learning from it trains on exactly those tokens)."""
        raise SelftaughtError(
            f"train.method = 'grpo' with train.grpo.on_policy: student {type(self).__name__} has no sample_tokens "
            "(the token ids it samples); set train.grpo.on_policy = false or use train.method = 'sft'"
        )

    def completion_of(self, text: str) -> Completion:
        """A recorded answer's text as the student trains on it (its tokens and the end token), for offline
        ``train.method = "grpo"``, whose records keep text, not tokens."""
        raise SelftaughtError(
            f"train.method = 'grpo': student {type(self).__name__} has no completion_of (a recorded answer's "
            "tokens); use train.method = 'sft'"
        )

    def answer_logprobs(self, prompts: Sequence[str], answers: Sequence[Completion], temperature: float = 1.0) -> Any:
        """For ``train.method = "grpo"``: ``(logp, mask)``, two (B, T) tensors. ``logp`` holds, with gradient, the
        log-probability of each token of ``answers[i].ids`` (exactly those: the end token only where it was
        sampled), given the prompt and the tokens before it, from the logits divided by ``temperature`` (the
        sampling temperature, so the probabilities are those of the policy that sampled); ``mask`` is True on those
        tokens (0 in ``logp`` elsewhere). Used with ``trainable``, whose parameters the GRPO loop optimises."""
        raise SelftaughtError(
            f"train.method = 'grpo': student {type(self).__name__} has no answer_logprobs (the log-probabilities of "
            "its answers), which learning from rewards needs; use train.method = 'sft'"
        )

    def trainable(self) -> Any:
        """For ``train.method = "grpo"``: the ``torch.nn.Module`` whose parameters learn (those with
        ``requires_grad``) and whose ``train()``/``eval()`` modes ``answer_logprobs`` follows."""
        raise SelftaughtError(
            f"train.method = 'grpo': student {type(self).__name__} exposes no trainable module; use "
            "train.method = 'sft'"
        )

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed to ``load`` this student into ``directory``."""

    @abstractmethod
    def load_weights(self, directory: Path) -> None:
        """Replace this student's weights, in place, by those ``save`` wrote into ``directory``.

        A missing, corrupt or mismatched checkpoint raises SelftaughtError and leaves the current weights as they are.
        """

    @classmethod
    @abstractmethod
    def load(cls, directory: Path) -> Student:
        """Read a student written by ``save``; a corrupt or missing checkpoint raises SelftaughtError."""
