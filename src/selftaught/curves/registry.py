"""The curve models by name (``stop.curves``, ``CurveEnsemble(models=...)``)."""

from __future__ import annotations

from selftaught.curves.models import CurveModel, Exp3, LogPower, Pow3
from selftaught.curves.sigmoid import MMF, Janoschek, Logistic, Weibull
from selftaught.curves.template import Template

MODELS: dict[str, type[CurveModel]] = {
    m.name: m for m in (Pow3, Exp3, LogPower, Logistic, Janoschek, Weibull, MMF, Template)
}
SATURATING = ("pow3", "exp3", "log-power")  # the ensemble before the S-shaped models
