"""The experience memory of refine attempts: entries (earlier fixes), their retrieval and their values.

An entry is an earlier round's fix: the problem's prompt (its features), the failed answer, the feedback, the fixed
answer, and a value Q (new entries start at ``INITIAL_VALUE``). Retrieval ranks entries by the Jaccard overlap of
character 3-grams with a problem's prompt, or by that overlap x Q; each use updates Q <- Q + alpha (r - Q).

Training shows the memory as the next round's ATTEMPT will (``retrieve_next``): a round's examples are trained for the
attempts of the round after it, whose prompts show entries of that round and earlier ones; a problem's own fixes are
left out, since a problem asked at attempt time is not yet in the memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from selftaught.tasks.base import Fix

INITIAL_VALUE = 1.0  # Q of a new memory entry
GRAM = 3  # similarity: Jaccard overlap of character n-grams of this length


@dataclass
class Entry:
    """One memory entry as the store keeps it."""

    id: int
    features: str
    failed: str
    feedback: str
    fixed: str
    value: float
    uses: int = 0
    grams: frozenset[str] = field(default=frozenset(), compare=False, repr=False)
    round: int = -1  # the round that wrote it (-1: not known)

    @classmethod
    def of(cls, row: dict[str, Any]) -> Entry:
        return cls(
            row["id"],
            row["features"],
            row["failed"],
            row["feedback"],
            row["fixed"],
            float(row["value"]),
            int(row["uses"]),
            grams(row["features"]),
            int(row["round"]),
        )

    def fix(self) -> Fix:
        return Fix(self.failed, self.feedback, self.fixed)


def grams(text: str, n: int = GRAM) -> frozenset[str]:
    """The set of ``text``'s character n-grams (the text itself when shorter)."""
    if len(text) <= n:
        return frozenset([text]) if text else frozenset()
    return frozenset(text[i : i + n] for i in range(len(text) - n + 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap |a & b| / |a | b| (0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def retrieve(entries: Sequence[Entry], features: str, k: int, how: str = "similarity") -> list[Entry]:
    """The ``k`` entries ranked first for a problem with ``features``: by similarity, or (``how="value"``) by
    similarity x value; ties by id; entries of no similarity (or no value) are left out."""
    if k <= 0 or not entries:
        return []
    mine = grams(features)
    ranked = []
    for e in entries:
        score = similarity(mine, e.grams or grams(e.features))
        if how == "value":
            score *= e.value
        if score > 0:
            ranked.append((-score, e.id, e))
    ranked.sort(key=lambda t: (t[0], t[1]))
    return [e for _, _, e in ranked[:k]]


def retrieve_next(entries: Sequence[Entry], r: int, features: str, k: int, how: str = "similarity") -> list[Entry]:
    """The entries round ``r + 1``'s ATTEMPT would show a new problem with ``features``, for training round ``r``'s
    examples of a problem with those features: ``entries`` (rounds up to ``r``, with their values as round ``r``
    left them) without round ``r``'s entries of that same prompt, the problem's own fixes."""
    return retrieve([e for e in entries if not (e.round == r and e.features == features)], features, k, how)


def updated_value(value: float, reward: float, alpha: float) -> float:
    """One step of Q <- Q + alpha (r - Q)."""
    return value + alpha * (reward - value)
