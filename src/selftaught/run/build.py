"""Build the loop's parts from a validated experiment. The loop receives them and never reads the config's names."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selftaught.config import Experiment, SkillConfig
from selftaught.curves import MODELS, CurveModel, StopRule
from selftaught.errors import SelftaughtError
from selftaught.registry import load_object, resolve
from selftaught.seeding import derive_seed, rng_for
from selftaught.store import Reader
from selftaught.students.base import Student
from selftaught.students.builtin import GPTStudent
from selftaught.students.gpt import GPTConfig
from selftaught.students.torch_base import TorchStudent
from selftaught.tasks import BUILTIN_TASKS, Task
from selftaught.tasks.base import provides
from selftaught.teachers import BUILTIN_TEACHERS, EXTRA_TEACHERS, Skill, Teacher
from selftaught.training.curation import Curator, ReplayCurator
from selftaught.training.schedules import SCHEDULES, LinearDecay, Schedule
from selftaught.training.trainer import OptimConfig
from selftaught.verifiers import BUILTIN_VERIFIERS, AllOf, LengthFilter, OracleVerifier, Verifier, VoteVerifier
from selftaught.verifiers.reward_function import RewardFunctionVerifier, load_reward_function


def _construct(cls: type, what: str, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except SelftaughtError:
        raise
    except (TypeError, ValueError) as e:
        raise SelftaughtError(f"{what} {cls.__name__}: {e}") from None
    except Exception as e:
        # A plug-in's own bug: name the plug-in, keep it to one line.
        raise SelftaughtError(f"{what} {_qualname(cls)} failed to start: {type(e).__name__}: {e}") from None


def _qualname(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _build_task(name: str, params: dict[str, Any], seed: int = 0) -> Task:
    """The task ``name`` with ``params``; a task whose constructor takes ``run_seed`` (jsonl, for its split) gets
    the run's seed, unless the params set it."""
    cls = resolve(name, BUILTIN_TASKS, "task", Task)
    task = _construct(cls, "task", **{**_accepted(cls, {"run_seed": seed}), **params})
    if not task.name:
        task.name = name
    return task


def _probe(task: Task, skill: str, difficulty: int) -> None:
    """Sample one labelled problem before anything is recorded: a task that cannot sample, or whose labelled
    problems have neither a target nor an oracle (so round 0 would train on nothing), is refused up front."""
    kind = f"{type(task).__module__}:{type(task).__qualname__}"
    try:
        problem = task.sample(rng_for(0, "probe", skill), difficulty)
        known = problem.target is not None or task.answer(problem) is not None
    except SelftaughtError:
        raise
    except Exception as e:
        raise SelftaughtError(
            f"task {kind} (skill {skill!r}) failed on a difficulty-{difficulty} problem: {type(e).__name__}: {e}".split(
                "\n"
            )[0]
        ) from None
    if not known:
        raise SelftaughtError(
            f"skill {skill!r}: task {kind} gives its labelled problems no target and has no oracle (answer() is "
            "None), so round 0 has nothing to train on and held-out problems cannot be scored"
        )


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
    configs = exp.skills or [SkillConfig(task=exp.task.name, params=exp.task.params, high=exp.task.high)]
    skills, tasks, labelled = [], {}, {}
    for c in configs:
        task = _build_task(c.task, c.params, exp.seed)
        name = c.name or task.name
        low = max(c.low, task.min_difficulty)
        top = c.labelled_max if c.labelled_max is not None else lp.labelled_max
        high = c.high if c.high is not None else top + lp.max_rounds * lp.step  # as far as the rounds can climb
        if not low <= top <= high:
            raise SelftaughtError(f"skill {name!r}: need low ({low}) <= labelled_max ({top}) <= high ({high})")
        _probe(task, name, top)
        _probe(task, name, high + exp.eval.ahead)  # the largest held-out difficulty, so set-up cannot fail later
        skills.append(Skill(name, low, high, task.space(low, high)))
        tasks[name], labelled[name] = task, top
    _check_sizes(exp, skills, tasks, labelled)
    return SkillSet(skills, tasks, labelled)


def _check_sizes(exp: Experiment, skills: list[Skill], tasks: dict[str, Task], labelled: dict[str, int]) -> None:
    """A task with a finite set of training problems (``Task.size``) must hold at least as many as round 0 draws
    from it (``loop.labelled_problems``, shared uniformly over every skill's labelled difficulties)."""
    cells = [(s.name, d) for s in skills for d in range(s.low, labelled[s.name] + 1)]
    for s in skills:
        task = tasks[s.name]
        sizes = [task.size(d) for d in range(s.low, labelled[s.name] + 1)]
        if any(n is None for n in sizes):
            continue
        mine = sum(1 for name, _ in cells if name == s.name)
        draws = -(-exp.loop.labelled_problems * mine // len(cells))  # this skill's share, rounded up
        have = sum(n for n in sizes if n is not None)
        if have < draws:
            raise SelftaughtError(
                f"skill {s.name!r}: task {task.name!r} has {have} training problem(s) at difficulties "
                f"{s.low}..{labelled[s.name]}, fewer than the {draws} labelled problems round 0 draws from it "
                f"(loop.labelled_problems = {exp.loop.labelled_problems}); lower loop.labelled_problems, or let it "
                "draw them over and over (jsonl: task params repeat = true)"
            )


# The settings every student is constructed with (besides ``student.params``); see ``Student``.
STUDENT_SETTINGS = ("init_seed", "batch_size", "optim", "device", "gen_batch")


def _student_class(kind: str) -> type[Student]:
    if kind == "hf":
        try:
            from selftaught.students.hf import HFStudent
        except ImportError as e:
            raise SelftaughtError(
                f"student kind 'hf' needs the hf extra (pip install -e \".[hf]\"): {e}".split("\n")[0]
            ) from None
        return HFStudent
    return resolve(kind, {"gpt": GPTStudent}, "student", Student)


def build_student(exp: Experiment, member: int) -> Student:
    """Ensemble member ``member``: same architecture, its own initialisation seed.

    Every student gets the training settings (``optim`` from ``[train]``: lr, weight_decay, grad_clip, average),
    ``device``, ``batch_size``, ``gen_batch`` and ``init_seed``, plus ``student.params``; a constructor that cannot
    take one of them is refused, so no setting is dropped without a word; nor is ``train.average`` for a student
    that does not train through the shared trainer (only a ``TorchStudent`` keeps the average).
    """
    s, t = exp.student, exp.train
    settings: dict[str, Any] = {
        "init_seed": derive_seed(exp.seed, "init", member),
        "batch_size": t.batch_size,
        "optim": OptimConfig(lr=t.lr, weight_decay=t.weight_decay, grad_clip=t.grad_clip, average=t.average),
        "device": s.device,
        "gen_batch": s.gen_batch,
    }
    cls = _student_class(s.kind)
    if t.average and not issubclass(cls, TorchStudent):
        raise SelftaughtError(f"train.average: student {_qualname(cls)} keeps no weight average (set it to 0)")
    if cls is GPTStudent:
        fields = {"n_layer", "n_head", "n_embd", "pos", "rope_scale", "dropout", "block_size"}
        unknown = sorted(set(s.params) - fields)
        if unknown:
            raise SelftaughtError(f"student.params: unknown parameter {unknown[0]!r} for 'gpt' (its keys: [student])")
        model = GPTConfig(**{**{k: getattr(s, k) for k in fields}, **s.params})
        return _construct(GPTStudent, "student", model=model, **settings)
    clash = sorted(set(s.params) & set(settings))
    if clash:
        raise SelftaughtError(f"student.params: {clash[0]!r} is set elsewhere in the config, not in params")
    accepts = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepts.values()):
        dropped = [k for k in settings if k not in accepts]
        if dropped:
            raise SelftaughtError(
                f"student {_qualname(cls)} takes no {dropped[0]!r} argument; a student is constructed with "
                f"{', '.join(STUDENT_SETTINGS)} (add **settings to ignore some)"
            )
    return _construct(cls, "student", **settings, **s.params)


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
        elif name not in BUILTIN_VERIFIERS and ":" in name and not isinstance(load_object(name, "verifier"), type):
            parts.append(RewardFunctionVerifier(load_reward_function(name, "verifier"), name=name.rpartition(":")[2]))
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
    cls = resolve(t.kind, {**BUILTIN_TEACHERS, **EXTRA_TEACHERS}, "teacher", Teacher)
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
    if t.schedule not in SCHEDULES:  # a user's Schedule subclass gets the warmup only
        return _construct(resolve(t.schedule, SCHEDULES, "train.schedule", Schedule), "schedule", **kwargs)
    if t.schedule == "wsd":
        kwargs |= {"decay": t.decay, "floor": t.floor, "form": t.decay_form}
    elif t.schedule == "step":
        kwargs |= {"gamma": t.gamma, "every": t.step_every}
    elif t.schedule == "refined":
        if not norms or len(norms) < 2:
            return _construct(LinearDecay, "schedule", **kwargs)
        kwargs |= {"norms": norms, "form": t.refined_form, "smooth": t.refined_smooth}
    return _construct(SCHEDULES[t.schedule], "schedule", **kwargs)


def build_stop_rule(exp: Experiment, seed: int, prior: list[list[tuple[float, float]]] | None = None) -> StopRule:
    """The stopping rule ``[stop]`` describes; ``seed`` seeds its bootstrap (one per round); ``prior``: earlier
    rounds' curves on this round's step axis (``steering.earlier_curves``)."""
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
        models=[resolve(name, MODELS, "stop.curves: curve model", CurveModel) for name in st.curves],
        prior=prior or None,
        prior_share=st.prior_share,
        rise_weight=st.rise_weight,
        gain=st.gain,
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
    if exp.loop.hindsight:
        for name, task in skills.tasks.items():
            if not (provides(task, "relabel") and provides(task, "probe")):
                raise SelftaughtError(
                    f"loop.hindsight: skill {name!r} (task {task.name!r}) cannot relabel attempts (it has no "
                    "'relabel' and 'probe'); set loop.hindsight = false"
                )
    students = [build_student(exp, m) for m in range(exp.student.ensemble)]
    _check_alphabet(exp, skills, students)
    if exp.student.kind == "gpt" and exp.student.pos == "learned":
        _check_block_size(exp, skills)
    if exp.teacher.every or exp.teacher.labelled:
        for s in students:
            if "pick" not in inspect.signature(s.fit).parameters:
                raise SelftaughtError(
                    f"teacher.every / teacher.labelled: student {type(s).__name__}.fit takes no 'pick' argument, "
                    "so the teacher cannot choose its batches"
                )
    # Other runs a setting reads, checked now, so a bad path or store fails before the run begins.
    other_runs = [("train.refined_from", exp.train.refined_from)] if exp.train.refined_from else []
    for setting, run_dir in [*other_runs, *(("stop.prior_from", d) for d in exp.stop.prior_from)]:
        db = Path(run_dir) / "run.db"
        if not db.is_file():
            raise SelftaughtError(f"{setting}: {run_dir} holds no run store (run.db)")
        Reader.open(db).close()
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
    build_stop_rule(exp, seed=0)  # likewise the curve models named in [stop]
    return Parts(
        skills=skills,
        students=students,
        verifiers={name: build_verifier(exp, task) for name, task in skills.tasks.items()},
        oracles={name: OracleVerifier(task) for name, task in skills.tasks.items()},
        teacher=build_teacher(exp, skills),
        curator=build_curator(exp),
    )


ALPHABET_SAMPLES = 16  # problems per labelled difficulty whose text the alphabet check reads


def _check_alphabet(exp: Experiment, skills: SkillSet, students: list[Student]) -> None:
    """Every character of each skill's problems (a sample of each labelled difficulty, and a task's fixed held-out
    problems there) and of their answers must be one the students can encode (``Student.unencodable``): a task
    written in characters the tokenizer lacks (newlines for the character GPT) is refused before any training."""
    for s in skills.skills:
        task = skills.tasks[s.name]
        kind = f"{type(task).__module__}:{type(task).__qualname__}"
        seen: set[str] = set()
        for d in range(s.low, skills.labelled_max[s.name] + 1):
            try:
                rngs = [rng_for(exp.seed, "alphabet", s.name, d, i) for i in range(ALPHABET_SAMPLES)]
                problems = [task.sample(rng, d) for rng in rngs]
                problems += task.held_out(d) or []
                for p in problems:
                    answer = p.target if p.target is not None else task.answer(p)
                    seen.update(p.prompt, answer or "")
            except SelftaughtError:
                raise
            except Exception as e:
                why = f"task {kind} (skill {s.name!r}) failed on a difficulty-{d} problem: {type(e).__name__}: {e}"
                raise SelftaughtError(why.split("\n")[0]) from None
        text = "".join(sorted(seen))
        for student in students:
            bad = student.unencodable(text)
            if bad:
                chars = ", ".join(repr(c) for c in sorted(bad))
                raise SelftaughtError(
                    f"skill {s.name!r}: the problems of task {task.name!r} hold character(s) {chars} that student "
                    f"{type(student).__name__} cannot encode; use a student whose tokenizer has them (the character "
                    "GPT knows printable ASCII only; kind = 'hf' adds newline and tab)"
                )


def build_curator(exp: Experiment) -> Curator:
    """``train.curator``: the built-in replay curator (with ``replay_share``) or a user's Curator subclass, which
    gets ``share`` when its constructor takes it."""
    cls = resolve(exp.train.curator, {"replay": ReplayCurator}, "train.curator", Curator)
    given = {"share": exp.train.replay_share, "priority": exp.train.replay_priority}
    return _construct(cls, "curator", **_accepted(cls, given))


def _check_block_size(exp: Experiment, skills: SkillSet) -> None:
    """Learned positions stop at ``block_size``: every problem the run may see must fit, answer included."""
    limit = exp.student.block_size
    for s in skills.skills:
        task = skills.tasks[s.name]
        top = s.high + exp.eval.ahead
        longest = max(len(task.sample(rng_for(exp.seed, "fit", i), top).prompt) for i in range(8))
        need = longest + task.max_answer_len(top) + 2  # + begin and end tokens
        if need > limit:
            raise SelftaughtError(
                f"student.block_size = {limit} is too short for learned positions: skill {s.name!r} at difficulty "
                f"{top} needs {need} tokens (raise block_size, or use pos = 'index' / 'rope')"
            )
