"""``loop.attempts = "direct"``: the model answers each problem; with ``[search]``, more answers at the frontier."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run.attempts.base import Answers, Attempted, AttemptStrategy, attempt_seed
from selftaught.run.context import Context, below
from selftaught.tasks.base import provides
from selftaught.types import Problem


class Direct(AttemptStrategy):
    """``n`` answers to each problem at ``temperature``. With ``search.samples`` set, problems at the frontier
    (``at_frontier``) get that many answers at ``search.temperature`` instead; with ``search.compose``, they also
    get programs joined from two of their answers (``composed``)."""

    name = "direct"

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        if exp.search.compose:
            for name, task in parts.skills.tasks.items():
                if not provides(task, "compose"):
                    raise SelftaughtError(
                        f"search.compose: skill {name!r} (task {task.name!r}) cannot join two answers into one (it "
                        "has no 'compose'); set search.compose = 0"
                    )

    def attempt(
        self, ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float
    ) -> Attempted:
        s = ctx.exp.search
        if not (s.samples or s.compose):
            return Attempted(ctx.sampler.answers(r, problems, n, temperature, attempt_seed(ctx, r)))
        hard = at_frontier(ctx, r)
        frontier = [(pid, p) for pid, p in problems if hard(p)]
        easy = [(pid, p) for pid, p in problems if not hard(p)]
        k, t = (s.samples, s.temperature) if s.samples else (n, temperature)
        out: Answers = ctx.sampler.answers(r, easy, n, temperature, attempt_seed(ctx, r))
        more = ctx.sampler.answers(r, frontier, k, t, attempt_seed(ctx, r, "frontier"))
        tasks = ctx.parts.skills.tasks
        for mine, extra in zip(out, more, strict=True):
            if s.compose:
                for pid, p in frontier:
                    extra[pid] += composed(tasks[p.task], extra[pid], s.compose)
            mine.update(extra)
        return Attempted(out)


def at_frontier(ctx: Context, r: int) -> Callable[[Problem], bool]:
    """Whether a problem lies where round ``r`` searches harder: in a cell (skill, difficulty) whose held-out
    greedy accuracy after round ``r - 1`` is under ``search.below``, or that was not measured."""
    evaluations = ctx.store.evaluations(r - 1)
    measured = {(e["task"], e["difficulty"]) for e in evaluations}
    cells = below(evaluations, ctx.exp.search.below)
    return lambda p: (p.task, p.difficulty) in cells or (p.task, p.difficulty) not in measured


def composed(task: Any, answers: list[str], limit: int) -> list[str]:
    """Up to ``limit`` new answers joining two different ones of ``answers`` (``task.compose(inner, outer)``): the
    most frequent first, each pair in both orders, none already among ``answers``."""
    ranked = [a for a, _ in Counter(answers).most_common()]
    out: list[str] = []
    seen = set(answers)
    for i, inner in enumerate(ranked):
        for outer in ranked[: i + 1]:
            for a, b in ((inner, outer), (outer, inner)):
                joined = task.compose(a, b) if a != b else None
                if joined is not None and joined not in seen:
                    seen.add(joined)
                    out.append(joined)
                    if len(out) == limit:
                        return out
    return out
