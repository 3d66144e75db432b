"""The phases of a round, as objects: each reads its inputs from the store and writes its outputs and its done mark
in one transaction. ``PHASES`` (the store's names) and ``PHASE_STEPS`` are in the same order."""

from __future__ import annotations

from selftaught.run.context import Context
from selftaught.run.phases.attempt import Attempt
from selftaught.run.phases.base import Phase
from selftaught.run.phases.curate import Curate
from selftaught.run.phases.decide import Decide
from selftaught.run.phases.evaluate import Evaluate
from selftaught.run.phases.propose import Propose
from selftaught.run.phases.train import Train
from selftaught.run.phases.verify import Verify

PHASE_STEPS: dict[str, Phase] = {
    p.name: p for p in (Propose(), Attempt(), Verify(), Curate(), Train(), Evaluate(), Decide())
}

__all__ = ["PHASE_STEPS", "Context", "Phase"]
