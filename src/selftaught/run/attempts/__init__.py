"""Attempt strategies (``loop.attempts``): how a round's answers are made. One file each; register here."""

from __future__ import annotations

from selftaught.run.attempts.base import Attempted, AttemptStrategy
from selftaught.run.attempts.direct import Direct
from selftaught.run.attempts.refine import Refine
from selftaught.run.attempts.split import Split

ATTEMPTS: dict[str, type[AttemptStrategy]] = {"direct": Direct, "split": Split, "refine": Refine}

__all__ = ["ATTEMPTS", "AttemptStrategy", "Attempted", "Direct", "Refine", "Split"]
