"""Learning curves: where is held-out accuracy heading, and is it worth training on?

Inside a round the loop measures held-out accuracy every few steps. These tools extrapolate that noisy, rising,
saturating curve to the end of the round's budget:

- three parametric curve models (``Pow3``, ``Exp3``, ``LogPower``), each fitted by bounded least squares;
- ``CurveEnsemble``: the models weighted by inverse residual variance, with a residual-bootstrap interval;
- ``StopRule``: stop once even the optimistic end of that interval gains less than ``epsilon``;
- ``AnnealingLaw``: the training loss as a function of the learning-rate schedule (forward area and annealing
  area, after Tissue et al., "Scaling Law with Learning Rate Annealing"), to predict the loss under another
  schedule.

Steps are training steps; the models are defined for t >= 1, and a step 0 is evaluated as step 1. Time is rescaled
by the largest fitted step internally, so curves over 1..10 000 steps are as well conditioned as over 1..10.
"""

from selftaught.curves.annealing import AnnealingLaw
from selftaught.curves.ensemble import CurveEnsemble
from selftaught.curves.models import MODELS, CurveModel, Exp3, LogPower, Pow3
from selftaught.curves.stopper import StopDecision, StopRule

__all__ = [
    "MODELS",
    "AnnealingLaw",
    "CurveEnsemble",
    "CurveModel",
    "Exp3",
    "LogPower",
    "Pow3",
    "StopDecision",
    "StopRule",
]
