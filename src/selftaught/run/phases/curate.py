"""CURATE: the round's training examples, from the accepted answers and the replay pool."""

from __future__ import annotations

from selftaught.run.context import Context
from selftaught.run.phases.base import Phase
from selftaught.seeding import rng_for
from selftaught.training.curation import hindsight_mix


class Curate(Phase):
    name = "CURATE"

    def run(self, ctx: Context, r: int) -> None:
        fresh = ctx.store.accepted(r, source="labelled" if r == 0 else "self")
        fresh += ctx.attempts.examples(ctx, r)  # e.g. refine: the round's fixes, failed answer and feedback -> fix
        if r > 0 and ctx.exp.loop.hindsight:  # failed attempts re-posed as the problems they solve
            share = ctx.exp.loop.hindsight_share
            fresh += hindsight_mix(fresh, ctx.store.kept_relabels(r), share, rng_for(ctx.exp.seed, r, "HINDSIGHT"))
        examples = ctx.parts.curator.build(fresh, ctx.store.replay_pool(r), rng_for(ctx.exp.seed, r, "CURATE"))
        with ctx.phase(r, "CURATE"):
            ctx.store.add_examples(r, examples)
