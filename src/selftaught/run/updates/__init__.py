"""Update strategies (``train.method``): how a round's model learns. One file each; register here."""

from __future__ import annotations

from selftaught.run.updates.base import UpdateStrategy
from selftaught.run.updates.grpo import Grpo
from selftaught.run.updates.sft import Sft

UPDATES: dict[str, type[UpdateStrategy]] = {"sft": Sft, "grpo": Grpo}

__all__ = ["UPDATES", "Grpo", "Sft", "UpdateStrategy"]
