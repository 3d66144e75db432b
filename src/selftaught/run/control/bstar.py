"""``[control] kind = "bstar"``: before a round's attempts, pick the sampling temperature, sample count and reward
threshold with the best balance score on a small held-out slice (B-STaR; the score and its sources: ``balance.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from typing import Any

from selftaught.run.context import Context, by_cell, sample
from selftaught.run.control.balance import BStarController, Sampled
from selftaught.run.control.base import ControlStrategy
from selftaught.seeding import derive_seed
from selftaught.types import Problem


class BStar(ControlStrategy):
    """Model 0 answers the slice at every grid setting (made as the round's attempt strategy makes answers); the
    verifier scores them and the oracle counts the right ones; the best mean balance score is chosen."""

    name = "bstar"

    def plan(self, ctx: Context, r: int, problems: list[tuple[int, Problem]]) -> list[dict[str, Any]]:
        """Round ``r``'s control grid with the chosen row marked; [] when control is off, in round 0 or with no
        problems. Runs model 0 on round ``r - 1``'s weights (the caller has loaded them)."""
        c = ctx.exp.control
        if r < 1 or not problems:
            return []
        held = slice_problems(ctx, problems)
        if not held:
            return []
        controller = BStarController(c.temperatures, c.thresholds, c.samples or [ctx.exp.verifier.samples], c.n_star)
        by_id = dict(held)
        right: dict[tuple[Hashable, str], int | None] = {}

        def generate(t: float, n: int) -> dict[Hashable, list[str]]:
            answers = ctx.attempts.probe(ctx, r, held, n, t)
            todo = [
                key for key in dict.fromkeys((q, a) for q, texts in answers.items() for a in texts) if key not in right
            ]
            right.update(zip(todo, ctx.scorer.correct([(by_id[q], a) for q, a in todo]), strict=True))
            return answers

        def judge(answers: dict[Hashable, list[str]]) -> dict[Hashable, list[Sampled]]:
            scores = ctx.scorer.score([(q, by_id[q], texts) for q, texts in answers.items()])
            return {
                q: [(a, s.reward, right[(q, a)]) for a, s in zip(texts, scores[q], strict=True)]
                for q, texts in answers.items()
            }

        return controller.measure(generate, judge)


def slice_problems(ctx: Context, problems: list[tuple[int, Problem]]) -> list[tuple[Hashable, Problem]]:
    """``[control] slice`` held-out problems spread over the frontier cells of ``problems`` (the round's training
    problems), keyed ("held", id) for stored ones and ("control", skill, d, j) for drawn ones.

    A cell takes the held-out problems the store has for it (the training slice first, then the evaluation set);
    a cell with none gets problems drawn from seeds of (run seed, "control", cell, j), the same every round. A
    prompt among the round's training problems is never used."""
    exp, store = ctx.exp, ctx.store
    cells = list(by_cell(problems))
    train = {p.prompt for _, p in problems}
    stored: dict[tuple[str, int], list[tuple[Hashable, Problem]]] = defaultdict(list)
    seen: set[str] = set()
    for pid, p in [*ctx.slice_problems(), *store.eval_problems("eval")]:
        if p.prompt not in train and p.prompt not in seen:
            seen.add(p.prompt)
            stored[(p.task, p.difficulty)].append((("held", pid), p))
    single = len(ctx.parts.skills.skills) == 1
    out: list[tuple[Hashable, Problem]] = []
    total = exp.control.slice
    for i, (skill, d) in enumerate(cells):
        want = total // len(cells) + (i < total % len(cells))
        if want == 0:
            continue
        if stored[(skill, d)]:
            out.extend(stored[(skill, d)][:want])
            continue
        drawn: set[str] = set()
        tag = () if single else (skill,)
        for j in range(4 * want):  # tiny problem spaces hold fewer distinct problems than asked
            p = sample(ctx, derive_seed(exp.seed, "control", *tag, d, j), skill, d)
            if p.prompt in train or p.prompt in drawn:
                continue
            drawn.add(p.prompt)
            out.append((("control", skill, d, j), p))
            if len(drawn) == want:
                break
    return out
