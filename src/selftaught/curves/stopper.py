"""The stopping rule: stop a round's training once the predicted gain at its budget is too small."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selftaught.curves.ensemble import CurveEnsemble
from selftaught.curves.fitting import as_data, as_prior
from selftaught.curves.models import CurveModel
from selftaught.curves.registry import SATURATING


@dataclass(frozen=True)
class StopDecision:
    step: int  # last measured step
    stop: bool
    reason: str  # "target reached", "too early", "nothing learned yet", "still rising", "rise predicted",
    # "still gaining", "predicted gain below epsilon", or (``gain`` off) "below target"
    current: float  # the value at `step` (the ensemble's fitted value there once fitted, else the last value)
    mean: float | None  # predicted value at the budget's end (None when not fitted)
    low: float | None
    high: float | None


class StopRule:
    """Stop training when the target is reached, or when even the optimistic end of the predicted gain's interval
    from now to the budget is less than ``epsilon``. Predicts only once ``min_points`` points and
    ``min_fraction`` of the budget have been seen. Values are accuracies in [0, 1].

    The gain is each bootstrap replicate's own: its curve at the budget minus its curve now, both clipped to [0, 1];
    the rule stops when the top of the ``confidence`` interval of that gain is under ``epsilon``. (Members that agree
    nothing is left to gain but disagree on the level, or overshoot 1.0, agree on a gain near 0.) When no member fits
    (too few points), the constant that stands in can express no gain, and the top of the level's interval at the
    budget over the value now is the gain instead.

    A curve that is still rising is never stopped on a prediction: when the fitted curve gained ``epsilon`` or more
    over the last ``min_points`` measurements, the round goes on ("still rising"). Nor is a curve that has learned
    nothing yet (every measurement under ``min_accuracy``, typically all zero before learning begins, or the fitted
    curve's value now under it, a noisy measurement or two over it notwithstanding): no curve model can tell a
    plateau before the rise from the end of training, so it says "nothing learned yet". Nor is a curve stopped while
    a member that can see a rise coming, with ``rise_weight`` of the ensemble's weight or more, predicts a gain of
    ``epsilon`` or more by the budget's end over its own fitted value now ("rise predicted"): an S-shaped member that
    sees a rise beginning, or the template of an earlier round that rose later on (``prior``: earlier rounds' curves,
    each a list of (step, value) pairs on this round's step axis), outvotes an interval that the saturating members
    make narrow. Saturating members alone never say "rise predicted".

    With ``gain`` False the rule stops at the target only, and fits nothing ("below target" otherwise)."""

    def __init__(
        self,
        target: float | None = None,
        epsilon: float = 0.01,
        confidence: float = 0.9,
        min_points: int = 4,
        min_fraction: float = 0.25,
        bootstrap: int = 100,
        seed: int = 0,
        min_accuracy: float = 0.05,
        models: Sequence[str | type[CurveModel]] = SATURATING,
        prior: Sequence[Sequence[tuple[float, float]]] | None = None,
        rise_weight: float = 0.25,
        prior_share: float | None = None,
        gain: bool = True,
    ) -> None:
        if target is not None and not 0.0 <= target <= 1.0:
            raise ValueError(f"target={target}: must be in [0, 1]")
        if not epsilon >= 0.0:
            raise ValueError(f"epsilon={epsilon}: must be >= 0")
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"confidence={confidence}: must be in (0, 1)")
        if min_points < 2:
            raise ValueError(f"min_points={min_points}: must be >= 2")
        if not 0.0 <= min_fraction <= 1.0:
            raise ValueError(f"min_fraction={min_fraction}: must be in [0, 1]")
        if not 0.0 <= min_accuracy <= 1.0:
            raise ValueError(f"min_accuracy={min_accuracy}: must be in [0, 1]")
        if bootstrap < 0:
            raise ValueError(f"bootstrap={bootstrap}: must be >= 0")
        if not 0.0 < rise_weight <= 1.0:
            raise ValueError(f"rise_weight={rise_weight}: must be in (0, 1]")
        if prior is not None:
            as_prior(prior)  # checks it
        self.target = target
        self.epsilon = epsilon
        self.confidence = confidence
        self.min_points = min_points
        self.min_fraction = min_fraction
        self.bootstrap = bootstrap
        self.seed = seed
        self.min_accuracy = min_accuracy
        self.models = tuple(models)
        self.prior = prior
        self.rise_weight = rise_weight
        self.prior_share = prior_share
        self.gain = gain
        CurveEnsemble(self.models, prior_share=prior_share)  # checks the names and the share

    def decide(self, steps: Sequence[int], values: Sequence[float], budget: int) -> StopDecision:
        t, y = as_data(steps, values)
        if budget < 1:
            raise ValueError(f"budget={budget}: must be >= 1")
        step, last = int(t[-1]), float(y[-1])
        if self.target is not None and last >= self.target:
            return StopDecision(step, True, "target reached", last, None, None, None)
        if not self.gain:
            return StopDecision(step, False, "below target", last, None, None, None)
        if t.size < self.min_points or t[-1] < self.min_fraction * budget:
            return StopDecision(step, False, "too early", last, None, None, None)
        if float(y.max()) < self.min_accuracy:  # e.g. all zero: learning has not begun
            return StopDecision(step, False, "nothing learned yet", last, None, None, None)
        ens = CurveEnsemble(self.models, self.bootstrap, self.confidence, self.seed, prior_share=self.prior_share)
        ens.fit(t, y, prior=self.prior)
        fitted = ens.predict_many([t[-self.min_points], t[-1]])[0]
        current = float(fitted[1])
        mean, low, high = ens.predict(budget)
        if current - float(fitted[0]) >= self.epsilon:
            return StopDecision(step, False, "still rising", current, mean, low, high)
        if current < self.min_accuracy:  # a measurement or two over it, but the fitted curve is not: noise
            return StopDecision(step, False, "nothing learned yet", current, mean, low, high)
        if self._rise_predicted(ens, t[-1], budget):
            return StopDecision(step, False, "rise predicted", current, mean, low, high)
        # The constant fallback (no member fitted) has no gain to give: there the level's interval stands in.
        gain_top = high - current if ens.fallback else ens.predict_gain(t[-1], budget)[2]
        if gain_top < self.epsilon:
            return StopDecision(step, True, "predicted gain below epsilon", current, mean, low, high)
        return StopDecision(step, False, "still gaining", current, mean, low, high)

    def _rise_predicted(self, ens: CurveEnsemble, last: float, budget: int) -> bool:
        """Does a member that can see a rise coming (``delayed_rise``), with ``rise_weight`` or more, gain
        ``epsilon`` from ``last`` to ``budget``?"""
        for member, weight, (now, end) in ens.member_predictions([last, budget]):
            gain = float(np.clip(end, 0.0, 1.0) - np.clip(now, 0.0, 1.0))
            if member.delayed_rise and weight >= self.rise_weight and gain >= self.epsilon:
                return True
        return False
