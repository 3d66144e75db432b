"""The units phases hand to the executor, and the functions that run them in a worker.

A unit is plain data: which experiment's parts to use (``key``, and the experiment itself for a worker that has to
build them), the student replica to load (None: use the driver's students as they are, in its own process), the
inputs and the seed, which the phase derives from (run seed, round, phase, unit) exactly as it would in-process.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from selftaught.run.build import build_student
from selftaught.run.executors import Replica, forget_replica, load_replica, worker_parts
from selftaught.training.schedules import Schedule
from selftaught.types import Example, Problem, TrainStats


@dataclass
class Where:
    """Which parts a unit runs on: ``key`` (the driver's registration), ``exp`` (to build them elsewhere) and the
    driver's torch thread count (the same count gives the same floating-point results)."""

    key: str
    exp: dict[str, Any]
    threads: int


def _enter(where: Where, local: bool) -> Any:
    if not local and torch.get_num_threads() != where.threads:
        torch.set_num_threads(where.threads)
    return worker_parts(where.key, where.exp)


@dataclass
class GenUnit:
    """Member ``member`` samples ``n`` answers to each prompt (one (member, cell) of ATTEMPT)."""

    where: Where
    member: int
    replica: Replica | None
    prompts: list[str]
    n: int
    temperature: float
    max_new_tokens: int
    seed: int


def generate_unit(u: GenUnit) -> list[list[str]]:
    _, parts = _enter(u.where, u.replica is None)
    if u.replica is not None:
        load_replica(u.where.key, u.member, u.replica)
    return parts.students[u.member].generate(
        u.prompts, n=u.n, temperature=u.temperature, max_new_tokens=u.max_new_tokens, seed=u.seed
    )


@dataclass
class ScoreUnit:
    """A batch of one skill's problems and their attempts, for its verifier's ``score_many`` (part of VERIFY)."""

    where: Where
    local: bool
    skill: str
    batch: list[tuple[Problem, list[str]]]


def score_unit(u: ScoreUnit) -> list[list[Any]]:
    _, parts = _enter(u.where, u.local)
    return parts.verifiers[u.skill].score_many(u.batch)


@dataclass
class FitUnit:
    """One ensemble member's training (part of TRAIN). ``start``: the checkpoint it starts from (None: a fresh
    initialisation, or in-process the driver's student as it is); ``restart``: the warm start's arguments."""

    where: Where
    local: bool
    member: int
    start: Replica | None
    restart: tuple[str, float, float, int] | None
    examples: list[Example]
    schedule: Schedule
    steps: int
    seed: int
    pick: Any = None
    stop: Any = None


def fit_unit(u: FitUnit) -> tuple[TrainStats, dict[str, bytes] | None]:
    """The member's training statistics and, outside the driver's process, its checkpoint's files."""
    exp, parts = _enter(u.where, u.local)
    extra = {k: v for k, v in (("pick", u.pick), ("stop", u.stop)) if v is not None}
    if u.local:
        stats = parts.students[u.member].fit(u.examples, u.schedule, u.steps, seed=u.seed, **extra)
        return stats, None
    if u.start is None:
        parts.students[u.member] = build_student(exp, u.member)
    else:
        load_replica(u.where.key, u.member, u.start)
    student = parts.students[u.member]
    forget_replica(u.where.key, u.member)
    if u.restart is not None:
        how, shrink, perturb, seed = u.restart
        student.restart(how, shrink, perturb, seed=seed)
    stats = student.fit(u.examples, u.schedule, u.steps, seed=u.seed, **extra)
    with tempfile.TemporaryDirectory(prefix="selftaught-fit-") as tmp:
        student.save(Path(tmp))
        files = {str(f.relative_to(tmp)): f.read_bytes() for f in sorted(Path(tmp).rglob("*")) if f.is_file()}
    return stats, files
