"""What phases and strategies share: the context they run in (``Context``), problem sampling, grouping by cell,
the frontier, outcome tallies and writing files with one-line errors."""

from __future__ import annotations

import errno
import os
import shutil
import traceback
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from selftaught.errors import SelftaughtError
from selftaught.seeding import rng_for
from selftaught.teachers import Outcome
from selftaught.types import Problem

if TYPE_CHECKING:
    from selftaught.config import Experiment
    from selftaught.store import Store

DB_NAME = "run.db"


class Context(Protocol):
    """What a phase or a strategy sees of the loop (the ``Loop`` is one): the run, its parts, its store, its
    executor, the two services and the round's strategies. The attributes typed ``Any`` are defined in modules
    above this one (``run.build.Parts``, ``run.executors.Executor``, ``run.services``, the strategies' bases); this
    module stays at the bottom of ``run`` and imports none of them."""

    run_dir: Path
    exp: Experiment
    store: Store
    parts: Any  # run.build.Parts
    callbacks: list[Any]
    executor: Any  # run.executors.Executor
    weights_round: int
    sampler: Any  # run.services.Sampler: the one sampling service (answers from the students)
    scorer: Any  # run.services.Scorer: the one scoring service (verifiers' scores, the oracle's check)
    attempts: Any  # run.attempts.base.AttemptStrategy: how answers are made (loop.attempts)
    update: Any  # run.updates.base.UpdateStrategy: how self-labelled rounds learn (train.method)
    control: Any  # run.control.base.ControlStrategy: how sampling settings are chosen (control.kind)

    def phase(self, r: int, phase: str) -> Any:
        """The store transaction that records ``phase`` of round ``r`` as done."""

    def where(self) -> Any:
        """Which parts the executor's units run on (``run.units.Where``)."""

    def replica(self, r: int, m: int) -> Any:
        """Model ``m`` of round ``r``'s checkpoint for the executor's workers (None: in-process)."""

    def load_weights(self, r: int) -> None:
        """Give the students round ``r``'s checkpoint, unless they hold it already."""

    def held_out(self) -> set[str]:
        """The prompts of the held-out evaluation problems."""

    def slice_problems(self) -> list[tuple[int, Problem]]:
        """The held-out slice measured during training."""

    def elapsed(self) -> tuple[float, float]:
        """Wall and CPU seconds the running phase has taken so far."""


def sample(ctx: Context, seed: int, skill: str, difficulty: int, params: tuple[float, ...] | None = None) -> Problem:
    """A problem of ``skill``, at ``difficulty`` or, when given, at the point ``params`` of its box."""
    task = ctx.parts.skills.tasks[skill]
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


def by_cell(problems: list[tuple[Any, Problem]]) -> dict[tuple[str, int], list[tuple[Any, Problem]]]:
    """Problems grouped by (skill, difficulty), groups in order."""
    groups: dict[tuple[str, int], list[tuple[Any, Problem]]] = defaultdict(list)
    for pid, p in problems:
        groups[(p.task, p.difficulty)].append((pid, p))
    return dict(sorted(groups.items()))


def below(evaluations: Iterable[dict[str, Any]], threshold: float) -> set[tuple[str, int]]:
    """The (skill, difficulty) cells of ``evaluations`` rows whose accuracy is under ``threshold``: the frontier
    that search works on (``search.below``)."""
    return {(e["task"], e["difficulty"]) for e in evaluations if e["accuracy"] < threshold}


def tally(results: Iterable[tuple[Problem, bool]], kind: str = "attempts") -> list[Outcome]:
    """Successes and trials per (skill, difficulty) cell, as outcomes of ``kind``, cells in order."""
    counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for p, ok in results:
        counts[(p.task, p.difficulty)][0] += int(ok)
        counts[(p.task, p.difficulty)][1] += 1
    return [Outcome(skill, d, k, n, kind) for (skill, d), (k, n) in sorted(counts.items())]


def result_rows(outcomes: list[Outcome]) -> list[tuple[str, int, int, int]]:
    return [(o.skill, o.difficulty, o.successes, o.trials) for o in outcomes]


@contextmanager
def writing(path: Path, cleanup: Path | None = None) -> Iterator[None]:
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
