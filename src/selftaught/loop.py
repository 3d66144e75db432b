"""The round loop: PROPOSE -> ATTEMPT -> VERIFY -> CURATE -> TRAIN -> EVALUATE -> DECIDE, and nothing else.

Each phase reads its inputs from the store and writes its outputs, plus its own "done" mark, in one transaction.
So the loop keeps no state a crash could lose: resuming means loading the newest checkpoint and running the first
phase not marked done. Every random stream is seeded from (run seed, round, phase), so a re-run phase repeats
itself exactly.

A loop holds its run directory's lock (one writer per run, ``lock.py``) from ``create``/``resume`` until ``close``.

Test hook: with ``SELFTAUGHT_TEST_PAUSE`` set to a point, the process writes the file named by
``SELFTAUGHT_TEST_PAUSE_FILE`` and then sleeps there until a signal ends it, so a test can kill a run at an exact
point whatever the machine's speed. Points: ``PHASE:ROUND`` (``ATTEMPT:1``: as round 1's ATTEMPT starts),
``TRAIN:ROUND:STEP`` (``TRAIN:1:50``: after round 1's 50th training step) and ``REPORT`` (``selftaught run`` and
``resume``, before they write the report). A shorter point matches more: ``TRAIN`` is the first TRAIN.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .build import Parts, build_parts, build_schedule, build_stop_rule
from .config import Experiment, experiment_toml, load_experiment, one_line
from .curves import StopRule
from .errors import SelftaughtError
from .evaluation import accuracy_table, pass_at_k
from .lock import LOCK_NAME, RunLock
from .picking import TeacherBatches
from .seeding import derive_seed, rng_for
from .store import PHASES, Store
from .students.base import Student
from .teachers import Outcome
from .training.schedules import Cooldown, Schedule
from .training.warmstart import warmup_applies
from .types import Ask, Example, Problem
from .verifiers.base import Score

log = logging.getLogger(__name__)

DB_NAME = "run.db"
CONTINUE = "continue"
PAUSE_ENV, PAUSE_FILE_ENV = "SELFTAUGHT_TEST_PAUSE", "SELFTAUGHT_TEST_PAUSE_FILE"
# What a run that failed at its very start (before any round) can have left in its directory.
_START_FILES = {"config.toml", "config.given.toml", DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}


class LoopCallback:
    """Hooks for side effects (progress bars, trackers). The loop calls them; it never knows who listens.

    What a phase recorded reaches the hooks from the store, after the phase's transaction committed: per-step
    training metrics (``step`` within the round, ``global_step`` on the run's axis), the verifier's acceptance, the
    evaluation rows and the stopping rule's decisions. A resumed run reports only the phases it runs itself.
    """

    def on_run_start(self, run_dir: Path, exp: Experiment, run_id: str) -> None: ...

    def on_phase_start(self, round_: int, phase: str) -> None: ...

    def on_phase_end(self, round_: int, phase: str, seconds: float) -> None: ...

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None: ...

    def on_train_metrics(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_verify(self, round_: int, proposed: int, accepted: int, label_accuracy: float | None) -> None: ...

    def on_evaluate(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_stop_decisions(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_round_end(self, round_: int, decision: str) -> None: ...

    def on_run_end(self, reason: str) -> None: ...


def new_run_id(name: str, when: float | None = None) -> str:
    """``NAME-YYYYmmdd-HHMMSS-xxxx``: the run's name, when it began (``time.time()``, local time; default now) and a
    random tag. The run directory's default name and the store's ``created`` come from the same ``when``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if when is None else when))
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


def pause_if_asked(*where: object) -> None:
    """The test hook (see the module's docstring): block here if ``SELFTAUGHT_TEST_PAUSE`` names this point."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    want, here = spec.split(":"), [str(w) for w in where]
    if len(want) > len(here) or here[: len(want)] != want:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        tmp = f"{marker}.tmp"
        Path(tmp).write_text(json.dumps({"pid": os.getpid(), "at": ":".join(here)}))
        os.replace(tmp, marker)  # it appears whole
    while True:
        time.sleep(3600)


class _TestPause(LoopCallback):
    """Calls the test hook as each phase starts and after each training step."""

    def on_phase_start(self, round_: int, phase: str) -> None:
        pause_if_asked(phase, round_)

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None:
        pause_if_asked("TRAIN", round_, step)


class Loop:
    def __init__(
        self, run_dir: Path, exp: Experiment, store: Store, parts: Parts, callbacks: Sequence[LoopCallback] = ()
    ) -> None:
        self.run_dir, self.exp, self.store, self.parts = run_dir, exp, store, parts
        self.callbacks = list(callbacks)
        self._weights_round = -1  # which round's checkpoint the students hold; -1 = fresh initialisation
        self._eval_prompts: set[str] | None = None
        self._phase_started = 0.0  # wall clock at the start of the running phase's work
        self._cpu_started = 0.0  # the process's CPU time then
        self._slice_problems: list[tuple[int, Problem]] | None = None
        self._lock: RunLock | None = None
        self.at: tuple[int, str] | None = None  # the round and phase ``run`` is in (or was last in)

    # ------------------------------------------------------------------------------------------- construction
    @classmethod
    def create(
        cls,
        run_dir: Path | None,
        exp: Experiment,
        config_text: str,
        callbacks: Sequence[LoopCallback] = (),
        run_id: str | None = None,
        command: str | None = None,
    ) -> Loop:
        """A new run in ``run_dir`` (default ``runs/<run id>``), holding its lock until ``close``.

        Every part is built before the directory is made, so a bad config leaves nothing behind. A directory that
        holds only what a run that failed at its very start left (no store, an empty one, or one without rounds
        whose set-up never finished) is taken over. ``command`` is what the lock file names as the holder.
        """
        parts = build_parts(exp)
        started = time.time()  # one timestamp for the run id, the default directory and the store's ``created``
        run_id = run_id or new_run_id(exp.name, started)
        run_dir = Path("runs") / run_id if run_dir is None else run_dir
        refusal = f"run directory {run_dir} already exists and is not empty (to continue its run: selftaught resume)"
        if run_dir.is_dir() and _start_leftovers(run_dir) is None:
            raise SelftaughtError(refusal)  # before the lock file, so a directory that is not ours stays untouched
        _make_run_dir(run_dir)
        lock = RunLock.acquire(run_dir, command)
        try:
            leftovers = _start_leftovers(run_dir)  # again under the lock: another run may have begun meanwhile
            if leftovers is None:
                raise SelftaughtError(refusal)
            for name in leftovers:
                (run_dir / name).unlink()
            loop = cls._create_in(run_dir, exp, parts, config_text, run_id, started, callbacks, lock)
        except BaseException:
            lock.release()
            raise
        return loop

    @classmethod
    def _create_in(
        cls,
        run_dir: Path,
        exp: Experiment,
        parts: Parts,
        config_text: str,
        run_id: str,
        started: float,
        callbacks: Sequence[LoopCallback],
        lock: RunLock,
        write_config: bool = True,
    ) -> Loop:
        """The store and held-out sets of a new run in ``run_dir``, whose lock is held and which holds no store."""
        if write_config:
            # config.toml is the resolved experiment (`selftaught run RUN_DIR/config.toml` repeats the run); the text
            # it was given as (preset, file, --set overrides) is kept beside it.
            with _writing(run_dir / "config.toml"):
                (run_dir / "config.toml").write_text(experiment_toml(exp))
                (run_dir / "config.given.toml").write_text(config_text)
        store = Store.create(run_dir / DB_NAME, run_id, exp.model_dump(mode="json"), config_text, created=started)
        loop = cls(run_dir, exp, store, parts, callbacks)
        loop._lock = lock
        try:
            loop._setup()
        except BaseException:
            store.close()
            raise
        return loop

    @classmethod
    def resume(cls, run_dir: Path, callbacks: Sequence[LoopCallback] = (), command: str | None = None) -> Loop:
        """The run in ``run_dir``, from its first phase not done, holding the directory's lock until ``close``.

        A run that failed at its very start (see ``create``) is started from its config: the store's, or else
        ``config.toml``'s."""
        check_run_dir(run_dir)
        lock = RunLock.acquire(run_dir, command)
        try:
            if _start_leftovers(run_dir) is not None:
                return cls._start_over(run_dir, callbacks, lock)
            store = Store.open(run_dir / DB_NAME)
            try:
                try:
                    exp = Experiment.model_validate(store.config())
                except ValidationError as e:
                    raise SelftaughtError(
                        f"the config stored in {run_dir / DB_NAME} no longer validates: {one_line(e)}"
                    ) from None
                loop = cls(run_dir, exp, store, build_parts(exp), callbacks)
                loop._lock = lock
                loop._setup()
                state = store.last_teacher_state()
                if state is not None:
                    loop.parts.teacher.load_state_dict(state)
            except BaseException:
                store.close()
                raise
        except BaseException:
            lock.release()
            raise
        return loop

    @classmethod
    def _start_over(cls, run_dir: Path, callbacks: Sequence[LoopCallback], lock: RunLock) -> Loop:
        """Start the run whose first attempt failed before any round: its config from the store if it has one,
        else from ``config.toml``; its id from the store, else the directory's name if it is one."""
        db = run_dir / DB_NAME
        stored = _read_start_store(db) if db.exists() else None
        if stored is not None and stored.get("config"):
            try:
                exp = Experiment.model_validate(json.loads(stored["config"]))
            except (ValidationError, ValueError) as e:
                raise SelftaughtError(f"the config stored in {db} does not validate: {e}".split("\n")[0]) from None
            text = stored.get("config_text", "")
        elif (run_dir / "config.toml").is_file():
            exp, _ = load_experiment(run_dir / "config.toml")
            given = run_dir / "config.given.toml"
            text = given.read_text() if given.is_file() else (run_dir / "config.toml").read_text()
        else:
            raise SelftaughtError(f"run directory {run_dir} holds no run: no store and no config.toml")
        parts = build_parts(exp)
        started = time.time()
        run_id = (stored or {}).get("run_id")
        if not run_id:
            named = re.fullmatch(rf"{re.escape(exp.name)}-\d{{8}}-\d{{6}}-[0-9a-f]{{4}}", run_dir.name)
            run_id = run_dir.name if named else new_run_id(exp.name, started)
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"):
            (run_dir / name).unlink(missing_ok=True)
        write_config = not (run_dir / "config.toml").is_file()
        return cls._create_in(run_dir, exp, parts, text, run_id, started, callbacks, lock, write_config)

    def close(self) -> bool:
        """Checkpoint and close the store, then release the run directory's lock. Returns whether ``run.db`` alone
        now holds every committed row (see ``Store.close``). Safe to call twice."""
        try:
            return self.store.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Loop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _setup(self) -> None:
        """Draw the held-out sets once, before any training problem, so training can avoid them.

        ``eval`` problems are measured after each round; ``slice`` problems during training, when the teacher
        updates within a round. A single-skill experiment's seeds do not depend on the skill's name.
        """
        if self.store.meta("setup_done") == "1":
            return
        # The slice is drawn whatever the teacher, so experiments that differ only in their teacher hold out the
        # same problems and so train on the same ones.
        sets = {"eval": (self.exp.eval.problems, self.exp.eval.ahead), "slice": (self.exp.eval.slice, 0)}
        with self.store.transaction():
            for purpose, (count, ahead) in sets.items():
                problems = []
                for skill in self.parts.skills.skills:
                    tag = (skill.name,) if len(self.parts.skills.skills) > 1 else ()
                    tag = tag if purpose == "eval" else (*tag, purpose)
                    for d in range(skill.low, skill.high + ahead + 1):
                        seen: set[str] = set()
                        for i in range(count):
                            seed = derive_seed(self.exp.seed, "eval", *tag, d, i)
                            p = self._sample(seed, skill.name, d)
                            if p.prompt not in seen:  # tiny problem spaces hold fewer distinct problems than asked
                                seen.add(p.prompt)
                                problems.append(p)
                self.store.add_problems(-1, purpose, problems)
            self.store.set_meta(setup_done=1)

    def _sample(self, seed: int, skill: str, difficulty: int, params: tuple[float, ...] | None = None) -> Problem:
        """A problem of ``skill``, at ``difficulty`` or, when given, at the point ``params`` of its box."""
        task = self.parts.skills.tasks[skill]
        try:
            p = task.sample(rng_for(seed), difficulty) if params is None else task.sample_at(rng_for(seed), params)
        except SelftaughtError:
            raise
        except Exception as e:  # a plug-in's bug: name the plug-in, in one line
            kind = type(task)
            raise SelftaughtError(
                f"task {kind.__module__}:{kind.__qualname__} (skill {skill!r}) failed to sample difficulty "
                f"{difficulty}: {type(e).__name__}: {e}".split("\n")[0]
            ) from None
        return Problem(skill, p.difficulty, p.prompt, p.target, seed, params, p.meta)

    # ------------------------------------------------------------------------------------------------- driving
    def current_round(self) -> int | None:
        """The round to work on next, or None when the run is complete."""
        if self.store.complete:
            return None
        rounds = self.store.rounds()
        if not rounds:
            return 0
        last = rounds[-1]
        if last["decision"] is None:
            return last["round"]
        return last["round"] + 1 if last["decision"] == CONTINUE else None

    def run(self) -> str:
        """Run (or finish) the experiment; returns the stop reason."""
        if os.environ.get(PAUSE_ENV) and not any(isinstance(cb, _TestPause) for cb in self.callbacks):
            self.callbacks.insert(0, _TestPause())
        self._emit("on_run_start", self.run_dir, self.exp, self.store.run_id)
        while (r := self.current_round()) is not None:
            self.store.start_round(r, None)
            for phase in PHASES:
                if self.store.phase_done(r, phase):
                    continue
                self.at = (r, phase)
                self._emit("on_phase_start", r, phase)
                t0 = time.perf_counter()
                self._phase_started, self._cpu_started = time.time(), time.process_time()
                getattr(self, f"_{phase.lower()}")(r)
                self._emit("on_phase_end", r, phase, time.perf_counter() - t0)
                self._report(r, phase)
        reason = self.store.meta("stop_reason") or ""
        self._emit("on_run_end", reason)
        return reason

    def _emit(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook, lambda *_: None)(*args)

    def _report(self, r: int, phase: str) -> None:
        """Tell the callbacks what ``phase`` of round ``r`` recorded, read back from the store."""
        if not self.callbacks:
            return
        if phase == "VERIFY":
            s = self.store.round_summary(r)
            self._emit("on_verify", r, s["proposed"], s["accepted"], s["label_accuracy"])
        elif phase == "TRAIN":
            before = sum(n for q, n in self.store.round_steps().items() if q < r)
            rows = [dict(m, global_step=before + m["step"]) for m in self.store.train_metrics() if m["round"] == r]
            self._emit("on_train_metrics", r, rows)
            self._emit("on_stop_decisions", r, self.store.stop_decisions(r))
        elif phase == "EVALUATE":
            self._emit("on_evaluate", r, self.store.evaluations(r))

    # -------------------------------------------------------------------------------------------------- phases
    def _phase(self, r: int, phase: str) -> Any:
        """The store transaction that records ``phase`` of round ``r`` as done, timed from when its work began."""
        return self.store.phase(r, phase, self._phase_started, self._cpu_started)

    def _propose(self, r: int) -> None:
        lp, seed, skills = self.exp.loop, self.exp.seed, self.parts.skills
        rng = rng_for(seed, r, "PROPOSE")
        if r == 0:  # the labelled pool: uniform over every skill's labelled difficulties
            cells = [(s.name, d) for s in skills.skills for d in range(s.low, skills.labelled_max[s.name] + 1)]
            asks = [Ask(*cells[rng.randrange(len(cells))]) for _ in range(lp.labelled_problems)]
        else:
            asks = self.parts.teacher.propose(lp.problems_per_round, rng)
        if not asks:
            raise SelftaughtError(f"the teacher proposed nothing for round {r}")
        held_out = self._held_out()
        problems = []
        for i, a in enumerate(asks):
            if a.skill not in skills.tasks:
                raise SelftaughtError(f"the teacher asked for skill {a.skill!r}, which is not in this experiment")
            s = skills.skill(a.skill)
            if not s.low <= a.difficulty <= s.high:
                raise SelftaughtError(
                    f"the teacher asked for difficulty {a.difficulty} of skill {a.skill!r}, outside {s.low}..{s.high}"
                )
            p = self._sample(derive_seed(seed, r, "PROPOSE", i), a.skill, a.difficulty, a.params)
            for k in range(1, 11):  # steer clear of held-out problems where the problem space allows
                if p.prompt not in held_out:
                    break
                p = self._sample(derive_seed(seed, r, "PROPOSE", i, k), a.skill, a.difficulty, a.params)
            problems.append(p)
        with self._phase(r, "PROPOSE"):
            self.store.add_problems(r, "train", problems)
            self.store.set_round_difficulty(r, max(p.difficulty for p in problems))
            if r > 0:
                self.store.set_teacher_state(r, "PROPOSE", self.parts.teacher.state_dict())

    def _held_out(self) -> set[str]:
        if self._eval_prompts is None:
            self._eval_prompts = self.store.eval_prompts()
        return self._eval_prompts

    def _attempt(self, r: int) -> None:
        rows = []
        if r > 0:  # round 0 is labelled: nothing to attempt
            self._load_weights(r - 1)
            problems = self.store.problems(r, "train")
            for m in range(len(self.parts.students)):
                if self.parts.attempts == "split":
                    answers = self._split_answers(r, m, problems)
                else:
                    answers = self._answers(r, m, problems)
                for pid, _ in problems:
                    rows.extend((pid, m, s, text) for s, text in enumerate(answers[pid]))
        with self._phase(r, "ATTEMPT"):
            self.store.add_attempts(rows)

    def _answers(self, r: int, m: int, problems: list[tuple[int, Problem]], *seed_tag: str) -> dict[int, list[str]]:
        """Model ``m``'s sampled answers to each problem, by problem id (any hashable key)."""
        v = self.exp.verifier
        out: dict[int, list[str]] = {}
        single = len(self.parts.skills.skills) == 1
        for (skill, d), group in _by_cell(problems).items():
            answers = self.parts.students[m].generate(
                [p.prompt for _, p in group],
                n=v.samples,
                temperature=v.temperature,
                max_new_tokens=self.parts.skills.tasks[skill].max_answer_len(d) + 1,
                seed=derive_seed(self.exp.seed, r, "ATTEMPT", m, *(() if single else (skill,)), d, *seed_tag),
            )
            task = self.parts.skills.tasks[skill]
            out.update((pid, [task.extract(c) for c in outs]) for (pid, _), outs in zip(group, answers))
        return out

    def _split_answers(self, r: int, m: int, problems: list[tuple[int, Problem]]) -> dict[int, list[str]]:
        """Answers assembled by the task from the model's answers to each problem's easier parts ("" if none)."""
        tasks, n = self.parts.skills.tasks, self.exp.verifier.samples
        splits = {pid: tasks[p.task].split(p, rng_for(self.exp.seed, r, "SPLIT", pid)) for pid, p in problems}
        # Parts belong to their problem's skill (the task names them by itself).
        part_problems = [
            ((pid, j), replace(part, task=p.task)) for pid, p in problems for j, part in enumerate(splits[pid] or [])
        ]
        part_answers = self._answers(r, m, part_problems, "parts")
        out = {}
        for pid, p in problems:
            ps = splits[pid]
            if not ps:
                out[pid] = [""] * n
                continue
            task = tasks[p.task]
            joined = [task.join(p, ps, [part_answers[(pid, j)][s] for j in range(len(ps))]) for s in range(n)]
            out[pid] = [text or "" for text in joined]
        return out

    def _correct(self, pairs: Sequence[tuple[Problem, str]]) -> list[int | None]:
        """Whether each answer is right, by the task's oracle (or the target when the task has none): for the record
        and the evaluation only, never to select labels. Each skill's pairs go to its task in one batch."""
        out: list[int | None] = [None] * len(pairs)
        by_skill: dict[str, list[int]] = defaultdict(list)
        for i, (p, _) in enumerate(pairs):
            by_skill[p.task].append(i)
        for skill, where in by_skill.items():
            scores = self.parts.skills.tasks[skill].check_many([pairs[i] for i in where])
            for i, score in zip(where, scores, strict=True):
                p, answer = pairs[i]
                if score is None:
                    out[i] = None if p.target is None else int(answer == p.target)
                else:
                    out[i] = int(score == 1.0)
        return out

    def _verify(self, r: int) -> None:
        """Round 0: the labels. Later rounds: every attempt of the round scored in one batch per skill (so a verifier
        that runs programs runs them in parallel), each problem's verdict derived from those scores, and each
        attempt's correctness by the oracle, for the record."""
        problems = self.store.problems(r, "train")
        rows, scored = [], []
        if r == 0:
            for pid, p in problems:
                rows.append((pid, self.parts.oracles[p.task].judge(p, []), 1))
        else:
            attempts, keys = self.store.attempts(r), self.store.attempt_keys(r)
            by_skill: dict[str, list[tuple[int, Problem]]] = defaultdict(list)
            for pid, p in problems:
                by_skill[p.task].append((pid, p))
            scores: dict[int, list[Score]] = {}
            for skill, group in by_skill.items():
                batch = [(p, attempts.get(pid, [])) for pid, p in group]
                for (pid, _), got in zip(group, self.parts.verifiers[skill].score_many(batch), strict=True):
                    scores[pid] = got
            distinct = list(dict.fromkeys((pid, text) for pid, _ in problems for text in attempts.get(pid, [])))
            by_id = dict(problems)
            right = dict(zip(distinct, self._correct([(by_id[pid], text) for pid, text in distinct]), strict=True))
            for pid, p in problems:
                texts = attempts.get(pid, [])
                verdict = self.parts.verifiers[p.task].verdict(p, texts, scores[pid])
                rows.append((pid, verdict, right[(pid, verdict.answer)] if verdict.accepted else None))
                for (m, s), text, sc in zip(keys.get(pid, []), texts, scores[pid], strict=True):
                    scored.append((pid, m, s, sc.reward, sc.feedback, right[(pid, text)]))
        accepted = _tally((p, verdict.accepted) for (_, p), (_, verdict, _) in zip(problems, rows))
        with self._phase(r, "VERIFY"):
            self.store.score_attempts(scored)
            self.store.add_verdicts(r, rows)
            if r > 0:
                self.store.add_skill_results(r, 0, "attempts", _result_rows(accepted))

    def _curate(self, r: int) -> None:
        fresh = self.store.accepted(r, source="labelled" if r == 0 else "self")
        examples = self.parts.curator.build(fresh, self.store.replay_pool(r), rng_for(self.exp.seed, r, "CURATE"))
        with self._phase(r, "CURATE"):
            self.store.add_examples(r, examples)

    def _train(self, r: int) -> None:
        examples = self.store.examples(r)
        budget = self._budget(r)
        t = self.exp.train
        final = self.run_dir / "checkpoints" / f"round-{r:03d}"
        tmp = final.with_name(final.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        self._load_weights(r - 1)
        if r > 0 and examples:  # a round with nothing to train on keeps the weights as they are
            for m, student in enumerate(self.parts.students):
                student.restart(t.warm_start, t.shrink, t.perturb, seed=derive_seed(self.exp.seed, r, "WARM", m))
            self._weights_round = -2  # the students hold neither a checkpoint's weights nor fresh ones now
        schedule: Schedule = self._schedule(r)
        # The teacher watches the cells it chooses among (the fresh ones); the stopping rule every cell trained on.
        fresh = {(e.task, e.difficulty) for e in examples if e.source != "replay"}
        stopping = bool(self.exp.stop.every and examples)
        cells = {(e.task, e.difficulty) for e in examples} if stopping else fresh
        measure = _SliceCache(lambda step: self._slice(cells))
        batches = self._teacher_batches(
            r, examples, budget, lambda step: [o for o in measure(step) if (o.skill, o.difficulty) in fresh]
        )
        stopper = None
        if stopping:
            schedule = Cooldown(schedule, self.exp.stop.cooldown)
            stopper = self._stopper(r, budget, measure, schedule)
        stats = []
        for m, student in enumerate(self.parts.students):
            if examples:
                progress = _StepRelay(self.callbacks, r) if m == 0 else None
                extra: dict[str, Any] = {}
                if batches is not None:
                    extra["pick"] = batches if m == 0 else batches.replayer()
                if stopper is not None:  # the other members stop where model 0 stopped
                    extra["stop"] = stopper if m == 0 else _stop_at(stats[0].steps)
                stats.append(
                    student.fit(
                        examples,
                        schedule,
                        budget,
                        seed=derive_seed(self.exp.seed, r, "TRAIN", m),
                        callbacks=[progress] if progress else [],
                        **extra,
                    )
                )
            with _writing(tmp / f"model-{m}", cleanup=tmp):
                student.save(tmp / f"model-{m}")  # nothing accepted: the weights carry over unchanged
        # The checkpoint is complete under its final name before TRAIN is marked done.
        with _writing(final, cleanup=tmp):
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        self._weights_round = r
        with self._phase(r, "TRAIN"):
            self.store.set_round_budget(r, budget)
            for m, st in enumerate(stats):
                self.store.add_train_metrics(r, m, st.losses, st.lrs, st.grad_norms, st.grad_l1s)
            for m in range(len(self.parts.students)):
                self.store.add_checkpoint(r, m, str((final / f"model-{m}").relative_to(self.run_dir)))
            if stopper is not None:
                self.store.add_stop_decisions(r, budget, stopper.records)
            if batches is None:  # the sampling share is the make-up of the round's examples
                self.store.add_curriculum(r, 0, Counter((e.task, e.difficulty) for e in examples))
            else:
                for step, counts in batches.counts.items():
                    self.store.add_curriculum(r, step, counts)
                for step, outcomes in batches.slices.items():
                    self.store.add_skill_results(r, step, "slice", _result_rows(outcomes))
                for step, scores in batches.scores.items():
                    self.store.add_teacher_scores(r, step, scores)
                self.store.set_teacher_state(r, "TRAIN", self.parts.teacher.state_dict())
            for step, outcomes in measure.taken.items():  # every slice measured (the teacher's are among them)
                self.store.add_skill_results(r, step, "slice", _result_rows(outcomes))

    def _schedule(self, r: int) -> Schedule:
        """Round ``r``'s schedule: without warmup when the round continues; ``refined`` from the gradient norms of
        the previous round, or of the same round of the run named by ``train.refined_from``."""
        t = self.exp.train
        warmup = None if warmup_applies(t.warm_start, r) else 0.0
        if t.schedule != "refined":
            return build_schedule(self.exp, warmup)
        l1 = t.refined_form == "adam"
        if t.refined_from:
            source = Store.open(Path(t.refined_from) / DB_NAME)
            try:
                norms = source.grad_norms(r, l1)
            finally:
                source.close()
        else:
            norms = self.store.grad_norms(r - 1, l1) if r else []
        return build_schedule(self.exp, warmup, norms)

    def _budget(self, r: int) -> int:
        """Round ``r``'s training steps: its own, plus (with the stopping rule on) up to ``stop.carry`` times as
        many from the steps earlier rounds left unused. Recomputed from the store, so resume plans the same."""
        own = self._steps(r)
        st = self.exp.stop
        if not st.every or not st.carry or r == 0:
            return own
        used = self.store.round_steps()
        saved = sum(self._steps(q) - used.get(q, self._steps(q)) for q in range(r))
        return own + min(max(saved, 0), int(st.carry * own))

    def _stopper(self, r: int, budget: int, measure: _SliceCache, schedule: Cooldown) -> _Stopper:
        st = self.exp.stop
        rule = build_stop_rule(self.exp, seed=derive_seed(self.exp.seed, r, "STOP") % 2**32)
        return _Stopper(rule, measure, st.every, budget, st.shadow, schedule)

    def _steps(self, r: int) -> int:
        """Training steps in round ``r``."""
        return self.exp.train.labelled_steps if r == 0 else self.exp.train.round_steps

    def _teacher_batches(
        self, r: int, examples: list[Example], steps: int, measure: Callable[[int], list[Outcome]]
    ) -> TeacherBatches | None:
        """The teacher's batch picker for this round's training, or None when batches are drawn uniformly."""
        t = self.exp.teacher
        if not (t.labelled if r == 0 else t.every) or not any(e.source != "replay" for e in examples):
            return None
        rng = rng_for(self.exp.seed, r, "TRAIN", "teacher")
        return TeacherBatches(examples, self.parts.teacher, rng, steps, t.every, measure if t.every else None)

    def _slice(self, cells: set[tuple[str, int]]) -> list[Outcome]:
        """Greedy accuracy of model 0 on the held-out slice at ``cells`` (skill, difficulty)."""
        if self._slice_problems is None:
            self._slice_problems = self.store.eval_problems("slice")
        problems = [(pid, p) for pid, p in self._slice_problems if (p.task, p.difficulty) in cells]
        return _tally(((p, ok) for _, p, _, ok in self._greedy(self.parts.students[0], problems)), "slice")

    def _greedy(self, student: Student, problems: list[tuple[int, Problem]]) -> list[tuple[int, Problem, str, bool]]:
        """``student``'s greedy answer to each problem and whether it is right: (id, problem, answer, right)."""
        out = []
        for (skill, d), group in _by_cell(problems).items():
            task = self.parts.skills.tasks[skill]
            answers = student.generate(
                [p.prompt for _, p in group], n=1, temperature=0.0, max_new_tokens=task.max_answer_len(d) + 1
            )
            texts = [task.extract(ans) for (ans,) in answers]
            right = self._correct([(p, text) for (_, p), text in zip(group, texts)])
            out.extend((pid, p, text, bool(ok)) for (pid, p), text, ok in zip(group, texts, right))
        return out

    def _load_weights(self, r: int) -> None:
        if self._weights_round == r:
            return
        if r < 0:
            raise RuntimeError("fresh weights requested after training started; this is a bug")
        paths = self.store.checkpoints(r)
        if len(paths) != len(self.parts.students):
            raise SelftaughtError(
                f"round {r} has {len(paths)} checkpoints recorded, expected {len(self.parts.students)}"
            )
        for student, path in zip(self.parts.students, paths):
            student.load_weights(self.run_dir / path)
        self._weights_round = r

    def _evaluate(self, r: int) -> None:
        """Greedy accuracy on held-out problems, per skill from its lowest difficulty (or ``window`` below its
        frontier) to ``ahead`` past it; the frontier is the highest difficulty the skill has practised."""
        self._load_weights(r)
        e = self.exp.eval
        frontiers = self.store.frontiers(r)
        ranges = {}
        for skill in self.parts.skills.skills:
            top = frontiers.get(skill.name, self.parts.skills.labelled_max[skill.name])
            ranges[skill.name] = (max(skill.low, top - e.window + 1) if e.window else skill.low, top + e.ahead)
        problems = [
            (pid, p)
            for pid, p in self.store.eval_problems()
            if p.task in ranges and ranges[p.task][0] <= p.difficulty <= ranges[p.task][1]
        ]
        records = self._greedy(self.parts.students[0], problems)
        table = accuracy_table([(p.task, p.difficulty, ok) for _, p, _, ok in records])
        pass_k = self._pass_at_k(r, problems) if e.samples else []
        round_steps = self.store.round_steps()
        steps = sum(round_steps.values())  # on the run's step axis: every round's steps so far
        wall, cpu = self.store.elapsed()
        wall += time.time() - self._phase_started
        cpu += time.process_time() - self._cpu_started
        reached = [
            {
                "task": t["task"],
                "difficulty": t["difficulty"],
                "target": target,
                "round": r,
                "steps": steps,
                "seconds": wall,
                "cpu_seconds": cpu,
                "accuracy": t["accuracy"],
            }
            for t in table
            for target in e.targets
            if t["accuracy"] >= target
        ]
        with self._phase(r, "EVALUATE"):
            self.store.add_results_reached(reached)
            self.store.add_eval_results(r, [(pid, ans, ok) for pid, _, ans, ok in records])
            self.store.add_evaluations(r, table)
            self.store.add_pass_at_k(r, pass_k)
            self.store.add_skill_results(
                r,
                round_steps.get(r, 0),
                "evaluation",
                [(t["task"], t["difficulty"], t["correct"], t["n"]) for t in table],
            )

    def _pass_at_k(self, r: int, problems: list[tuple[int, Problem]]) -> list[dict[str, Any]]:
        """``eval.samples`` sampled answers per held-out problem; per cell, the mean over problems of the unbiased
        pass@k for each ``eval.k`` (Chen et al. 2021)."""
        e, student = self.exp.eval, self.parts.students[0]
        out = []
        for (skill, d), group in _by_cell(problems).items():
            task = self.parts.skills.tasks[skill]
            answers = student.generate(
                [p.prompt for _, p in group],
                n=e.samples,
                temperature=e.temperature,
                max_new_tokens=task.max_answer_len(d) + 1,
                seed=derive_seed(self.exp.seed, r, "PASS@K", skill, d),
            )
            pairs = [(p, task.extract(a)) for (_, p), outs in zip(group, answers) for a in outs]
            right = self._correct(pairs)
            counts = [sum(bool(x) for x in right[i * e.samples : (i + 1) * e.samples]) for i in range(len(group))]
            for k in e.k:
                value = sum(pass_at_k(e.samples, c, k) for c in counts) / len(counts)
                out.append(
                    {"task": skill, "difficulty": d, "k": k, "n": e.samples, "problems": len(group), "value": value}
                )
        return out

    def _stuck(self, r: int, frontiers: dict[str, int], accuracy: dict[tuple[str, int], float]) -> dict[str, float]:
        """Skills whose newest difficulty is under ``stop_accuracy`` and did not rise since the previous round's
        evaluation, with that accuracy. A teacher that repeats a difficulty until it is mastered needs a few rounds
        at a new one, so a frontier under the threshold that still improves is not stuck."""
        before = {(e["task"], e["difficulty"]): e["accuracy"] for e in self.store.evaluations(r - 1)} if r else {}
        stuck = {}
        for skill, top in frontiers.items():
            now = accuracy.get((skill, top), 0.0)
            improving = (skill, top) in before and now > before[(skill, top)]
            if now < self.exp.loop.stop_accuracy and not improving:
                stuck[skill] = now
        return stuck

    def _decide(self, r: int) -> None:
        lp = self.exp.loop
        frontiers = self.store.frontiers(r)
        evaluations = self.store.evaluations(r)
        accuracy = {(row["task"], row["difficulty"]): row["accuracy"] for row in evaluations}
        summary = self.store.round_summary(r)
        share = summary["accepted"] / summary["proposed"] if summary["proposed"] else 0.0
        elapsed = self.store.elapsed_seconds()
        stuck = self._stuck(r, frontiers, accuracy)
        if share < lp.min_accepted:  # round 0 too: a labelled round that labelled nothing must not go on
            decision = f"too few answers accepted: {share:.1%} < {lp.min_accepted:.1%}"
        elif len(stuck) == len(frontiers) == 1:
            ((skill, acc),) = stuck.items()
            decision = f"accuracy at difficulty {frontiers[skill]} fell to {acc:.1%} < {lp.stop_accuracy:.1%}"
        elif stuck and len(stuck) == len(frontiers):
            each = ", ".join(f"{skill} {acc:.1%} at {frontiers[skill]}" for skill, acc in stuck.items())
            decision = f"accuracy at every skill's newest difficulty fell under {lp.stop_accuracy:.1%}: {each}"
        elif r >= lp.max_rounds:
            decision = f"round budget spent ({lp.max_rounds} self-labelled rounds)"
        elif lp.max_minutes and elapsed >= lp.max_minutes * 60:
            decision = f"wall-time budget spent ({elapsed / 60:.1f} of {lp.max_minutes:g} minutes)"
        else:
            decision = CONTINUE
        teacher = self.parts.teacher
        if r > 0 or self.exp.teacher.labelled:
            teacher.observe(self._outcomes(r, evaluations))
        else:  # every teacher learns what round 0 reached, whether or not it chose round 0's batches
            teacher.observe_labelled(self._outcomes(r, evaluations))
        steps = self.store.round_steps().get(r, 0)
        with self._phase(r, "DECIDE"):
            self.store.set_teacher_state(r, "DECIDE", teacher.state_dict())
            self.store.add_teacher_scores(r, steps, teacher.scores())
            self.store.end_round(r, decision)
            if decision != CONTINUE:
                self.store.finish(decision)
        for cb in self.callbacks:
            cb.on_round_end(r, decision)

    def _outcomes(self, r: int, evaluations: list[dict[str, Any]]) -> list[Outcome]:
        """What the teacher observes after a round: held-out accuracy per cell, and how many of the round's
        problems got an accepted answer (per problem where the teacher chose a point of the parameter box)."""
        out = [Outcome(e["task"], e["difficulty"], e["correct"], e["n"], "evaluation") for e in evaluations]
        if r > 0:
            accepted = self.store.accepted_by_problem(r)
            out.extend(_tally((p, ok) for p, ok in accepted if p.params is None))
            out.extend(
                Outcome(p.task, p.difficulty, int(ok), 1, "attempts", p.params) for p, ok in accepted if p.params
            )
        return out


class _SliceCache:
    """Slice measurements by step (the model's state after that many steps), taken once however many ask."""

    def __init__(self, measure: Callable[[int], list[Outcome]]) -> None:
        self.measure = measure
        self.taken: dict[int, list[Outcome]] = {}

    def __call__(self, step: int) -> list[Outcome]:
        if step not in self.taken:
            self.taken[step] = self.measure(step)
        return self.taken[step]


class _Stopper:
    """The stopping rule as a ``Student.fit`` ``stop`` check: every ``every`` steps it measures the slice's accuracy
    and asks the rule; ``records`` keeps each decision for the store. When the rule says stop, the round's
    ``schedule`` cools down and training ends after it. In ``shadow`` mode it never stops."""

    def __init__(
        self, rule: StopRule, measure: _SliceCache, every: int, budget: int, shadow: bool, schedule: Cooldown
    ) -> None:
        self.rule, self.measure, self.every, self.budget, self.shadow = rule, measure, every, budget, shadow
        self.schedule = schedule
        self.records: list[dict[str, Any]] = []

    def __call__(self, done: int) -> bool:
        if self.schedule.end is not None:  # cooling down after a stop
            return done >= self.schedule.end
        if done % self.every and done != self.budget:
            return False
        outcomes = self.measure(done)
        trials = sum(o.trials for o in outcomes)
        if not trials:
            return False
        value = sum(o.successes for o in outcomes) / trials
        steps = [*(rec["step"] for rec in self.records), done]
        decision = self.rule.decide(steps, [*(rec["value"] for rec in self.records), value], self.budget)
        stop = decision.stop and done < self.budget
        self.records.append(
            {
                "step": done,
                "value": value,
                "current": decision.current,
                "mean": decision.mean,
                "low": decision.low,
                "high": decision.high,
                "stop": stop,
                "reason": decision.reason,
            }
        )
        if stop and not self.shadow:
            self.schedule.begin(done)
            return done >= self.schedule.end
        return False


def _stop_at(steps: int) -> Callable[[int], bool]:
    return lambda done: done >= steps


class _StepRelay:
    """Forwards the trainer's per-step callback to the loop's callbacks, adding the round."""

    def __init__(self, callbacks: Sequence[LoopCallback], r: int) -> None:
        self.callbacks, self.r = callbacks, r

    def __call__(self, step: int, total: int, loss: float) -> None:
        for cb in self.callbacks:
            cb.on_train_step(self.r, step, total, loss)


def _by_cell(problems: list[tuple[Any, Problem]]) -> dict[tuple[str, int], list[tuple[Any, Problem]]]:
    """Problems grouped by (skill, difficulty), groups in order."""
    groups: dict[tuple[str, int], list[tuple[Any, Problem]]] = defaultdict(list)
    for pid, p in problems:
        groups[(p.task, p.difficulty)].append((pid, p))
    return dict(sorted(groups.items()))


def _tally(results: Iterable[tuple[Problem, bool]], kind: str = "attempts") -> list[Outcome]:
    """Successes and trials per (skill, difficulty) cell, as outcomes of ``kind``, cells in order."""
    counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for p, ok in results:
        counts[(p.task, p.difficulty)][0] += int(ok)
        counts[(p.task, p.difficulty)][1] += 1
    return [Outcome(skill, d, k, n, kind) for (skill, d), (k, n) in sorted(counts.items())]


def _result_rows(outcomes: list[Outcome]) -> list[tuple[str, int, int, int]]:
    return [(o.skill, o.difficulty, o.successes, o.trials) for o in outcomes]


def check_run_dir(run_dir: Path) -> None:
    """Refuse, in one line, a run directory that does not exist or is a file."""
    if run_dir.is_file():
        raise SelftaughtError(f"{run_dir} is a file, not a run directory")
    if not run_dir.is_dir():
        raise SelftaughtError(f"run directory {run_dir} does not exist")


def _make_run_dir(run_dir: Path) -> None:
    """Make ``run_dir`` (and its parents), or say in one line why it cannot be, having made nothing."""
    if run_dir.is_file():
        raise SelftaughtError(f"{run_dir} is a file, not a run directory")
    for parent in run_dir.parents:  # a path under a file: nothing may be made on the way
        if parent.exists():
            if not parent.is_dir():
                raise SelftaughtError(f"cannot make run directory {run_dir}: {parent} is a file, not a directory")
            break
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SelftaughtError(f"cannot make run directory {run_dir}: {e.strerror or e}") from None


def _start_leftovers(run_dir: Path) -> list[str] | None:
    """What a run that failed at its very start left in ``run_dir`` (names of files), ``[]`` for an empty
    directory, or None when it holds anything else: a run that got further, or files that are not a run's."""
    names = sorted(n for n in os.listdir(run_dir) if n != LOCK_NAME)
    if not set(names) <= _START_FILES:
        return None
    db = run_dir / DB_NAME
    if not db.exists():
        return names
    stored = _read_start_store(db)
    if stored is None or stored.get("setup_done") == "1" or stored.get("rounds", "0") != "0":
        return None
    return names


def _read_start_store(db: Path) -> dict[str, str] | None:
    """The meta of a store that holds no round yet (with ``rounds``: how many it has), ``{}`` for an empty file or an
    SQLite file without tables, and None for anything else (not SQLite, unreadable, or a store with rounds)."""
    if db.stat().st_size == 0 and not db.with_name(db.name + "-wal").exists():
        return {}
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                return {}
            if not {"meta", "rounds"} <= tables:
                return None
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            meta["rounds"] = str(conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])
            return meta
        finally:
            conn.close()
    except sqlite3.Error:
        return None


@contextmanager
def _writing(path: Path, cleanup: Path | None = None) -> Iterator[None]:
    """Writing ``path``: a refusal by the disk (full, read-only, ...) becomes one line naming the file; ``cleanup``
    (a temporary directory) is removed. torch reports a failed write as a RuntimeError from its zip writer."""
    try:
        yield
    except (OSError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and not any(k in str(e) for k in ("inline_container", "PytorchStreamWriter")):
            raise
        if isinstance(e, OSError):
            cause = e.strerror or str(e)
        else:  # measured while the partial file still takes its space
            free = shutil.disk_usage(next(p for p in (path, *path.parents) if p.exists())).free
            cause = (
                os.strerror(errno.ENOSPC) if free < 1 << 20 else f"torch could not write it ({str(e).splitlines()[0]})"
            )
        # The failed writer's frames hold its open file (torch's zip writer); a deleted but open file keeps its
        # space, which the store's closing checkpoint needs.
        failed: BaseException | None = e
        while failed is not None:  # the error raised while handling another keeps that one's frames too
            traceback.clear_frames(failed.__traceback__)
            failed = failed.__context__
        if cleanup is not None:
            shutil.rmtree(cleanup, ignore_errors=True)
        raise SelftaughtError(f"cannot write {path}: {cause}") from None
