"""``[control] kind = "bstar"``: before a round's attempts, pick the sampling temperature, sample count and reward
threshold with the best balance score on a small held-out slice (B-STaR; the score and its sources: ``balance.py``).

No cost where the grid cannot choose: when every problem has at most one right answer (``n' <= 1`` for every query),
the score's first factor ``min(n'/n*, 1)`` is at most ``1/n*`` everywhere and the score only rewards keeping fewer
distinct answers, not finding more right ones; so the grid is skipped and the round samples with the verifier's count
and temperature, as ``kind = "none"`` does. How the controller knows:

* the task declares it (``Task.unique_answer``: True for the arithmetic and string tasks, checked by exact match;
  False for list-functions and jsonl, where many programs are right): a round whose skills all declare True is
  skipped from round 1 on; one with a skill that declares False always measures;
* a task that declares nothing (None) is measured: after a grid, when no problem of the slice had two distinct right
  answers among all the answers the grid drew while at least half of them had one (a model that solves little says
  nothing of its task), every later round is skipped.

A skipped round writes no control rows; ``meta`` holds why (``control_skipped``: {round: reason}), and the
measurements of undeclared tasks (``control_answers``: {round: {slice, solved, most_right}}); ``status`` shows the
skip in its control list.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Hashable, Mapping
from typing import Any

from selftaught.run.context import Context, by_cell, sample
from selftaught.run.control.balance import BStarController, Sampled
from selftaught.run.control.base import ControlStrategy
from selftaught.seeding import derive_seed
from selftaught.types import Problem

SKIPPED = "control_skipped"  # meta: {round: why its grid was skipped}
ANSWERS = "control_answers"  # meta: {round: what its grid saw of right answers per problem}, for undeclared tasks


class BStar(ControlStrategy):
    """Model 0 answers the slice at every grid setting (made as the round's attempt strategy makes answers); the
    verifier scores them and the oracle counts the right ones; the best mean balance score is chosen. Skipped where
    every problem has one right answer (see the module docstring)."""

    name = "bstar"

    def __init__(self) -> None:
        self._notes: tuple[int, dict[str, Any]] | None = None  # (round, {meta key: entry}) for ``record``

    def plan(self, ctx: Context, r: int, problems: list[tuple[int, Problem]]) -> list[dict[str, Any]]:
        """Round ``r``'s control grid with the chosen row marked; [] when control is off, in round 0, with no
        problems, or when the grid is skipped. Runs model 0 on round ``r - 1``'s weights (the caller has loaded
        them)."""
        self._notes = None
        c = ctx.exp.control
        if r < 1 or not problems:
            return []
        declared = declarations(ctx, problems)
        why = skip_reason(declared, json.loads(ctx.store.meta(ANSWERS) or "{}"), r)
        if why is not None:
            self._notes = (r, {SKIPPED: why})
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

        rows = controller.measure(generate, judge)
        if None in declared.values() and False not in declared.values():  # undeclared: measured
            self._notes = (r, {ANSWERS: right_answers(right, [q for q, _ in held])})
        return rows

    def record(self, ctx: Context, r: int, rows: list[dict[str, Any]]) -> None:
        """The rows, and this round's note (why it skipped, or what an undeclared task's grid saw) in ``meta``."""
        super().record(ctx, r, rows)
        if self._notes is None or self._notes[0] != r:
            return
        for key, entry in self._notes[1].items():
            entries = json.loads(ctx.store.meta(key) or "{}")
            entries[str(r)] = entry
            ctx.store.set_meta(**{key: json.dumps(entries, sort_keys=True)})


def declarations(ctx: Context, problems: list[tuple[int, Problem]]) -> dict[str, bool | None]:
    """Each skill among ``problems`` and its task's ``unique_answer`` (True: one right answer per problem)."""
    tasks = ctx.parts.skills.tasks
    return {skill: getattr(tasks[skill], "unique_answer", None) for skill in sorted({p.task for _, p in problems})}


def right_answers(right: Mapping[tuple[Hashable, str], int | None], queries: list[Hashable]) -> dict[str, int]:
    """What a grid saw: the slice's size, the problems with a right answer among every answer drawn (``solved``),
    and the most distinct right answers one problem had (``most_right``)."""
    per: dict[Hashable, int] = dict.fromkeys(queries, 0)
    for (q, _), ok in right.items():
        per[q] += int(ok == 1)
    return {"slice": len(per), "solved": sum(n > 0 for n in per.values()), "most_right": max(per.values(), default=0)}


def one_answer(seen: Mapping[str, int]) -> bool:
    """Whether a grid's answers show a task with one right answer per problem: no problem had two distinct right
    answers, and at least half the slice had one."""
    return seen["most_right"] <= 1 and seen["solved"] > 0 and 2 * seen["solved"] >= seen["slice"]


def skip_reason(declared: Mapping[str, bool | None], measured: Mapping[str, Mapping[str, int]], r: int) -> str | None:
    """Why round ``r`` skips its grid (None: it measures): every skill declares one right answer per problem, or
    none declares many and the newest earlier grid (``measured``: {round: ``right_answers``}) saw one."""
    if declared and all(d is True for d in declared.values()):
        return f"one right answer per problem ({', '.join(declared)} declares it): the balance score cannot choose"
    if any(d is False for d in declared.values()):
        return None
    earlier = [int(k) for k in measured if int(k) < r]
    if not earlier:
        return None
    last = max(earlier)
    seen = measured[str(last)]
    if not one_answer(seen):
        return None
    return (
        f"round {last}'s grid found at most one right answer per problem ({seen['solved']} of {seen['slice']} "
        "solved, none two ways): the balance score cannot choose"
    )


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
