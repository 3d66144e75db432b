"""Build the loop's parts from a validated experiment. The loop receives them and never reads the config's names."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import Experiment, SkillConfig
from .curation import Curator, ReplayCurator
from .curves import StopRule
from .errors import SelftaughtError
from .registry import resolve
from .seeding import derive_seed
from .store import Store
from .students.base import Student
from .students.builtin import GPTStudent
from .students.gpt import GPTConfig
from .tasks import BUILTIN_TASKS, Task
from .tasks.base import provides
from .teachers import BUILTIN_TEACHERS, Skill, Teacher
from .training.schedules import SCHEDULES, LinearDecay, Schedule
from .training.trainer import OptimConfig
from .verifiers import BUILTIN_VERIFIERS, AllOf, LengthFilter, OracleVerifier, Verifier, VoteVerifier


def _construct(cls: type, what: str, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise SelftaughtError(f"{what} {cls.__name__}: {e}") from None


def _build_task(name: str, params: dict[str, Any]) -> Task:
    cls = resolve(name, BUILTIN_TASKS, "task", Task)
    task = _construct(cls, "task", **params)
    if not task.name:
        task.name = name
    return task


@dataclass
class SkillSet:
    """The skills of an experiment with their tasks and labelled ranges, all keyed by skill name."""

    skills: list[Skill]
    tasks: dict[str, Task]
    labelled_max: dict[str, int]

    def skill(self, name: str) -> Skill:
        return next(s for s in self.skills if s.name == name)


def build_skills(exp: Experiment) -> SkillSet:
    """``[[skills]]``, or the one skill ``[task]`` makes: difficulties 1.. as far as the round budget reaches."""
    lp = exp.loop
    configs = exp.skills or [SkillConfig(task=exp.task.name, params=exp.task.params)]
    skills, tasks, labelled = [], {}, {}
    for c in configs:
        task = _build_task(c.task, c.params)
        name = c.name or task.name
        low = max(c.low, task.min_difficulty)
        top = c.labelled_max if c.labelled_max is not None else lp.labelled_max
        high = c.high if c.high is not None else top + lp.max_rounds * lp.step
        if not low <= top <= high:
            raise SelftaughtError(f"skill {name!r}: need low ({low}) <= labelled_max ({top}) <= high ({high})")
        skills.append(Skill(name, low, high, task.space(low, high)))
        tasks[name], labelled[name] = task, top
    return SkillSet(skills, tasks, labelled)


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


def build_teacher(exp: Experiment, skills: SkillSet) -> Teacher:
    """The configured teacher over ``skills``; ``[teacher.params]`` are passed as they are.

    Where the teacher takes them, it also gets ``step`` and ``start``: each skill's labelled top (self-labelled
    rounds begin above it), or nothing when the teacher also chooses the labelled batches and so starts at the bottom.
    """
    t = exp.teacher
    cls = resolve(t.kind, BUILTIN_TEACHERS, "teacher", Teacher)
    start = None if t.labelled else dict(skills.labelled_max)
    offered = {"skills": list(skills.skills), "step": exp.loop.step, "start": start}
    return _construct(cls, "teacher", **{**_accepted(cls, offered), **t.params})


def build_schedule(exp: Experiment, warmup: float | None = None, norms: list[float] | None = None) -> Schedule:
    """The configured schedule (``warmup`` overrides the config's, e.g. 0 for a round that continues).

    ``refined`` is computed from ``norms``, the gradient norms logged in the previous round; without them (round 0)
    it is a linear decay, the schedule the refinement starts from.
    """
    t = exp.train
    kwargs: dict[str, Any] = {"warmup": t.warmup if warmup is None else warmup}
    if t.schedule == "wsd":
        kwargs |= {"decay": t.decay, "floor": t.floor, "form": t.decay_form}
    elif t.schedule == "step":
        kwargs |= {"gamma": t.gamma, "every": t.step_every}
    elif t.schedule == "refined":
        if not norms or len(norms) < 2:
            return _construct(LinearDecay, "schedule", **kwargs)
        kwargs |= {"norms": norms, "form": t.refined_form, "smooth": t.refined_smooth}
    return _construct(SCHEDULES[t.schedule], "schedule", **kwargs)


def build_stop_rule(exp: Experiment, seed: int) -> StopRule:
    """The stopping rule ``[stop]`` describes; ``seed`` seeds its bootstrap (one per round)."""
    st = exp.stop
    return StopRule(
        target=st.target,
        epsilon=st.epsilon,
        confidence=st.confidence,
        min_points=st.min_points,
        min_fraction=st.min_fraction,
        min_accuracy=st.min_accuracy,
        bootstrap=st.bootstrap,
        seed=seed,
    )


@dataclass
class Parts:
    skills: SkillSet
    students: list[Student]
    verifiers: dict[str, Verifier]  # by skill name
    oracles: dict[str, OracleVerifier]
    teacher: Teacher
    curator: Curator


def build_parts(exp: Experiment) -> Parts:
    skills = build_skills(exp)
    if exp.loop.attempts == "split":
        for name, task in skills.tasks.items():
            if not provides(task, "split"):
                raise SelftaughtError(
                    f"loop.attempts = 'split': skill {name!r} (task {task.name!r}) does not split its problems"
                )
    students = [build_student(exp, m) for m in range(exp.student.ensemble)]
    if exp.teacher.every or exp.teacher.labelled:
        for s in students:
            if "pick" not in inspect.signature(s.fit).parameters:
                raise SelftaughtError(
                    f"teacher.every / teacher.labelled: student {type(s).__name__}.fit takes no 'pick' argument, "
                    "so the teacher cannot choose its batches"
                )
    if exp.train.refined_from:  # checked now, so a bad path or store fails before the run begins
        db = Path(exp.train.refined_from) / "run.db"
        if not db.is_file():
            raise SelftaughtError(f"train.refined_from: {exp.train.refined_from} holds no run store (run.db)")
        Store.open(db).close()
    for s in students:
        if exp.stop.every and "stop" not in inspect.signature(s.fit).parameters:
            raise SelftaughtError(
                f"stop.every: student {type(s).__name__}.fit takes no 'stop' argument, so rounds cannot stop early"
            )
        if exp.train.warm_start in ("shrink-perturb", "fresh") and type(s).restart is Student.restart:
            raise SelftaughtError(
                f"train.warm_start = {exp.train.warm_start!r}: student {type(s).__name__} has no 'restart' for it"
            )
    build_schedule(exp)  # each round builds its own; this checks the settings before the run begins
    return Parts(
        skills=skills,
        students=students,
        verifiers={name: build_verifier(exp, task) for name, task in skills.tasks.items()},
        oracles={name: OracleVerifier(task) for name, task in skills.tasks.items()},
        teacher=build_teacher(exp, skills),
        curator=ReplayCurator(exp.train.replay_share),
    )
