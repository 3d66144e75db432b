"""Learning curves: where is held-out accuracy heading, and is it worth training on?

Inside a round the loop measures held-out accuracy every few steps. These tools extrapolate that noisy, rising curve
to the end of the round's budget:

- parametric curve models, each fitted by bounded least squares: saturating (``Pow3``, ``Exp3``, ``LogPower``),
  S-shaped, which can sit flat and then rise (``Logistic``, ``Janoschek``, ``Weibull``, ``MMF``), and ``Template``,
  which follows the shape of an earlier round's curve;
- ``CurveEnsemble``: the models weighted by inverse residual variance, with a residual-bootstrap interval;
- ``StopRule``: stop once even the optimistic end of that interval gains less than ``epsilon``;
- ``prior_curves``: a run's earlier rounds' curves on this round's step axis, for the template; ``run_prior``: the
  other runs' same round first, then the run's own latest rounds;
- ``AnnealingLaw``: the training loss as a function of the learning-rate schedule (forward area and annealing
  area, after Tissue et al., "Scaling Law with Learning Rate Annealing"), to predict the loss under another
  schedule.

Steps are training steps; the models are defined for t >= 1, and a step 0 is evaluated as step 1. Time is rescaled
by the largest fitted step internally, so curves over 1..10 000 steps are as well conditioned as over 1..10.
"""

from selftaught.curves.annealing import AnnealingLaw
from selftaught.curves.ensemble import CurveEnsemble
from selftaught.curves.models import CurveModel, Exp3, LogPower, Pow3
from selftaught.curves.prior import prior_curves, run_prior
from selftaught.curves.registry import MODELS, SATURATING
from selftaught.curves.sigmoid import MMF, Janoschek, Logistic, Weibull
from selftaught.curves.stopper import StopDecision, StopRule
from selftaught.curves.template import Template

__all__ = [
    "MMF",
    "MODELS",
    "SATURATING",
    "AnnealingLaw",
    "CurveEnsemble",
    "CurveModel",
    "Exp3",
    "Janoschek",
    "LogPower",
    "Logistic",
    "Pow3",
    "StopDecision",
    "StopRule",
    "Template",
    "Weibull",
    "prior_curves",
    "run_prior",
]
