"""The round loop: PROPOSE -> ATTEMPT -> VERIFY -> CURATE -> TRAIN -> EVALUATE -> DECIDE, and nothing else (the
phases themselves are objects in ``phases/``).

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

import json
import logging
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from selftaught.config import Experiment, experiment_toml, load_experiment, one_line
from selftaught.errors import SelftaughtError
from selftaught.run.build import Parts, build_parts
from selftaught.run.context import DB_NAME, writing
from selftaught.run.executors import Executor, LocalExecutor, Replica, make_executor, register_parts
from selftaught.run.phases import PHASE_STEPS
from selftaught.run.phases.decide import CONTINUE
from selftaught.run.phases.heldout import draw_held_out
from selftaught.run.services import Sampler, Scorer
from selftaught.run.strategies import Strategies, choose
from selftaught.run.units import Where
from selftaught.store import PHASES, Store
from selftaught.store.lock import LOCK_NAME, RunLock
from selftaught.types import Problem

log = logging.getLogger(__name__)

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
            if run_dir.is_dir() and _start_leftovers(run_dir) is None:
                # Refused before a lock file is made, so a directory that is not a run's stays untouched; a run's
                # directory has its lock file, and a writer holding it is named.
                if (run_dir / LOCK_NAME).exists():
                    RunLock.acquire(run_dir, command).release()
                raise SelftaughtError(refusal)
            _make_run_dir(run_dir)
            lock = RunLock.acquire(run_dir, command)
        except BaseException:
            executor.close()
            raise
        try:
            leftovers = _start_leftovers(run_dir)  # again under the lock: another run may have begun meanwhile
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
                PHASE_STEPS[phase].run(self, r)
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
