"""ATTEMPT: every ensemble member samples answers to the round's problems (round 0 is labelled: nothing to do)."""

from __future__ import annotations

from dataclasses import replace

from ..seeding import derive_seed, rng_for
from ..types import Problem
from .common import Context, Phase, by_cell


class Attempt(Phase):
    name = "ATTEMPT"

    def run(self, ctx: Context, r: int) -> None:
        rows = []
        if r > 0:
            ctx.load_weights(r - 1)
            problems = ctx.store.problems(r, "train")
            for m in range(len(ctx.parts.students)):
                if ctx.parts.attempts == "split":
                    answers = split_answers(ctx, r, m, problems)
                else:
                    answers = sampled_answers(ctx, r, m, problems)
                for pid, _ in problems:
                    rows.extend((pid, m, s, text) for s, text in enumerate(answers[pid]))
        with ctx.phase(r, "ATTEMPT"):
            ctx.store.add_attempts(rows)


def sampled_answers(
    ctx: Context, r: int, m: int, problems: list[tuple[int, Problem]], *seed_tag: str
) -> dict[int, list[str]]:
    """Model ``m``'s sampled answers to each problem, by problem id (any hashable key)."""
    v = ctx.exp.verifier
    out: dict[int, list[str]] = {}
    single = len(ctx.parts.skills.skills) == 1
    for (skill, d), group in by_cell(problems).items():
        answers = ctx.parts.students[m].generate(
            [p.prompt for _, p in group],
            n=v.samples,
            temperature=v.temperature,
            max_new_tokens=ctx.parts.skills.tasks[skill].max_answer_len(d) + 1,
            seed=derive_seed(ctx.exp.seed, r, "ATTEMPT", m, *(() if single else (skill,)), d, *seed_tag),
        )
        task = ctx.parts.skills.tasks[skill]
        out.update((pid, [task.extract(c) for c in outs]) for (pid, _), outs in zip(group, answers))
    return out


def split_answers(ctx: Context, r: int, m: int, problems: list[tuple[int, Problem]]) -> dict[int, list[str]]:
    """Answers assembled by the task from the model's answers to each problem's easier parts ("" if none)."""
    tasks, n = ctx.parts.skills.tasks, ctx.exp.verifier.samples
    splits = {pid: tasks[p.task].split(p, rng_for(ctx.exp.seed, r, "SPLIT", pid)) for pid, p in problems}
    # Parts belong to their problem's skill (the task names them by itself).
    part_problems = [
        ((pid, j), replace(part, task=p.task)) for pid, p in problems for j, part in enumerate(splits[pid] or [])
    ]
    part_answers = sampled_answers(ctx, r, m, part_problems, "parts")
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
