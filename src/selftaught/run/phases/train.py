"""TRAIN: the update strategy (``train.method``) trains, writes the checkpoint and records the round's training."""

from __future__ import annotations

from selftaught.run.context import Context
from selftaught.run.phases.base import Phase


class Train(Phase):
    name = "TRAIN"

    def run(self, ctx: Context, r: int) -> None:
        ctx.update.train(ctx, r)
