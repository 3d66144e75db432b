"""DECIDE: the teacher observes the round; the run continues or stops (threshold, budget, too few accepted)."""

from __future__ import annotations

from typing import Any

from selftaught.run.context import Context, tally
from selftaught.run.phases.base import Phase
from selftaught.teachers import Outcome

CONTINUE = "continue"


class Decide(Phase):
    name = "DECIDE"

    def run(self, ctx: Context, r: int) -> None:
        lp, store = ctx.exp.loop, ctx.store
        frontiers = store.frontiers(r)
        evaluations = store.evaluations(r)
        accuracy = {(row["task"], row["difficulty"]): row["accuracy"] for row in evaluations}
        summary = store.round_summary(r)
        share = summary["accepted"] / summary["proposed"] if summary["proposed"] else 0.0
        elapsed = store.elapsed_seconds()
        stuck = stuck_skills(ctx, r, frontiers, accuracy)
        verified = r == 0 or ctx.update.needs_attempts(ctx.exp)  # on-policy GRPO verifies no attempts
        if verified and share < lp.min_accepted:  # round 0 too: a labelled round that labelled nothing must not go on
            decision = f"too few answers accepted: {share:.1%} < {lp.min_accepted:.1%}"
        elif len(stuck) == len(frontiers) == 1:
            ((skill, acc),) = stuck.items()
            how = course(acc, accuracy_before(ctx, r).get((skill, frontiers[skill])))
            decision = f"accuracy at difficulty {frontiers[skill]} {how} {acc:.1%} < {lp.stop_accuracy:.1%}"
        elif stuck and len(stuck) == len(frontiers):
            each = ", ".join(f"{skill} {acc:.1%} at {frontiers[skill]}" for skill, acc in stuck.items())
            under = f"is under {lp.stop_accuracy:.1%}, not rising"
            decision = f"accuracy at every skill's newest difficulty {under}: {each}"
        elif r >= lp.max_rounds:
            decision = f"round budget spent ({lp.max_rounds} self-labelled rounds)"
        elif lp.max_minutes and elapsed >= lp.max_minutes * 60:
            decision = f"wall-time budget spent ({elapsed / 60:.1f} of {lp.max_minutes:g} minutes)"
        else:
            decision = CONTINUE
        teacher = ctx.parts.teacher
        if r > 0 or ctx.exp.teacher.labelled:
            teacher.observe(outcomes(ctx, r, evaluations))
        else:  # every teacher learns what round 0 reached, whether or not it chose round 0's batches
            teacher.observe_labelled(outcomes(ctx, r, evaluations))
        steps = store.round_steps().get(r, 0)
        with ctx.phase(r, "DECIDE"):
            store.set_teacher_state(r, "DECIDE", teacher.state_dict())
            store.add_teacher_scores(r, steps, teacher.scores())
            store.end_round(r, decision)
            if decision != CONTINUE:
                store.finish(decision)
        for cb in ctx.callbacks:
            cb.on_round_end(r, decision)


def stuck_skills(
    ctx: Context, r: int, frontiers: dict[str, int], accuracy: dict[tuple[str, int], float]
) -> dict[str, float]:
    """Skills whose newest difficulty is under ``stop_accuracy`` and did not rise since the previous round's
    evaluation, with that accuracy. A teacher that repeats a difficulty until it is mastered needs a few rounds at a
    new one, so a frontier under the threshold that still improves is not stuck."""
    before = accuracy_before(ctx, r)
    stuck = {}
    for skill, top in frontiers.items():
        now = accuracy.get((skill, top), 0.0)
        improving = (skill, top) in before and now > before[(skill, top)]
        if now < ctx.exp.loop.stop_accuracy and not improving:
            stuck[skill] = now
    return stuck


def accuracy_before(ctx: Context, r: int) -> dict[tuple[str, int], float]:
    """The previous round's held-out accuracy per (skill, difficulty); nothing before round 0."""
    return {(e["task"], e["difficulty"]): e["accuracy"] for e in ctx.store.evaluations(r - 1)} if r else {}


def course(now: float, before: float | None) -> str:
    """How a stuck frontier's accuracy came to ``now`` since the previous round's evaluation (``before``; None when
    it was not measured): it "fell to" it only from higher."""
    if before is None:
        return "is"
    return "fell to" if now < before else "stayed at"


def outcomes(ctx: Context, r: int, evaluations: list[dict[str, Any]]) -> list[Outcome]:
    """What the teacher observes after a round: held-out accuracy per cell, and how many of the round's problems got
    an accepted answer (per problem where the teacher chose a point of the parameter box)."""
    out = [Outcome(e["task"], e["difficulty"], e["correct"], e["n"], "evaluation") for e in evaluations]
    if r > 0:
        accepted = ctx.store.accepted_by_problem(r)
        out.extend(tally((p, ok) for p, ok in accepted if p.params is None))
        out.extend(Outcome(p.task, p.difficulty, int(ok), 1, "attempts", p.params) for p, ok in accepted if p.params)
    return out
