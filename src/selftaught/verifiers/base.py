"""The Verifier protocol: a score for every attempt, and the verdict (the accepted answer) derived from the scores.

``score(problem, attempts) -> list[Score]`` is the one method a verifier must have. The loop scores a whole round at
once through ``score_many`` (a verifier that runs programs sends the batch to its sandbox in parallel), records
every attempt's reward and feedback, and derives each problem's verdict from those same scores with ``verdict``, so
nothing is checked twice. ``AllOf`` composes verifiers.
"""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selftaught.types import Problem, Verdict


@dataclass(frozen=True)
class Score:
    """One attempt as a verifier sees it.

    ``reward`` in [0, 1] (the share of tests passed, the vote share, 1/0 for a rule), or None when the verifier
    cannot say; ``accepted``: whether the verifier would take this attempt as the problem's label; ``feedback``:
    why not, in words a model can read (the failing test, the counterexample, the error); ``parts``: the scores of
    a composition's parts, by name.
    """

    reward: float | None
    accepted: bool
    feedback: str = ""
    parts: dict[str, Score] = field(default_factory=dict)


class Verifier(abc.ABC):
    """Scores a problem's attempts and derives from the scores which one, if any, becomes its label.

    ``attempts`` are every attempt for one problem (n samples of one model, or the pooled samples of an ensemble).
    The verdict's ``evidence`` is JSON-serialisable, since the run store keeps it.
    """

    name: str = ""

    @abc.abstractmethod
    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        """One Score per attempt, in order."""

    def score_many(self, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[Score]]:
        """``score`` over many problems at once; override to run them in parallel (same results, same order)."""
        return [self.score(problem, attempts) for problem, attempts in batch]

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        """The most common accepted attempt (ties: the first seen); the score is the share of attempts accepted."""
        n = len(attempts)
        kept = [a for a, s in zip(attempts, scores, strict=True) if s.accepted]
        top = most_common(kept)
        return Verdict(
            answer=None if top is None else top[0],
            score=len(kept) / n if n else 0.0,
            evidence={"n": n, "accepted": len(kept)},
        )

    def judge(self, problem: Problem, attempts: list[str]) -> Verdict:
        """Score and decide in one call (for one problem; the loop uses ``score_many`` and ``verdict``)."""
        return self.verdict(problem, attempts, self.score(problem, attempts))

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def with_mean_reward(verdict: Verdict, scores: Sequence[Score]) -> Verdict:
    """``verdict`` with the mean of the attempts' known rewards added to its evidence (``mean_reward``)."""
    known = [s.reward for s in scores if s.reward is not None]
    verdict.evidence["mean_reward"] = sum(known) / len(known) if known else 0.0
    return verdict


def most_common(answers: Sequence[str]) -> tuple[str, int] | None:
    """The most frequent answer and its count; ties go to the answer seen first.

    Every built-in verifier breaks ties this way, so that composed verifiers pick the same answer from the same
    attempts (which is what makes ``AllOf([vote, length])`` mean "the majority answer is plausible").
    """
    if not answers:
        return None
    # Counter.most_common keeps first-seen order among equal counts.
    return Counter(answers).most_common(1)[0]


class RuleFilter(Verifier):
    """Accepts the most common attempt that a rule of the task allows (ties go to the one seen first).

    Subclasses define ``allows`` and name the count of allowed attempts in the evidence (``kept_key``). Each
    attempt's reward is 1 when the rule allows it, else 0; the verdict's score is the share allowed.
    """

    kept_key: str = "kept"

    @abc.abstractmethod
    def allows(self, problem: Problem, answer: str) -> bool:
        """Whether the rule allows ``answer`` for ``problem``."""

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        allowed = {a: bool(self.allows(problem, a)) for a in dict.fromkeys(attempts)}  # each distinct answer once
        return [Score(float(allowed[a]), allowed[a], "" if allowed[a] else f"{self.name}: rejected") for a in attempts]

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        v = super().verdict(problem, attempts, scores)
        kept = v.evidence.pop("accepted")
        v.evidence[self.kept_key] = kept
        return v


class AllOf(Verifier):
    """Accepts an answer only if every part accepts and all parts accept the same answer.

    An attempt's reward is the lowest of its parts' rewards (parts that cannot say are left out) and it is accepted
    when every part accepts it; its feedback gathers the parts'. The verdict's score is the lowest part score: the
    composition is only as confident as its least confident part. The evidence holds each part's evidence under its
    name, plus ``"agree"``: whether the answers the parts accepted are identical.
    """

    name = "all_of"

    def __init__(self, verifiers: Sequence[Verifier]) -> None:
        verifiers = list(verifiers)
        if not verifiers:
            raise ValueError("verifiers [] must name at least one verifier for AllOf")
        names = [getattr(v, "name", "") for v in verifiers]
        for verifier, part_name in zip(verifiers, names, strict=True):
            if not callable(getattr(verifier, "score", None)):
                raise TypeError(f"verifier {verifier!r} in AllOf has no score() method")
            if not part_name or part_name == "agree":
                raise ValueError(f"verifier {verifier!r} in AllOf needs a name other than {part_name!r}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            # Part evidence is keyed by name; two parts with one name would overwrite each other's evidence.
            raise ValueError(f"verifier names {duplicates} appear more than once in AllOf")
        self.verifiers = verifiers

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        return self.score_many([(problem, attempts)])[0]

    def score_many(self, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[Score]]:
        by_part = [verifier.score_many(batch) for verifier in self.verifiers]  # each part batches its own work
        out = []
        for i, (_, attempts) in enumerate(batch):
            out.append(
                [
                    self._combine({v.name: by_part[k][i][j] for k, v in enumerate(self.verifiers)})
                    for j in range(len(attempts))
                ]
            )
        return out

    @staticmethod
    def _combine(parts: dict[str, Score]) -> Score:
        known = [s.reward for s in parts.values() if s.reward is not None]
        feedback = "; ".join(s.feedback for s in parts.values() if s.feedback)
        return Score(min(known) if known else None, all(s.accepted for s in parts.values()), feedback, parts)

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        verdicts = [
            verifier.verdict(problem, attempts, [s.parts[verifier.name] for s in scores]) for verifier in self.verifiers
        ]
        accepted = {v.answer for v in verdicts if v.answer is not None}
        agree = len(accepted) <= 1
        evidence: dict[str, Any] = {
            verifier.name: v.evidence for verifier, v in zip(self.verifiers, verdicts, strict=True)
        }
        evidence["agree"] = agree
        answer = verdicts[0].answer if agree and all(v.accepted for v in verdicts) else None
        return Verdict(answer=answer, score=min(v.score for v in verdicts), evidence=evidence)

    def __repr__(self) -> str:
        return f"AllOf({self.verifiers!r})"
