"""The phases of a round, as objects: each reads its inputs from the store and writes its outputs and its done mark
in one transaction. ``PHASES`` (the store's names) and ``PHASE_STEPS`` are in the same order."""

from __future__ import annotations

from .attempt import Attempt
from .common import Context, Phase
from .curate import Curate
from .decide import Decide
from .evaluate import Evaluate
from .propose import Propose
from .train import Train
from .verify import Verify

PHASE_STEPS: dict[str, Phase] = {
    p.name: p for p in (Propose(), Attempt(), Verify(), Curate(), Train(), Evaluate(), Decide())
}

__all__ = ["PHASE_STEPS", "Context", "Phase"]
