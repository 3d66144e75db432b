"""ATTEMPT: every ensemble member answers the round's problems (round 0 is labelled: nothing to do).

The control strategy chooses the sampling settings (and its rows are recorded), the attempt strategy makes the
answers; both work through the loop's sampling service, so units run on the executor."""

from __future__ import annotations

from selftaught.run.context import Context
from selftaught.run.phases.base import Phase


class Attempt(Phase):
    name = "ATTEMPT"

    def run(self, ctx: Context, r: int) -> None:
        rows, grid, write = [], [], None
        if r > 0 and ctx.update.needs_attempts(ctx.exp):  # e.g. on-policy GRPO samples its own
            ctx.load_weights(r - 1)  # the driver's students answer in-process (the local executor)
            problems = ctx.store.problems(r, "train")
            grid = ctx.control.plan(ctx, r, problems)  # e.g. B-STaR: the round's setting, before sampling
            n, temperature = ctx.control.sampling(ctx, grid)
            attempted = ctx.attempts.attempt(ctx, r, problems, n, temperature)
            write = attempted.write
            for m, answers in enumerate(attempted.answers):
                for pid, _ in problems:
                    rows.extend((pid, m, s, text) for s, text in enumerate(answers[pid]))
        with ctx.phase(r, "ATTEMPT"):
            ctx.store.add_attempts(rows)
            if write is not None:
                write(ctx.store)
            ctx.control.record(ctx, r, grid)
