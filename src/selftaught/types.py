"""Plain records that flow between the parts of the loop."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class _NoValue:
    """The value of a call that returned nothing usable: it raised, was stopped, or returned something that is not
    plain data (None, bool, int, float, str, and lists, tuples and str-keyed dicts of them, of exactly those types)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __reduce__(self) -> str:
        return "NO_VALUE"


NO_VALUE = _NoValue()


@dataclass(frozen=True)
class Problem:
    """One problem: the prompt the student sees and, when known, the target answer.

    ``task`` names the skill the problem belongs to (the task's name, unless a mix names its skills otherwise);
    ``params`` is the point of the skill's parameter box it was drawn at, when a teacher chose one; ``meta`` holds
    what else the task attaches to it (JSON-serialisable).
    """

    task: str
    difficulty: int
    prompt: str
    target: str | None
    seed: int
    params: tuple[float, ...] | None = None
    # Task-specific data the verifiers and the oracle need (a code problem's tests, entry point, examples), kept by
    # the store as JSON. Not part of the hash: two problems differ by their prompt, not by their tests.
    meta: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True)
class Ask:
    """What a teacher wants practised: a skill at a difficulty.

    ``params`` optionally places the ask inside the skill's continuous parameter box (see ``Skill.space``); the
    task then samples the problem from those parameters and ``difficulty`` is the integer level they round to.
    """

    skill: str
    difficulty: int
    params: tuple[float, ...] | None = None


@dataclass
class Verdict:
    """A verifier's decision on one problem's attempts.

    ``answer`` is the accepted answer or ``None``; ``score`` is the verifier's confidence in [0, 1];
    ``evidence`` holds what the decision rests on (vote counts, shares, rule results) and is stored as JSON.
    """

    answer: str | None
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.answer is not None


@dataclass(frozen=True)
class Example:
    """A (prompt, answer) pair used in training, with where it came from.

    ``source`` is ``"labelled"``, ``"self"`` (self-labelled this round), ``"hindsight"`` (a failed attempt re-posed
    as the problem it solves) or ``"replay"``; ``origin_round`` is the round whose data it was first produced in;
    ``weight`` its replay priority (1 / the share of its problem's samples accepted; 1 for labels and relabels);
    ``relabel`` the id of the hindsight relabel it came from, if any.
    """

    prompt: str
    answer: str
    difficulty: int
    source: str
    origin_round: int
    task: str = ""
    weight: float = 1.0
    relabel: int | None = None


@dataclass
class TrainStats:
    """What one call of ``Student.fit`` did."""

    steps: int
    tokens: int
    seconds: float
    final_loss: float
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)  # l2 norm of each step's gradient, before clipping
    grad_l1s: list[float] = field(default_factory=list)  # l1 norm of the same gradient
