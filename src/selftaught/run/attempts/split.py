"""``loop.attempts = "split"``: the model answers the easier parts the task splits a problem into, and the task
joins their answers into the problem's answer."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace
from random import Random
from typing import Any

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run.attempts.base import Attempted, AttemptStrategy, attempt_seed, probe_seed
from selftaught.run.context import Context
from selftaught.seeding import rng_for
from selftaught.tasks.base import provides
from selftaught.types import Problem


class Split(AttemptStrategy):
    name = "split"

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        for name, task in parts.skills.tasks.items():
            if not provides(task, "split"):
                raise SelftaughtError(
                    f"loop.attempts = 'split': skill {name!r} (task {task.name!r}) does not split its problems"
                )
        if exp.search.samples or exp.search.compose:
            raise SelftaughtError(
                "search.samples / search.compose search with direct attempts only; loop.attempts is 'split'"
            )

    def attempt(
        self, ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float
    ) -> Attempted:
        seed = ctx.exp.seed
        splits, parts = split_parts(ctx, problems, lambda pid: rng_for(seed, r, "SPLIT", pid))
        got = ctx.sampler.answers(r, parts, n, temperature, attempt_seed(ctx, r, "parts"))
        return Attempted([join_parts(ctx, problems, splits, got[m], n) for m in range(len(ctx.parts.students))])

    def probe(
        self, ctx: Context, r: int, problems: list[tuple[Hashable, Problem]], n: int, temperature: float
    ) -> dict[Hashable, list[str]]:
        seed = ctx.exp.seed
        splits, parts = split_parts(ctx, problems, lambda q: rng_for(seed, r, "CONTROL", "SPLIT", q))
        got = ctx.sampler.answers(r, parts, n, temperature, probe_seed(ctx, r, temperature, "parts"), [0])[0]
        return join_parts(ctx, problems, splits, got, n)


def split_parts(
    ctx: Context, problems: list[tuple[Hashable, Problem]], rng: Callable[[Hashable], Random]
) -> tuple[dict, list]:
    """Each problem's easier parts (the task's ``split``, drawn with ``rng(key)``), and the parts as problems keyed
    (problem key, part). Parts belong to their problem's skill (the task names them by itself)."""
    tasks = ctx.parts.skills.tasks
    splits = {q: tasks[p.task].split(p, rng(q)) for q, p in problems}
    parts = [((q, j), replace(part, task=p.task)) for q, p in problems for j, part in enumerate(splits[q] or [])]
    return splits, parts


def join_parts(
    ctx: Context, problems: list[tuple[Hashable, Problem]], splits: dict, part_answers: dict, n: int
) -> dict[Hashable, list[str]]:
    """``n`` answers per problem assembled by the task from the answers to its parts ("" if it has none)."""
    tasks = ctx.parts.skills.tasks
    out: dict[Hashable, list[str]] = {}
    for q, p in problems:
        ps = splits[q]
        if not ps:
            out[q] = [""] * n
            continue
        task = tasks[p.task]
        joined = [task.join(p, ps, [part_answers[(q, j)][s] for j in range(len(ps))]) for s in range(n)]
        out[q] = [text or "" for text in joined]
    return out
