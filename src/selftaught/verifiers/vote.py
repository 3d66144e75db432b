"""Majority vote: accept the most common attempt when its share of the attempts reaches a threshold."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier

_SHOWN_VOTES = 10


class VoteVerifier(Verifier):
    """Self-consistency without an oracle: the top answer is accepted when ``count / n >= threshold``.

    The attempts may be n samples of one model or the pooled answers of an ensemble of models; the rule is the
    same. Attempts are compared exactly (no stripping). An empty answer counts as a vote, since a model that often
    says nothing is not sure of anything else, but it is never accepted. Ties go to the answer seen first.
    """

    name = "vote"

    def __init__(self, threshold: float = 0.5) -> None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, (int, float))
            or math.isnan(threshold)
            or not 0.0 < threshold <= 1.0
        ):
            raise ValueError(f"threshold {threshold!r} for the vote verifier must be in (0, 1]")
        self.threshold = float(threshold)

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        """Each attempt's reward is its answer's share of the votes; accepted when that reaches the threshold (an
        empty answer never is)."""
        n = len(attempts)
        votes = Counter(attempts)
        out = []
        for a in attempts:
            share = votes[a] / n
            ok = share >= self.threshold and a != ""
            out.append(Score(share, ok, "" if ok else f"vote: {votes[a]} of {n} agree, under {self.threshold:g}"))
        return out

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        n = len(attempts)
        if n == 0:
            evidence = {"n": 0, "votes": {}, "top": None, "share": 0.0, "threshold": self.threshold}
            return Verdict(answer=None, score=0.0, evidence=evidence)
        ranked = Counter(attempts).most_common()  # equal counts stay in first-seen order
        top, count = ranked[0]
        share = count / n
        evidence = {
            "n": n,
            "votes": dict(ranked[:_SHOWN_VOTES]),
            "top": top,
            "share": share,
            "threshold": self.threshold,
        }
        accepted = share >= self.threshold and top != ""
        return Verdict(answer=top if accepted else None, score=share, evidence=evidence)

    def __repr__(self) -> str:
        return f"VoteVerifier(threshold={self.threshold!r})"
