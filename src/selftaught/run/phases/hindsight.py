"""Hindsight relabelling (part of VERIFY): a failed attempt that ran is still a right answer to the problem its own
outputs pose (CodeIt, Butt et al. 2024; hindsight experience replay, Andrychowicz et al. 2017).

Each distinct failed attempt of a round runs once more in the sandbox, on the calls its task's ``probe`` names (the
problem's inputs); its values come back as plain data, and the task's ``relabel`` turns them into the problem the
attempt does solve, at the difficulty of the program it really is, or refuses a degenerate one. A relabel is kept
when it is new: not a held-out prompt, not one of the round's own problems, not kept before (this round or earlier).
Every try is recorded with its reason (``relabels``); CURATE trains on the kept ones (``loop.hindsight_share``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from selftaught.run.context import Context
from selftaught.sandbox.shared import shared_sandbox
from selftaught.types import NO_VALUE, Problem
from selftaught.verifiers.base import Score
from selftaught.verifiers.tests import program_for

# Why a relabel was or was not kept.
KEPT, NO_VALUES, DEGENERATE, HELD_OUT, DUPLICATE = "kept", "error", "degenerate", "held out", "duplicate"


def relabel_round(
    ctx: Context,
    r: int,
    problems: Sequence[tuple[int, Problem]],
    attempts: dict[int, list[str]],
    keys: dict[int, list[tuple[int, int]]],
    scores: dict[int, list[Score]],
) -> list[dict[str, Any]]:
    """The ``relabels`` rows of round ``r``: one per distinct (problem, attempt text) the verifier did not accept,
    for the attempt that wrote it first."""
    tasks = ctx.parts.skills.tasks
    ids = ctx.store.attempt_ids(r)
    jobs: dict[str, list[tuple[Problem, str, list[str], int]]] = defaultdict(list)  # by skill
    for pid, p in problems:
        calls = tasks[p.task].probe(p)
        if not calls:
            continue
        first: dict[str, int] = {}
        for (m, s), text, score in zip(keys.get(pid, []), attempts.get(pid, []), scores.get(pid, []), strict=True):
            if not score.accepted and text not in first:
                first[text] = ids[(pid, m, s)]
        jobs[p.task].extend((p, text, calls, aid) for text, aid in first.items())
    seen = set(ctx.held_out())
    own = {p.prompt for _, p in problems}
    kept_before = ctx.store.relabelled_prompts(r)
    rows = []
    for skill, group in jobs.items():
        task = tasks[skill]
        box = getattr(task, "sandbox", None) or shared_sandbox()
        items = [(program_for(task, p, text), calls) for p, text, calls, _ in group]
        results = box.call_many(items, limits=getattr(task, "limits", None))
        for (p, text, _, aid), result in zip(group, results, strict=True):
            made = None
            if any(v is NO_VALUE for v in result.values):
                reason = NO_VALUES
            elif (found := task.relabel(p, text, list(result.values))) is None:
                reason = DEGENERATE
            else:
                made = Problem(p.task, found.difficulty, found.prompt, found.target, p.seed, None, found.meta)
                if made.prompt in seen:
                    reason = HELD_OUT
                elif made.prompt in own or made.prompt in kept_before:
                    reason = DUPLICATE
                else:
                    reason = KEPT
                    kept_before.add(made.prompt)
            rows.append(
                {
                    "attempt_id": aid,
                    "task": p.task,
                    "from_difficulty": p.difficulty,
                    "problem": made,
                    "kept": reason == KEPT,
                    "reason": reason,
                }
            )
    return rows
