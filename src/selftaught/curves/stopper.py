"""The stopping rule: stop a round's training once the predicted gain at its budget is too small."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from selftaught.curves.ensemble import CurveEnsemble
from selftaught.curves.fitting import as_data
from selftaught.curves.models import CurveModel


@dataclass(frozen=True)
class StopDecision:
    step: int  # last measured step
    stop: bool
    reason: str  # "target reached", "too early", "nothing learned yet", "still rising", "still gaining",
    # or "predicted gain below epsilon"
    current: float  # the value at `step` (the ensemble's fitted value there once fitted, else the last value)
    mean: float | None  # predicted value at the budget's end (None when not fitted)
    low: float | None
    high: float | None


class StopRule:
    """Stop training when the target is reached, or when even the optimistic end of the predicted interval at the
    budget gains less than ``epsilon`` over the current value. Predicts only once ``min_points`` points and
    ``min_fraction`` of the budget have been seen. Values are accuracies in [0, 1].

    A curve that is still rising is never stopped on a prediction: when the fitted curve gained ``epsilon`` or more
    over the last ``min_points`` measurements, the round goes on ("still rising"). A curve that has only begun to
    rise (an S-shaped start) fits as one about to level off, and the interval is too sure of it. Nor is a curve that
    has learned nothing yet (every measurement under ``min_accuracy``, typically all zero before learning begins):
    no curve model can tell a plateau before the rise from the end of training, so it says "nothing learned yet"."""

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
        models: Sequence[str | type[CurveModel]] = ("pow3", "exp3", "log-power"),
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
        self.target = target
        self.epsilon = epsilon
        self.confidence = confidence
        self.min_points = min_points
        self.min_fraction = min_fraction
        self.bootstrap = bootstrap
        self.seed = seed
        self.min_accuracy = min_accuracy
        self.models = tuple(models)
        CurveEnsemble(self.models)  # checks the names

    def decide(self, steps: Sequence[int], values: Sequence[float], budget: int) -> StopDecision:
        t, y = as_data(steps, values)
        if budget < 1:
            raise ValueError(f"budget={budget}: must be >= 1")
        step, last = int(t[-1]), float(y[-1])
        if self.target is not None and last >= self.target:
            return StopDecision(step, True, "target reached", last, None, None, None)
        if t.size < self.min_points or t[-1] < self.min_fraction * budget:
            return StopDecision(step, False, "too early", last, None, None, None)
        if float(y.max()) < self.min_accuracy:  # e.g. all zero: learning has not begun
            return StopDecision(step, False, "nothing learned yet", last, None, None, None)
        ens = CurveEnsemble(self.models, bootstrap=self.bootstrap, confidence=self.confidence, seed=self.seed)
        ens.fit(t, y)
        fitted = ens.predict_many([t[-self.min_points], t[-1]])[0]
        current = float(fitted[1])
        mean, low, high = ens.predict(budget)
        if current - float(fitted[0]) >= self.epsilon:
            return StopDecision(step, False, "still rising", current, mean, low, high)
        if high - current < self.epsilon:
            return StopDecision(step, True, "predicted gain below epsilon", current, mean, low, high)
        return StopDecision(step, False, "still gaining", current, mean, low, high)
