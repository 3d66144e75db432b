"""The round loop: PROPOSE -> ATTEMPT -> VERIFY -> CURATE -> TRAIN -> EVALUATE -> DECIDE, and nothing else (the
phases themselves are objects in ``phases/``).

Each phase reads its inputs from the store and writes its outputs, plus its own "done" mark, in one transaction.
So the loop keeps no state a crash could lose: resuming means loading the newest checkpoint and running the first
phase not marked done. Every random stream is seeded from (run seed, round, phase), so a re-run phase repeats
itself exactly.

A loop holds its run directory's lock (one writer per run, ``store/lock.py``) from ``create``/``resume`` until
``close``. Callbacks and the test hook: ``callbacks.py``; the run directory's set-up: ``rundir.py``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from selftaught.config import Experiment, experiment_toml, load_experiment, one_line
from selftaught.errors import SelftaughtError
from selftaught.run.build import Parts, build_parts
from selftaught.run.callbacks import PAUSE_ENV, LoopCallback, TestPause, announce, emit
from selftaught.run.context import DB_NAME, writing
from selftaught.run.executors import Executor, LocalExecutor, Replica, make_executor, register_parts
from selftaught.run.phases import PHASE_STEPS
from selftaught.run.phases.decide import CONTINUE
from selftaught.run.phases.heldout import draw_held_out
from selftaught.run.rundir import check_run_dir, make_run_dir, new_run_id, read_start_store, start_leftovers
from selftaught.run.services import Sampler, Scorer
from selftaught.run.strategies import Strategies, choose
from selftaught.run.units import Where
from selftaught.store import PHASES, Store
from selftaught.store.lock import LOCK_NAME, RunLock
from selftaught.types import Problem

log = logging.getLogger(__name__)


class Loop:
    def __init__(
        self,
        run_dir: Path,
        exp: Experiment,
        store: Store,
        parts: Parts,
        strategies: Strategies,
        callbacks: Sequence[LoopCallback] = (),
        executor: Executor | None = None,
    ) -> None:
        self.run_dir, self.exp, self.store, self.parts = run_dir, exp, store, parts
        self.attempts, self.update, self.control = strategies.attempts, strategies.update, strategies.control
        self.sampler, self.scorer = Sampler(self), Scorer(self)  # the two services every phase and strategy uses
        self.callbacks = list(callbacks)
        self.executor = executor or LocalExecutor()
        # Units name the driver's parts by this key: in this process (and forked workers) they use them as they are.
        self._parts_key = f"{os.getpid()}:{id(parts)}:{store.run_id}"
        register_parts(self._parts_key, exp, parts)
        self._exp_json = exp.model_dump(mode="json")
        self._replicas: dict[tuple[int, int], Replica] = {}
        self.weights_round = -1  # which round's checkpoint the students hold; -1 = fresh initialisation
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
        strategies = choose(exp, parts)  # each strategy refuses what it cannot do, before any file
        executor = make_executor(exp.exec.backend, exp.exec.workers)  # joins or starts Ray: before any file
        started = time.time()  # one timestamp for the run id, the default directory and the store's ``created``
        run_id = run_id or new_run_id(exp.name, started)
        run_dir = Path("runs") / run_id if run_dir is None else run_dir
        refusal = f"run directory {run_dir} already exists and is not empty (to continue its run: selftaught resume)"
        try:
            if run_dir.is_dir() and start_leftovers(run_dir) is None:
                # Refused before a lock file is made, so a directory that is not a run's stays untouched; a run's
                # directory has its lock file, and a writer holding it is named.
                if (run_dir / LOCK_NAME).exists():
                    RunLock.acquire(run_dir, command).release()
                raise SelftaughtError(refusal)
            make_run_dir(run_dir)
            lock = RunLock.acquire(run_dir, command)
        except BaseException:
            executor.close()
            raise
        try:
            leftovers = start_leftovers(run_dir)  # again under the lock: another run may have begun meanwhile
            if leftovers is None:
                raise SelftaughtError(refusal)
            for name in leftovers:
                (run_dir / name).unlink()
            loop = cls._create_in(
                run_dir, exp, parts, strategies, config_text, run_id, started, callbacks, lock, executor
            )
        except BaseException:
            executor.close()
            lock.release()
            raise
        return loop

    @classmethod
    def _create_in(
        cls,
        run_dir: Path,
        exp: Experiment,
        parts: Parts,
        strategies: Strategies,
        config_text: str,
        run_id: str,
        started: float,
        callbacks: Sequence[LoopCallback],
        lock: RunLock,
        executor: Executor,
        write_config: bool = True,
    ) -> Loop:
        """The store and held-out sets of a new run in ``run_dir``, whose lock is held and which holds no store."""
        if write_config:
            # config.toml is the resolved experiment (`selftaught run RUN_DIR/config.toml` repeats the run); the text
            # it was given as (preset, file, --set overrides) is kept beside it.
            with writing(run_dir / "config.toml"):
                (run_dir / "config.toml").write_text(experiment_toml(exp))
                (run_dir / "config.given.toml").write_text(config_text)
        store = Store.create(run_dir / DB_NAME, run_id, exp.model_dump(mode="json"), config_text, created=started)
        loop = cls(run_dir, exp, store, parts, strategies, callbacks, executor)
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
            if start_leftovers(run_dir) is not None:
                return cls._start_over(run_dir, callbacks, lock)
            store = Store.open(run_dir / DB_NAME)
            try:
                try:
                    exp = Experiment.model_validate(store.config())
                except ValidationError as e:
                    raise SelftaughtError(
                        f"the config stored in {run_dir / DB_NAME} no longer validates: {one_line(e)}"
                    ) from None
                parts = build_parts(exp)
                strategies = choose(exp, parts)
                executor = make_executor(exp.exec.backend, exp.exec.workers)
                try:
                    loop = cls(run_dir, exp, store, parts, strategies, callbacks, executor)
                    loop._lock = lock
                    loop._setup()
                    state = store.last_teacher_state()
                    if state is not None:
                        loop.parts.teacher.load_state_dict(state)
                except BaseException:
                    executor.close()
                    raise
            except BaseException:
                store.close()
                raise
        except BaseException:
            lock.release(discard=True)  # a lock file made for a directory that holds no run goes again
            raise
        return loop

    @classmethod
    def _start_over(cls, run_dir: Path, callbacks: Sequence[LoopCallback], lock: RunLock) -> Loop:
        """Start the run whose first attempt failed before any round: its config from the store if it has one,
        else from ``config.toml``; its id from the store, else the directory's name if it is one."""
        db = run_dir / DB_NAME
        stored = read_start_store(db) if db.exists() else None
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
        strategies = choose(exp, parts)  # each strategy refuses what it cannot do, before any file
        started = time.time()
        run_id = (stored or {}).get("run_id")
        if not run_id:
            named = re.fullmatch(rf"{re.escape(exp.name)}-\d{{8}}-\d{{6}}-[0-9a-f]{{4}}", run_dir.name)
            run_id = run_dir.name if named else new_run_id(exp.name, started)
        for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"):
            (run_dir / name).unlink(missing_ok=True)
        write_config = not (run_dir / "config.toml").is_file()
        executor = make_executor(exp.exec.backend, exp.exec.workers)
        try:
            return cls._create_in(
                run_dir, exp, parts, strategies, text, run_id, started, callbacks, lock, executor, write_config
            )
        except BaseException:
            executor.close()
            raise

    def close(self) -> bool:
        """Checkpoint and close the store, then release the run directory's lock. Returns whether ``run.db`` alone
        now holds every committed row (see ``Store.close``). Safe to call twice."""
        try:
            try:
                self.executor.close()  # workers, and a Ray cluster the loop started
            finally:
                whole = self.store.close()
            return whole
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Loop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _setup(self) -> None:
        """Draw the held-out sets once, before any training problem, so training can avoid them."""
        draw_held_out(self)

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
        """Run (or finish) the experiment; returns the stop reason.

        Each round runs the phases in order, skipping those the store marks done: that is the whole resume rule."""
        if os.environ.get(PAUSE_ENV) and not any(isinstance(cb, TestPause) for cb in self.callbacks):
            self.callbacks.insert(0, TestPause())
        emit(self.callbacks, "on_run_start", self.run_dir, self.exp, self.store.run_id)
        while (r := self.current_round()) is not None:
            self.store.start_round(r, None)
            for phase in PHASES:
                if self.store.phase_done(r, phase):
                    continue
                self.at = (r, phase)
                emit(self.callbacks, "on_phase_start", r, phase)
                t0 = time.perf_counter()
                self._phase_started, self._cpu_started = time.time(), time.process_time()
                PHASE_STEPS[phase].run(self, r)
                emit(self.callbacks, "on_phase_end", r, phase, time.perf_counter() - t0)
                announce(self.callbacks, self.store, r, phase)
        reason = self.store.meta("stop_reason") or ""
        emit(self.callbacks, "on_run_end", reason)
        return reason

    # ----------------------------------------------------------------------------- what the phases see (Context)
    def phase(self, r: int, phase: str) -> Any:
        """The store transaction that records ``phase`` of round ``r`` as done, timed from when its work began."""
        return self.store.phase(r, phase, self._phase_started, self._cpu_started)

    def elapsed(self) -> tuple[float, float]:
        """Wall and CPU seconds since the running phase's work began."""
        return time.time() - self._phase_started, time.process_time() - self._cpu_started

    def held_out(self) -> set[str]:
        if self._eval_prompts is None:
            self._eval_prompts = self.store.eval_prompts()
        return self._eval_prompts

    def slice_problems(self) -> list[tuple[int, Problem]]:
        if self._slice_problems is None:
            self._slice_problems = self.store.eval_problems("slice")
        return self._slice_problems

    def where(self) -> Where:
        """Which parts the executor's units run on (see ``run/units.py``)."""
        return Where(self._parts_key, self._exp_json, torch.get_num_threads())

    def replica(self, r: int, m: int) -> Replica | None:
        """Model ``m`` of round ``r``'s checkpoint as the executor's workers fetch it (made once per round); None
        when units run in this process, on the students as they are."""
        if self.executor.local:
            return None
        if (r, m) not in self._replicas:
            self._replicas = {k: v for k, v in self._replicas.items() if k[0] >= r}
            paths = self.store.checkpoints(r)
            self._replicas[(r, m)] = self.executor.replica(f"{self.store.run_id}/{r}/{m}", self.run_dir / paths[m])
        return self._replicas[(r, m)]

    def load_weights(self, r: int) -> None:
        """Give the students round ``r``'s checkpoint, unless they hold it already."""
        if self.weights_round == r:
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
        self.weights_round = r
