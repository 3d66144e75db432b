"""VERIFY: round 0's labels; later rounds, every attempt scored and each problem's verdict derived."""

from __future__ import annotations

from collections import defaultdict

from selftaught.run.phases.common import Context, Phase, correct, result_rows, tally
from selftaught.run.phases.hindsight import relabel_round
from selftaught.run.phases.refine import reused_scores
from selftaught.run.phases.units import ScoreUnit, score_unit
from selftaught.types import Problem
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
        else:
            attempts, keys = store.attempts(r), store.attempt_keys(r)
            scores: dict[int, list[Score]] = reused_scores(ctx, r, attempts)  # refine: ATTEMPT scored them
            by_skill: dict[str, list[tuple[int, Problem]]] = defaultdict(list)
            for pid, p in problems:
                if pid not in scores:
                    by_skill[p.task].append((pid, p))
            # One unit per skill in-process; spread over the workers otherwise (scores are per problem).
            chunks = 1 if ctx.executor.local else ctx.executor.workers
            units, groups = [], []
            for skill, group in by_skill.items():
                size = -(-len(group) // chunks)
                for c in range(0, len(group), size):
                    batch = [(p, attempts.get(pid, [])) for pid, p in group[c : c + size]]
                    units.append(ScoreUnit(ctx.where(), ctx.executor.local, skill, batch))
                    groups.append(group[c : c + size])
            for group, got in zip(groups, ctx.executor.map(score_unit, units, stateful=False), strict=True):
                for (pid, _), s in zip(group, got, strict=True):
                    scores[pid] = s
            distinct = list(dict.fromkeys((pid, text) for pid, _ in problems for text in attempts.get(pid, [])))
            by_id = dict(problems)
            right = dict(zip(distinct, correct(ctx, [(by_id[pid], text) for pid, text in distinct]), strict=True))
            from selftaught.run.control import thresholded_verdict  # here: the controller uses the phases' helpers

            chosen = store.chosen_control(r)  # B-STaR's threshold, when the round chose one
            for pid, p in problems:
                texts = attempts.get(pid, [])
                verdict = thresholded_verdict(parts.verifiers[p.task], p, texts, scores[pid], chosen)
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
