"""Build the loop's parts from a validated experiment. The loop receives them and never reads the config's names."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from .config import Experiment
from .curation import Curator, ReplayCurator
from .errors import SelftaughtError
from .registry import resolve
from .seeding import derive_seed
from .students.base import Student
from .students.builtin import GPTStudent
from .students.gpt import GPTConfig
from .tasks import BUILTIN_TASKS, Task
from .tasks.base import provides
from .teachers import BUILTIN_TEACHERS, Teacher
from .training.schedules import SCHEDULES, WSD, Schedule
from .training.trainer import OptimConfig
from .verifiers import BUILTIN_VERIFIERS, AllOf, LengthFilter, OracleVerifier, Verifier, VoteVerifier


def _construct(cls: type, what: str, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise SelftaughtError(f"{what} {cls.__name__}: {e}") from None


def build_task(exp: Experiment) -> Task:
    cls = resolve(exp.task.name, BUILTIN_TASKS, "task", Task)
    task = _construct(cls, "task", **exp.task.params)
    if not task.name:
        task.name = exp.task.name
    return task


def build_student(exp: Experiment, member: int) -> Student:
    """Ensemble member ``member``: same architecture, its own initialisation seed."""
    s, t = exp.student, exp.train
    init_seed = derive_seed(exp.seed, "init", member)
    optim = OptimConfig(lr=t.lr, weight_decay=t.weight_decay, grad_clip=t.grad_clip)
    if s.kind == "gpt":
        model = GPTConfig(
            n_layer=s.n_layer,
            n_head=s.n_head,
            n_embd=s.n_embd,
            pos=s.pos,
            rope_scale=s.rope_scale,
            dropout=s.dropout,
            block_size=s.block_size,
        )
        return _construct(
            GPTStudent,
            "student",
            model=model,
            optim=optim,
            batch_size=t.batch_size,
            gen_batch=s.gen_batch,
            device=s.device,
            init_seed=init_seed,
        )
    cls = resolve(s.kind, {}, "student", Student)
    return _construct(cls, "student", **_accepted(cls, {"init_seed": init_seed, "batch_size": t.batch_size}))


def _accepted(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    params = inspect.signature(cls).parameters
    return {k: v for k, v in kwargs.items() if k in params}


def build_verifier(exp: Experiment, task: Task) -> Verifier:
    parts: list[Verifier] = []
    for name in exp.verifier.filters:
        if name == "vote":
            parts.append(_construct(VoteVerifier, "verifier", threshold=exp.verifier.vote_threshold))
        elif name == "length":
            parts.append(LengthFilter(task))
        elif name == "oracle":
            parts.append(OracleVerifier(task))
        else:
            cls = resolve(name, BUILTIN_VERIFIERS, "verifier", Verifier)
            parts.append(_construct(cls, "verifier", **_accepted(cls, {"task": task})))
    if not parts:
        raise SelftaughtError("verifier.filters is empty: self-labelled rounds need at least one filter")
    return parts[0] if len(parts) == 1 else AllOf(parts)


def build_teacher(exp: Experiment, task: Task) -> Teacher:
    cls = resolve(exp.loop.teacher, BUILTIN_TEACHERS, "teacher", Teacher)
    kwargs = {
        "skill": task.name,
        "start": exp.loop.labelled_max,
        "step": exp.loop.step,
        "advance_at": exp.loop.advance_at,
    }
    return _construct(cls, "teacher", **_accepted(cls, kwargs))


def build_schedule(exp: Experiment) -> Schedule:
    t = exp.train
    if t.schedule == "wsd":
        return _construct(WSD, "schedule", warmup=t.warmup, decay=t.decay)
    return _construct(SCHEDULES[t.schedule], "schedule", warmup=t.warmup)


@dataclass
class Parts:
    task: Task
    students: list[Student]
    verifier: Verifier
    oracle: OracleVerifier
    teacher: Teacher
    curator: Curator
    schedule: Schedule


def build_parts(exp: Experiment) -> Parts:
    task = build_task(exp)
    if exp.loop.attempts == "split" and not provides(task, "split"):
        raise SelftaughtError(f"loop.attempts = 'split': task {task.name!r} does not split its problems (Task.split)")
    return Parts(
        task=task,
        students=[build_student(exp, m) for m in range(exp.student.ensemble)],
        verifier=build_verifier(exp, task),
        oracle=OracleVerifier(task),
        teacher=build_teacher(exp, task),
        curator=ReplayCurator(exp.train.replay_share),
        schedule=build_schedule(exp),
    )
