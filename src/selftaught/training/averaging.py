"""An exponential moving average of a model's weights, kept while it trains.

At a high learning rate the weights oscillate around the valley they are in: a greedy reading of the held-out slice
jumps between 0.24 and 0.80 from one measurement to the next. The average of the recent weights sits nearer the
valley's floor, as annealing the learning rate would take them (Polyak & Juditsky 1992; Kaddour 2022 and Sanyal et al.
2023 on averaging the latest checkpoints in place of a decay). A student training with an average answers with it
mid-training (the stopping rule and the teacher read it), and training that is stopped early ends with it: the
average is what a stop keeps, so the level the rule reads is the level kept. Training that runs its whole budget ends
with its own weights, which the schedule's decay has annealed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


class WeightAverage:
    """The average of ``model``'s trainable parameters, updated after each optimiser step with weight
    ``1 - decay`` on the new weights. Early updates use ``min(decay, (1 + n) / (10 + n))`` after n updates, so
    the starting weights do not linger."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay={decay}: must be in (0, 1)")
        self.decay = decay
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.average = [p.detach().clone() for p in self.params]
        self.updates = 0

    def update(self) -> None:
        self.updates += 1
        weight = 1.0 - min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            for a, p in zip(self.average, self.params):
                a.lerp_(p.detach(), weight)

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """The model holds the average inside the block, its own weights again after it."""
        own = [p.detach().clone() for p in self.params]
        self.apply()
        try:
            yield
        finally:
            with torch.no_grad():
                for p, o in zip(self.params, own):
                    p.copy_(o)

    def apply(self) -> None:
        """The model takes the average for good."""
        with torch.no_grad():
            for p, a in zip(self.params, self.average):
                p.copy_(a)
