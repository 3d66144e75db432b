"""Learning-rate schedules: each is a factor on the base learning rate at step ``t`` of ``T``.

Every schedule takes an optional linear warmup over the first ``warmup * T`` steps (``warmup`` is a fraction);
the warmup multiplies the schedule's own shape, so a schedule's decay is never delayed by the warmup.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod


class Schedule(ABC):
    name: str = ""

    def __init__(self, warmup: float = 0.0) -> None:
        if not 0.0 <= warmup < 1.0:
            raise ValueError(f"warmup={warmup}: must be a fraction of the round in [0, 1)")
        self.warmup = warmup

    def factor(self, step: int, total: int) -> float:
        """The multiplier of the base learning rate at ``step`` (0-based) of ``total`` steps."""
        if total <= 0:
            raise ValueError(f"total={total}: a schedule needs at least one step")
        w = self.warmup * total
        ramp = min(1.0, (step + 1) / w) if w >= 1 else 1.0
        return ramp * self.shape(min(step, total) / total)

    @abstractmethod
    def shape(self, z: float) -> float:
        """The schedule's factor at progress ``z = t / T`` in [0, 1]."""


class Constant(Schedule):
    name = "constant"

    def shape(self, z: float) -> float:
        return 1.0


class LinearDecay(Schedule):
    name = "linear"

    def shape(self, z: float) -> float:
        return 1.0 - z


class Cosine(Schedule):
    name = "cosine"

    def shape(self, z: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * z))


class WSD(Schedule):
    """Warmup-stable-decay: 1 until the last ``decay * T`` steps, then down to ``floor`` (linear or 1 - sqrt)."""

    name = "wsd"

    def __init__(self, warmup: float = 0.0, decay: float = 0.2, floor: float = 0.0, form: str = "linear") -> None:
        super().__init__(warmup)
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay={decay}: the decay phase must be a fraction of the round in (0, 1]")
        if warmup + decay > 1.0:
            raise ValueError(f"warmup={warmup} + decay={decay} exceed the whole round")
        if not 0.0 <= floor < 1.0:
            raise ValueError(f"floor={floor}: must be in [0, 1)")
        if form not in ("linear", "sqrt"):
            raise ValueError(f"form={form!r}: expected 'linear' or 'sqrt'")
        self.decay, self.floor, self.form = decay, floor, form

    def shape(self, z: float) -> float:
        start = 1.0 - self.decay
        if z <= start:
            return 1.0
        u = min(1.0, (z - start) / self.decay)  # progress through the decay phase
        down = u if self.form == "linear" else math.sqrt(u)
        return self.floor + (1.0 - self.floor) * (1.0 - down)


SCHEDULES: dict[str, type[Schedule]] = {s.name: s for s in (Constant, LinearDecay, Cosine, WSD)}
