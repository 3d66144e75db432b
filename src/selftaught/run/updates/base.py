"""How a round's model learns: the base of the update strategies (``train.method``).

A strategy does TRAIN's whole work for a round: it trains the students, writes the round's checkpoint under its
final name (``finish_checkpoint``) and records everything in TRAIN's transaction (``ctx.phase(r, "TRAIN")``). A
new method is one file with a subclass and one line in ``UPDATES`` (``run/updates/__init__.py``), or
``train.method = "module:Class"``.
"""

from __future__ import annotations

import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from selftaught.config import Experiment
from selftaught.run.context import Context, writing


class UpdateStrategy(ABC):
    """How a round learns. Subclasses set ``name`` and implement ``train``."""

    name = ""

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        """Refuse, with one ``SelftaughtError`` line, settings or parts (``run.build.Parts``) this method cannot
        work with; called before the run begins."""
        return None

    def needs_attempts(self, exp: Experiment) -> bool:
        """Whether a self-labelled round needs ATTEMPT's answers and VERIFY's scores; without them both phases
        record nothing, and DECIDE does not stop the run for too few answers accepted."""
        return True

    @abstractmethod
    def train(self, ctx: Context, r: int) -> None:
        """Round ``r``'s TRAIN: learn, write the checkpoint, record it all in TRAIN's transaction."""


def checkpoint_dirs(ctx: Context, r: int) -> tuple[Path, Path]:
    """Round ``r``'s checkpoint directory and the temporary one it is written under (emptied)."""
    final = ctx.run_dir / "checkpoints" / f"round-{r:03d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    return final, tmp


def finish_checkpoint(tmp: Path, final: Path) -> None:
    """The checkpoint complete under its final name (before TRAIN is marked done)."""
    with writing(final, cleanup=tmp):
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)


class StepRelay:
    """Forwards the trainer's per-step callback to the loop's callbacks, adding the round."""

    def __init__(self, callbacks: Sequence[Any], r: int) -> None:
        self.callbacks, self.r = callbacks, r

    def __call__(self, step: int, total: int, loss: float) -> None:
        for cb in self.callbacks:
            cb.on_train_step(self.r, step, total, loss)
