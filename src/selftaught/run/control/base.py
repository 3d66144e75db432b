"""How a round's sampling settings are chosen: the base of the control strategies (``[control] kind``).

Before ATTEMPT samples, a strategy may measure settings and choose one (``plan``: the rows ATTEMPT records, the
chosen one marked); ATTEMPT then samples with the chosen count and temperature (``sampling``) and writes the rows in
its transaction (``record``: the control table, and whatever else the strategy keeps, such as why it measured
nothing), and VERIFY applies the chosen reward threshold (``verdict``). A new strategy is one file with a subclass
and one line in ``CONTROLS`` (``run/control/__init__.py``), or ``control.kind = "module:Class"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from selftaught.config import Experiment
from selftaught.run.context import Context
from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier


class ControlStrategy:
    """Fixed settings unless a subclass plans: the verifier's sample count and temperature, no threshold."""

    name = ""

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        """Refuse, with one ``SelftaughtError`` line, settings this strategy cannot work with."""

    def plan(self, ctx: Context, r: int, problems: list[tuple[int, Problem]]) -> list[dict[str, Any]]:
        """Round ``r``'s measured settings, the chosen one marked ``chosen``; [] to keep the configured ones. Runs
        on round ``r - 1``'s weights (loaded by the caller)."""
        return []

    def record(self, ctx: Context, r: int, rows: list[dict[str, Any]]) -> None:
        """Write round ``r``'s plan, inside ATTEMPT's transaction: its rows in the control table."""
        ctx.store.add_control(r, rows)

    def sampling(self, ctx: Context, rows: list[dict[str, Any]]) -> tuple[int, float]:
        """The (sample count, temperature) a round's attempts use: the chosen row's, else the verifier's."""
        chosen = next((row for row in rows if row["chosen"]), None)
        if chosen is None:
            return ctx.exp.verifier.samples, ctx.exp.verifier.temperature
        return int(chosen["samples"]), float(chosen["temperature"])

    def verdict(
        self, verifier: Verifier, problem: Problem, attempts: list[str], scores: Sequence[Score], chosen: dict | None
    ) -> Verdict:
        """The verifier's verdict with the round's chosen row (as the store recorded it) applied."""
        return thresholded_verdict(verifier, problem, attempts, scores, chosen)


def thresholded_verdict(
    verifier: Verifier, problem: Problem, attempts: list[str], scores: Sequence[Score], chosen: dict | None
) -> Verdict:
    """The verifier's verdict with the round's chosen reward threshold applied (``chosen`` None: unchanged).

    An attempt counts as accepted only if the verifier accepts it *and* its reward is at least the threshold (a
    reward of None never is). The verifier derives its verdict from those scores, and an answer it still picks is
    dropped when none of its attempts passes the threshold (a vote's verdict reads the counts, not ``accepted``).
    So for a vote (reward = the answer's vote share) the top answer is accepted when its share reaches both the
    vote threshold and the control threshold; for tests (reward = the share of tests passed) an accepted attempt
    already passed them all (reward 1), so the threshold never removes a label there; the same holds for the
    oracle and for rule filters (reward 1 or 0). A composition's reward is its parts' lowest.
    """
    if chosen is None:
        return verifier.verdict(problem, attempts, scores)
    h = float(chosen["threshold"])
    passed = [s.accepted and s.reward is not None and s.reward >= h for s in scores]
    kept_scores = [Score(s.reward, ok, s.feedback, s.parts) for s, ok in zip(scores, passed, strict=True)]
    v = verifier.verdict(problem, attempts, kept_scores)
    evidence = {**v.evidence, "control_threshold": h}
    if v.answer is not None and not any(ok and a == v.answer for a, ok in zip(attempts, passed, strict=True)):
        return Verdict(None, v.score, {**evidence, "below_control_threshold": True})
    return Verdict(v.answer, v.score, evidence)
