"""VERIFY: round 0's labels; later rounds, every attempt scored and each problem's verdict derived."""

from __future__ import annotations

from selftaught.run.context import Context, result_rows, tally
from selftaught.run.phases.base import Phase
from selftaught.run.phases.hindsight import relabel_round
from selftaught.verifiers.base import Score


class Verify(Phase):
    """Round 0: the labels. Later rounds: every attempt of the round scored in one batch per skill (so a verifier
    that runs programs runs them in parallel), each problem's verdict derived from those scores, and each attempt's
    correctness by the oracle, for the record."""

    name = "VERIFY"

    def run(self, ctx: Context, r: int) -> None:
        store, parts = ctx.store, ctx.parts
        problems = store.problems(r, "train")
        rows, scored, relabels = [], [], []
        if r == 0:
            for pid, p in problems:
                rows.append((pid, parts.oracles[p.task].judge(p, []), 1))
        elif ctx.update.needs_attempts(ctx.exp):  # a round that made no attempts has nothing to verify
            attempts, keys = store.attempts(r), store.attempt_keys(r)
            scores: dict[int, list[Score]] = ctx.attempts.scores(ctx, r, attempts)  # e.g. refine scored them
            todo = [(pid, p, attempts.get(pid, [])) for pid, p in problems if pid not in scores]
            scores.update(ctx.scorer.score(todo))
            distinct = list(dict.fromkeys((pid, text) for pid, _ in problems for text in attempts.get(pid, [])))
            by_id = dict(problems)
            right = dict(zip(distinct, ctx.scorer.correct([(by_id[pid], text) for pid, text in distinct]), strict=True))
            chosen = store.chosen_control(r)  # B-STaR's threshold, when the round chose one
            for pid, p in problems:
                texts = attempts.get(pid, [])
                verdict = ctx.control.verdict(parts.verifiers[p.task], p, texts, scores[pid], chosen)
                rows.append((pid, verdict, right[(pid, verdict.answer)] if verdict.accepted else None))
                for (m, s), text, sc in zip(keys.get(pid, []), texts, scores[pid], strict=True):
                    scored.append((pid, m, s, sc.reward, sc.feedback, right[(pid, text)]))
            if ctx.exp.loop.hindsight:  # failed attempts that ran, as the problems they do solve
                relabels = relabel_round(ctx, r, problems, attempts, keys, scores)
        accepted = tally((p, verdict.accepted) for (_, p), (_, verdict, _) in zip(problems, rows))
        with ctx.phase(r, "VERIFY"):
            store.score_attempts(scored)
            store.add_verdicts(r, rows)
            store.add_relabels(r, relabels)
            if r > 0:
                store.add_skill_results(r, 0, "attempts", result_rows(accepted))
