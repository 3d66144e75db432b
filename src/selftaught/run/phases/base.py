"""The base of a round's phases."""

from __future__ import annotations

from abc import ABC, abstractmethod

from selftaught.run.context import Context


class Phase(ABC):
    """One step of a round: reads its inputs from the store, writes its outputs and its done mark in one
    transaction (``ctx.phase``)."""

    name = ""

    @abstractmethod
    def run(self, ctx: Context, r: int) -> None:
        """Do round ``r``'s work of this phase and record it."""
