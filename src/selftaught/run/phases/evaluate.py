"""EVALUATE: greedy accuracy (and pass@k) of model 0 on the held-out problems around each skill's frontier."""

from __future__ import annotations

from typing import Any

from selftaught.run.context import Context, below, by_cell
from selftaught.run.evaluation import accuracy_table, pass_at_k
from selftaught.run.phases.base import Phase
from selftaught.seeding import derive_seed
from selftaught.types import Problem


class Evaluate(Phase):
    """Greedy accuracy on held-out problems, per skill from its lowest difficulty (or ``window`` below its frontier)
    to ``ahead`` past it; the frontier is the highest difficulty the skill has practised."""

    name = "EVALUATE"

    def run(self, ctx: Context, r: int) -> None:
        ctx.load_weights(r)
        e, store = ctx.exp.eval, ctx.store
        frontiers = store.frontiers(r)
        ranges = {}
        for skill in ctx.parts.skills.skills:
            top = frontiers.get(skill.name, ctx.parts.skills.labelled_max[skill.name])
            ranges[skill.name] = (max(skill.low, top - e.window + 1) if e.window else skill.low, top + e.ahead)
        problems = [
            (pid, p)
            for pid, p in store.eval_problems()
            if p.task in ranges and ranges[p.task][0] <= p.difficulty <= ranges[p.task][1]
        ]
        records = ctx.sampler.greedy(ctx.parts.students[0], problems)
        table = accuracy_table([(p.task, p.difficulty, ok) for _, p, _, ok in records])
        if e.samples:
            pass_k = sampled_pass_at_k(ctx, r, problems, e.samples, e.temperature, e.k)
        elif ctx.exp.search.eval_samples:  # pass@k where greedy decoding fails: does any solve exist there?
            s = ctx.exp.search
            cells = below(table, s.below)
            frontier = [(pid, p) for pid, p in problems if (p.task, p.difficulty) in cells]
            pass_k = sampled_pass_at_k(ctx, r, frontier, s.eval_samples, s.temperature, s.k)
        else:
            pass_k = []
        round_steps = store.round_steps()
        steps = sum(round_steps.values())  # on the run's step axis: every round's steps so far
        wall, cpu = store.elapsed()
        now_wall, now_cpu = ctx.elapsed()
        wall += now_wall
        cpu += now_cpu
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
        with ctx.phase(r, "EVALUATE"):
            store.add_results_reached(reached)
            store.add_eval_results(r, [(pid, ans, ok) for pid, _, ans, ok in records])
            store.add_evaluations(r, table)
            store.add_pass_at_k(r, pass_k)
            store.add_skill_results(
                r,
                round_steps.get(r, 0),
                "evaluation",
                [(t["task"], t["difficulty"], t["correct"], t["n"]) for t in table],
            )


def sampled_pass_at_k(
    ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float, ks: list[int]
) -> list[dict[str, Any]]:
    """``n`` sampled answers per held-out problem at ``temperature``; per cell, the mean over problems of the
    unbiased pass@k for each k of ``ks`` (Chen et al. 2021)."""
    seed = ctx.exp.seed
    got = ctx.sampler.here(
        ctx.parts.students[0], problems, n, temperature, lambda skill, d: derive_seed(seed, r, "PASS@K", skill, d)
    )
    out = []
    for (skill, d), group in by_cell(problems).items():
        right = ctx.scorer.correct([(p, a) for pid, p in group for a in got[pid]])
        counts = [sum(bool(x) for x in right[i * n : (i + 1) * n]) for i in range(len(group))]
        for k in ks:
            value = sum(pass_at_k(n, c, k) for c in counts) / len(counts)
            out.append({"task": skill, "difficulty": d, "k": k, "n": n, "problems": len(group), "value": value})
    return out
