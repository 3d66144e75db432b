"""The Verifier protocol and ``AllOf``, which combines verifiers into one that needs all of them to agree."""

from __future__ import annotations

import abc
from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..types import Problem, Verdict


class Verifier(abc.ABC):
    """Decides which, if any, of a problem's attempts becomes its label.

    ``judge`` sees every attempt for one problem (n samples of one model, or the pooled samples of an ensemble) and
    returns a ``Verdict`` whose ``evidence`` is JSON-serialisable, since the run store keeps it.
    """

    name: str = ""

    @abc.abstractmethod
    def judge(self, problem: Problem, attempts: list[str]) -> Verdict:
        """Accept one answer for ``problem`` from ``attempts``, or none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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

    Subclasses define ``allows`` and name the count of allowed attempts in the evidence (``kept_key``). The score is
    the share of attempts allowed.
    """

    kept_key: str = "kept"

    @abc.abstractmethod
    def allows(self, problem: Problem, answer: str) -> bool:
        """Whether the rule allows ``answer`` for ``problem``."""

    def judge(self, problem: Problem, attempts: list[str]) -> Verdict:
        n = len(attempts)
        kept = [a for a in attempts if self.allows(problem, a)]
        top = most_common(kept)
        return Verdict(
            answer=None if top is None else top[0],
            score=len(kept) / n if n else 0.0,
            evidence={"n": n, self.kept_key: len(kept)},
        )


class AllOf(Verifier):
    """Accepts an answer only if every part accepts and all parts accept the same answer.

    The score is the lowest part score: the composition is only as confident as its least confident part. The
    evidence holds each part's evidence under its name, plus ``"agree"``: whether the answers the parts accepted
    are identical.
    """

    name = "all_of"

    def __init__(self, verifiers: Sequence[Verifier]) -> None:
        verifiers = list(verifiers)
        if not verifiers:
            raise ValueError("verifiers [] must name at least one verifier for AllOf")
        names = [getattr(v, "name", "") for v in verifiers]
        for verifier, part_name in zip(verifiers, names, strict=True):
            if not callable(getattr(verifier, "judge", None)):
                raise TypeError(f"verifier {verifier!r} in AllOf has no judge() method")
            if not part_name or part_name == "agree":
                raise ValueError(f"verifier {verifier!r} in AllOf needs a name other than {part_name!r}")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            # Part evidence is keyed by name; two parts with one name would overwrite each other's evidence.
            raise ValueError(f"verifier names {duplicates} appear more than once in AllOf")
        self.verifiers = verifiers

    def judge(self, problem: Problem, attempts: list[str]) -> Verdict:
        verdicts = [verifier.judge(problem, attempts) for verifier in self.verifiers]
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
