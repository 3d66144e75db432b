"""Where a phase's independent units run: in this process, in a pool of forked processes, or on Ray.

``Executor.map(fn, units)`` returns ``[fn(u) for u in units]`` in order, wherever it computed them. A unit is
plain data (its seed among it: units are seeded from (run seed, round, phase, unit), so every backend gives the
same results); ``fn`` is a module-level function, so both pickle by reference. The driver stays the only writer of
the run store: units return data, and the phase commits it in one transaction.

Students reach the workers as *replicas*: a round's checkpoint, read by each worker once per round (from the disk
for the process pool, from Ray's object store, put there once per round, for Ray). Workers keep the built parts of
the experiment between units (see ``worker_parts``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import tempfile
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.registry import PLUGIN_ENV
from selftaught.run.build import Parts, build_parts

log = logging.getLogger(__name__)
U = TypeVar("U")
R = TypeVar("R")
BACKENDS = ("local", "process", "ray")


@dataclass(frozen=True)
class Replica:
    """A student checkpoint as workers fetch it: ``key`` names it (one per round and member); ``path`` is its
    directory on a shared disk, or ``ref`` a Ray object holding its files ({relative path: bytes})."""

    key: str
    path: str | None = None
    ref: Any = None

    def directory(self, scratch: Path) -> Path:
        if self.path is not None:
            return Path(self.path)
        import ray

        files: dict[str, bytes] = ray.get(self.ref)
        for rel, data in files.items():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            (scratch / rel).write_bytes(data)
        return scratch


class Executor(ABC):
    """Runs independent units; ``local`` says whether they run in this process (on the driver's own parts)."""

    local = False
    workers = 1

    @abstractmethod
    def map(self, fn: Callable[[U], R], units: Sequence[U], stateful: bool = True) -> list[R]:
        """``[fn(u) for u in units]``, in order. ``stateful`` units use workers' cached students (Ray: actors);
        the others may run anywhere (Ray: tasks)."""

    def replica(self, key: str, directory: Path) -> Replica:
        """Make the checkpoint in ``directory`` available to the workers under ``key``."""
        return Replica(key, path=str(directory))

    def close(self) -> None:  # noqa: B027 (nothing to release in-process)
        """Release the workers (and a Ray cluster this executor started)."""


class LocalExecutor(Executor):
    """Every unit in this process, one after another, on the driver's parts."""

    local = True

    def map(self, fn: Callable[[U], R], units: Sequence[U], stateful: bool = True) -> list[R]:
        return [fn(u) for u in units]


class ProcessExecutor(Executor):
    """A pool of ``workers`` processes, started when the first units arrive; each builds the experiment's parts
    once, and checkpoints reach it by path."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None

    def map(self, fn: Callable[[U], R], units: Sequence[U], stateful: bool = True) -> list[R]:
        if not units:
            return []
        if self._pool is None:
            # Not plain fork: a child forked from the driver inherits whatever locks its other threads (a progress
            # display, a tracker, torch's pool) held at that moment, and can wait on them for ever. A fork server is
            # a clean single-threaded process that has imported selftaught and torch once; workers fork from it.
            if "forkserver" in multiprocessing.get_all_start_methods():
                ctx = multiprocessing.get_context("forkserver")
                ctx.set_forkserver_preload(["selftaught.run.units"])
            else:
                ctx = multiprocessing.get_context("spawn")
            self._pool = ctx.Pool(self.workers)
        return self._pool.map(fn, units, chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


class RayExecutor(Executor):
    """Units on a Ray cluster: ``workers`` actors hold the student replicas and run every unit (an actor that dies
    is restarted and its unit retried). Joins the cluster named by ``RAY_ADDRESS``, or else
    starts a local one of ``workers`` CPUs, which ``close`` shuts down."""

    RETRIES = 3

    def __init__(self, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise SelftaughtError("exec.backend = 'ray' needs Ray: pip install 'ray[default]>=2.9'") from None
        self.workers = workers
        self.started = False
        self._actors: list[Any] = []
        if not ray.is_initialized():
            address = os.environ.get("RAY_ADDRESS") or None
            if address:
                _probe(address)
            env = {k: os.environ[k] for k in (PLUGIN_ENV,) if os.environ.get(k)}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ray.init(
                        address=address,
                        num_cpus=None if address else workers,
                        include_dashboard=False,
                        logging_level=logging.ERROR,
                        log_to_driver=False,
                        configure_logging=True,
                        runtime_env={"env_vars": env} if env else None,
                    )
            except Exception as e:  # Ray raises many types for an address it cannot reach
                raise SelftaughtError(
                    f"cannot start or join a Ray cluster (RAY_ADDRESS={address!r}): {type(e).__name__}: {e}".split(
                        "\n"
                    )[0]
                ) from None
            self.started = True
        self._actor_cls = ray.remote(max_restarts=self.RETRIES, max_task_retries=self.RETRIES)(_Worker)

    def replica(self, key: str, directory: Path) -> Replica:
        import ray

        files = {str(f.relative_to(directory)): f.read_bytes() for f in sorted(directory.rglob("*")) if f.is_file()}
        return Replica(key, ref=ray.put(files))

    def map(self, fn: Callable[[U], R], units: Sequence[U], stateful: bool = True) -> list[R]:
        import ray

        if not units:
            return []
        # Stateless units run on the actors too: a local cluster has ``workers`` CPUs, all held by the actors, so a
        # task would wait for ever for a free one.
        while len(self._actors) < self.workers:
            self._actors.append(self._actor_cls.options(num_cpus=1).remote())
        refs = [self._actors[i % self.workers].run.remote(fn, u) for i, u in enumerate(units)]
        return ray.get(refs)

    def close(self) -> None:
        import ray

        if not ray.is_initialized():
            return
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self.started:
            ray.shutdown()
            self.started = False


class _Worker:
    """A Ray actor: runs units in one long-lived process, whose ``worker_parts`` cache holds the replicas."""

    def run(self, fn: Callable[[Any], Any], unit: Any) -> Any:
        return fn(unit)


def _probe(address: str) -> None:
    """Refuse at once, in one line, a ``host:port`` (or ``ray://host:port``) nobody listens on; Ray itself retries
    for half a minute and more."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto", "local" and the like: Ray's to judge
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except OSError as e:
        raise SelftaughtError(f"cannot reach the Ray cluster at RAY_ADDRESS={address}: {e.strerror or e}") from None


def make_executor(backend: str, workers: int) -> Executor:
    """The executor ``[exec]`` names; a bad choice is one line."""
    if backend not in BACKENDS:
        raise SelftaughtError(f"exec.backend {backend!r} is not one of {', '.join(BACKENDS)}")
    if workers < 1:
        raise SelftaughtError(f"exec.workers = {workers}: need at least one worker")
    if backend == "local":
        return LocalExecutor()
    if backend == "process":
        return ProcessExecutor(workers)
    return RayExecutor(workers)


# ------------------------------------------------------------------------------------------------ worker side
# The parts each process holds, by key: the driver registers its own (so in-process and forked workers use them);
# a worker that does not know a key builds the parts from the experiment it was sent.
_PARTS: dict[str, tuple[Experiment, Parts]] = {}
_LOADED: dict[tuple[str, int], str | None] = {}  # (parts key, member) -> the replica key its weights are


def register_parts(key: str, exp: Experiment, parts: Parts) -> None:
    _PARTS[key] = (exp, parts)


def worker_parts(key: str, exp_json: dict[str, Any]) -> tuple[Experiment, Parts]:
    if key not in _PARTS:
        exp = Experiment.model_validate(exp_json)
        _PARTS[key] = (exp, build_parts(exp))
    return _PARTS[key]


def load_replica(key: str, member: int, replica: Replica) -> None:
    """Give member ``member`` of the parts ``key`` the replica's weights, unless it holds them already."""
    if _LOADED.get((key, member)) == replica.key:
        return
    _, parts = _PARTS[key]
    with tempfile.TemporaryDirectory(prefix="selftaught-replica-") as scratch:
        parts.students[member].load_weights(replica.directory(Path(scratch)))
    _LOADED[(key, member)] = replica.key


def forget_replica(key: str, member: int) -> None:
    """Member ``member``'s weights changed in this process (it trained): the next replica is loaded again."""
    _LOADED.pop((key, member), None)
