"""What the phases share: the context they run in, problem sampling, the oracle's check, greedy answers, grouping."""

from __future__ import annotations

import errno
import os
import shutil
import traceback
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from selftaught.errors import SelftaughtError
from selftaught.seeding import rng_for
from selftaught.students.base import Student
from selftaught.teachers import Outcome
from selftaught.types import Problem

if TYPE_CHECKING:
    from selftaught.config import Experiment
    from selftaught.run.build import Parts
    from selftaught.run.executors import Executor
    from selftaught.store import Store

DB_NAME = "run.db"


class Context(Protocol):
    """What a phase sees of the loop (the ``Loop`` is one): the run, its parts, its store and its executor."""

    run_dir: Path
    exp: Experiment
    store: Store
    parts: Parts
    callbacks: list[Any]
    executor: Executor
    weights_round: int

    def phase(self, r: int, phase: str) -> Any:
        """The store transaction that records ``phase`` of round ``r`` as done."""

    def where(self) -> Any:
        """Which parts the executor's units run on (``phases.units.Where``)."""

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


class Phase(ABC):
    """One step of a round: reads its inputs from the store, writes its outputs and its done mark in one
    transaction (``ctx.phase``)."""

    name = ""

    @abstractmethod
    def run(self, ctx: Context, r: int) -> None:
        """Do round ``r``'s work of this phase and record it."""


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


def correct(ctx: Context, pairs: Sequence[tuple[Problem, str]]) -> list[int | None]:
    """Whether each answer is right, by the task's oracle (or the target when the task has none): for the record
    and the evaluation only, never to select labels. Each skill's pairs go to its task in one batch."""
    out: list[int | None] = [None] * len(pairs)
    by_skill: dict[str, list[int]] = defaultdict(list)
    for i, (p, _) in enumerate(pairs):
        by_skill[p.task].append(i)
    for skill, where in by_skill.items():
        scores = ctx.parts.skills.tasks[skill].check_many([pairs[i] for i in where])
        for i, score in zip(where, scores, strict=True):
            p, answer = pairs[i]
            if score is None:
                out[i] = None if p.target is None else int(answer == p.target)
            else:
                out[i] = int(score == 1.0)
    return out


def greedy(ctx: Context, student: Student, problems: list[tuple[int, Problem]]) -> list[tuple[int, Problem, str, bool]]:
    """``student``'s greedy answer to each problem and whether it is right: (id, problem, answer, right)."""
    out = []
    for (skill, d), group in by_cell(problems).items():
        task = ctx.parts.skills.tasks[skill]
        answers = student.generate(
            [p.prompt for _, p in group], n=1, temperature=0.0, max_new_tokens=task.max_answer_len(d) + 1
        )
        texts = [task.extract(ans) for (ans,) in answers]
        right = correct(ctx, [(p, text) for (_, p), text in zip(group, texts)])
        out.extend((pid, p, text, bool(ok)) for (pid, p), text, ok in zip(group, texts, right))
    return out


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
