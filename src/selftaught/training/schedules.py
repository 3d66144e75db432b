"""Learning-rate schedules: each is a factor on the base learning rate at step ``t`` of ``T``.

Every schedule takes an optional linear warmup over the first ``warmup * T`` steps (``warmup`` is a fraction);
the warmup multiplies the schedule's own shape, so a schedule's decay is never delayed by the warmup.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from scipy.ndimage import median_filter


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
    """The base learning rate throughout."""

    name = "constant"

    def shape(self, z: float) -> float:
        return 1.0


class LinearDecay(Schedule):
    """Straight down from the base learning rate to 0 at the end of the round."""

    name = "linear"

    def shape(self, z: float) -> float:
        return 1.0 - z


class Cosine(Schedule):
    """Half a cosine wave from the base learning rate down to 0 at the end of the round."""

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


class Rex(Schedule):
    """REX: (1 - z) / (1/2 + (1 - z)/2), high for longer than linear decay, then down to 0 at the end."""

    name = "rex"

    def shape(self, z: float) -> float:
        left = 1.0 - z
        return left / (0.5 + 0.5 * left)


# Progress within this (relative) distance of a multiple of ``every`` counts as on it, so that z = 0.3 with
# every = 0.1 (0.3 / 0.1 = 2.9999999999999996 in floating point) is past the third drop, as intended.
_STEP_TOLERANCE = 1e-9


class StepDecay(Schedule):
    """Step decay: the learning rate is multiplied by ``gamma`` after every ``every`` of the round."""

    name = "step"

    def __init__(self, warmup: float = 0.0, gamma: float = 0.5, every: float = 0.25) -> None:
        super().__init__(warmup)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma={gamma}: the factor applied at each drop must be in (0, 1]")
        if not 0.0 < every <= 1.0:
            raise ValueError(f"every={every}: the interval between drops must be a fraction of the round in (0, 1]")
        self.gamma, self.every = gamma, every

    def shape(self, z: float) -> float:
        q = z / self.every
        nearest = round(q)
        drops = nearest if abs(q - nearest) <= _STEP_TOLERANCE * max(1.0, abs(q)) else math.floor(q)
        return self.gamma ** max(0, drops)


REFINE_FORMS = ("sgd", "adam")


def refine(norms: Sequence[float], form: str = "adam", smooth: float = 0.05) -> np.ndarray:
    """Per-step learning-rate weights refined from the gradient norms ``g_1..g_n`` logged during an earlier run.

    The norms are first median-smoothed over a window of ``max(1, round(smooth * n))`` steps (made odd; the ends
    repeat the nearest value), so a few outlying steps do not carve holes in the schedule.  Then, after Defazio,
    Cutkosky, Mehta and Mishchenko ("When, Why and How Much? Adaptive Learning Rate Scheduling by Refinement"):

    - ``form="sgd"`` (``norms`` are l2 norms): ``w_t = g_t^-2 * sum_{p > t} g_p^-2``;
    - ``form="adam"`` (``norms`` are l1 norms, for Adam-like optimisers): ``w_t = g_t^-1 * sum_{p > t} g_p^-1``.

    Returns ``w / max(w)``: values in [0, 1] whose last entry is 0 (an empty sum).  Constant norms give linear
    decay; norms that fall over the run give a warmup followed by a fast final decay.
    """
    if form not in REFINE_FORMS:
        raise ValueError(f"form={form!r}: expected 'sgd' (l2 norms) or 'adam' (l1 norms)")
    if not 0.0 <= smooth < 1.0:
        raise ValueError(f"smooth={smooth}: the smoothing window must be a fraction of the run in [0, 1)")
    try:
        g = np.array(norms, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"norms: expected a sequence of numbers ({e})") from None
    if g.ndim != 1:
        raise ValueError(f"norms: expected a flat sequence of numbers, got an array of shape {g.shape}")
    if g.size < 2:
        raise ValueError(f"norms: need at least 2 gradient norms to refine a schedule, got {g.size}")
    bad = np.flatnonzero(~np.isfinite(g) | (g <= 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"norms[{i}]={g[i]}: gradient norms must be finite and positive ({bad.size} are not)")

    window = max(1, round(smooth * g.size))
    window += 1 - window % 2  # odd, so the window is centred on its step
    if window > 1:
        g = median_filter(g, size=window, mode="nearest")
    # The weights do not depend on the norms' scale (it cancels in w / max(w)); dividing by the largest norm keeps
    # the powers below away from overflow for norms that are merely large or small.
    inverse = (g / g.max()) ** (-2.0 if form == "sgd" else -1.0)
    tail = np.zeros_like(inverse)  # tail[t] = sum of inverse[p] for p > t; the last one is an empty sum
    tail[:-1] = np.cumsum(inverse[:0:-1])[::-1]
    w = inverse * tail
    top = w.max()
    if not (np.isfinite(top) and top > 0):
        raise ValueError("norms: the gradient norms span too wide a range to refine a schedule from")
    return w / top


class Refined(Schedule):
    """Refined from an earlier run's gradient norms: warmup and decay follow how the gradients behaved."""

    name = "refined"

    def __init__(self, norms: Sequence[float], form: str = "adam", smooth: float = 0.05, warmup: float = 0.0) -> None:
        super().__init__(warmup)
        weights = refine(norms, form=form, smooth=smooth)
        weights.flags.writeable = False
        self.weights = weights
        self.form, self.smooth = form, smooth
        # The n weights sit at progress 0, 1/(n-1), ..., 1, so norms logged over a round of one length can
        # schedule a round of any other length.
        self._at = np.linspace(0.0, 1.0, weights.size)

    def shape(self, z: float) -> float:
        return float(np.interp(z, self._at, self.weights))


SCHEDULES: dict[str, type[Schedule]] = {
    s.name: s for s in (Constant, LinearDecay, Cosine, WSD, Rex, StepDecay, Refined)
}


class Cooldown(Schedule):
    """A round's schedule that a stopping rule can end early, WSD-style: until ``begin(s)`` it is ``base``; from
    step ``s`` on, the factor ``base`` had at step ``s - 1`` falls linearly towards 0 over ``share * s`` steps
    (at least one), after which ``end`` is reached and training stops. With ``share = 0`` it stops at ``s``."""

    name = "cooldown"

    def __init__(self, base: Schedule, share: float = 0.1) -> None:
        super().__init__(0.0)
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"share={share}: the cooldown must be a share of the steps taken in [0, 1]")
        self.base, self.share = base, share
        self.stop_at: int | None = None
        self.length = 0

    def begin(self, step: int) -> None:
        self.stop_at = step
        self.length = max(1, round(self.share * step)) if self.share > 0 else 0

    @property
    def end(self) -> int | None:
        """The step count at which training ends, once a stop has begun."""
        return None if self.stop_at is None else self.stop_at + self.length

    def factor(self, step: int, total: int) -> float:
        if self.stop_at is None or step < self.stop_at:
            return self.base.factor(step, total)
        if not self.length:
            return 0.0
        start = self.base.factor(max(self.stop_at - 1, 0), total)
        return start * max(0.0, 1.0 - (step - self.stop_at + 1) / (self.length + 1))

    def shape(self, z: float) -> float:
        return self.base.shape(z)


class Scaled(Schedule):
    """``base`` times a constant ``scale``: a round whose learning rate differs from the configured one
    (``train.round_lr``) keeps the shape of its schedule."""

    name = "scaled"

    def __init__(self, base: Schedule, scale: float) -> None:
        super().__init__(0.0)
        if not scale > 0.0:
            raise ValueError(f"scale={scale}: a learning-rate scale must be positive")
        self.base, self.scale = base, scale

    def shape(self, z: float) -> float:
        return self.scale * self.base.shape(z)

    def factor(self, step: int, total: int) -> float:
        return self.scale * self.base.factor(step, total)
