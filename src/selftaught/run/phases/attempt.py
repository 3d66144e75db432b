"""ATTEMPT: every ensemble member samples answers to the round's problems (round 0 is labelled: nothing to do).

One unit per (member, cell), on the executor; answers are extracted and assembled here, in the driver."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from selftaught.run.phases.common import Context, Phase, below, by_cell
from selftaught.run.phases.refine import refined_answers
from selftaught.run.phases.units import GenUnit, generate_unit
from selftaught.seeding import derive_seed, rng_for
from selftaught.types import Problem


class Attempt(Phase):
    name = "ATTEMPT"

    def run(self, ctx: Context, r: int) -> None:
        refined = None  # loop.attempts = 'refine': its turns and memory
        rows, grid = [], []
        if r > 0:
            ctx.load_weights(r - 1)  # the driver's students answer in-process (the local executor)
            problems = ctx.store.problems(r, "train")
            from selftaught.run import control  # here: the controller uses the phases' helpers

            grid = control.plan(ctx, r, problems)  # [control] kind = "bstar": the round's setting, before sampling
            n, temperature = control.sampling(ctx, grid)
            members = range(len(ctx.parts.students))
            if ctx.parts.attempts == "split":
                splits, part_problems = split_parts(ctx, r, problems)
                part_answers = sampled_answers(ctx, r, part_problems, "parts", n=n, temperature=temperature)
                answers = [join_parts(ctx, problems, splits, part_answers[m], n) for m in members]
            elif ctx.parts.attempts == "refine":  # answer, read the feedback, answer again
                answers, refined = refined_answers(ctx, r, problems)
            else:
                answers = searched_answers(ctx, r, problems, n, temperature)
            for m in members:
                for pid, _ in problems:
                    rows.extend((pid, m, s, text) for s, text in enumerate(answers[m][pid]))
        with ctx.phase(r, "ATTEMPT"):
            ctx.store.add_attempts(rows)
            if refined is not None:
                refined.write(ctx.store)
            ctx.store.add_control(r, grid)


def sampled_answers(
    ctx: Context,
    r: int,
    problems: list[tuple[int, Problem]],
    *seed_tag: str,
    n: int | None = None,
    temperature: float | None = None,
) -> list[dict]:
    """Each model's sampled answers to each problem, by problem id (any hashable key): one unit per (model, cell),
    on round ``r - 1``'s weights; ``n`` answers at ``temperature`` (default: the verifier's)."""
    tasks = ctx.parts.skills.tasks
    n = ctx.exp.verifier.samples if n is None else n
    temperature = ctx.exp.verifier.temperature if temperature is None else temperature
    single = len(ctx.parts.skills.skills) == 1
    cells = by_cell(problems)
    units, where = [], []
    for m in range(len(ctx.parts.students)):
        replica = ctx.replica(r - 1, m)
        for (skill, d), group in cells.items():
            units.append(
                GenUnit(
                    ctx.where(),
                    m,
                    replica,
                    [p.prompt for _, p in group],
                    n=n,
                    temperature=temperature,
                    max_new_tokens=tasks[skill].max_answer_len(d) + 1,
                    seed=derive_seed(ctx.exp.seed, r, "ATTEMPT", m, *(() if single else (skill,)), d, *seed_tag),
                )
            )
            where.append((m, skill, group))
    out: list[dict] = [{} for _ in ctx.parts.students]
    for (m, skill, group), answers in zip(where, ctx.executor.map(generate_unit, units), strict=True):
        task = tasks[skill]
        out[m].update((pid, [task.extract(c) for c in outs]) for (pid, _), outs in zip(group, answers))
    return out


def at_frontier(ctx: Context, r: int) -> Callable[[Problem], bool]:
    """Whether a problem lies where round ``r`` searches harder: in a cell (skill, difficulty) whose held-out
    greedy accuracy after round ``r - 1`` is under ``search.below``, or that was not measured."""
    evaluations = ctx.store.evaluations(r - 1)
    measured = {(e["task"], e["difficulty"]) for e in evaluations}
    cells = below(evaluations, ctx.exp.search.below)
    return lambda p: (p.task, p.difficulty) in cells or (p.task, p.difficulty) not in measured


def searched_answers(
    ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float
) -> list[dict]:
    """``sampled_answers``; with ``search.samples`` set, that many answers at ``search.temperature`` to the
    problems at the frontier (``at_frontier``), and ``n`` at ``temperature`` to the rest; with ``search.compose``,
    frontier problems also get programs joined from two of their answers (``composed``)."""
    s = ctx.exp.search
    if not (s.samples or s.compose):
        return sampled_answers(ctx, r, problems, n=n, temperature=temperature)
    hard = at_frontier(ctx, r)
    frontier = [(pid, p) for pid, p in problems if hard(p)]
    easy = [(pid, p) for pid, p in problems if not hard(p)]
    k, t = (s.samples, s.temperature) if s.samples else (n, temperature)
    out = sampled_answers(ctx, r, easy, n=n, temperature=temperature)
    more = sampled_answers(ctx, r, frontier, "frontier", n=k, temperature=t)
    tasks = ctx.parts.skills.tasks
    for mine, extra in zip(out, more, strict=True):
        if s.compose:
            for pid, p in frontier:
                extra[pid] += composed(tasks[p.task], extra[pid], s.compose)
        mine.update(extra)
    return out


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


def split_parts(ctx: Context, r: int, problems: list[tuple[int, Problem]]) -> tuple[dict, list]:
    """Each problem's easier parts (the task's ``split``), and the parts as problems keyed (problem id, part)."""
    tasks = ctx.parts.skills.tasks
    splits = {pid: tasks[p.task].split(p, rng_for(ctx.exp.seed, r, "SPLIT", pid)) for pid, p in problems}
    # Parts belong to their problem's skill (the task names them by itself).
    part_problems = [
        ((pid, j), replace(part, task=p.task)) for pid, p in problems for j, part in enumerate(splits[pid] or [])
    ]
    return splits, part_problems


def join_parts(
    ctx: Context, problems: list[tuple[int, Problem]], splits: dict, part_answers: dict, n: int | None = None
) -> dict[int, list[str]]:
    """Answers assembled by the task from the model's answers to each problem's easier parts ("" if none); ``n``
    answers each (default: the verifier's sample count)."""
    tasks = ctx.parts.skills.tasks
    n = ctx.exp.verifier.samples if n is None else n
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
