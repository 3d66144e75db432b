"""Control strategies (``[control] kind``): how a round's sampling settings are chosen. One file each; register
here."""

from __future__ import annotations

from selftaught.run.control.balance import BStarController, balance_score, query_balance
from selftaught.run.control.base import ControlStrategy, thresholded_verdict
from selftaught.run.control.bstar import BStar
from selftaught.run.control.fixed import Fixed

CONTROLS: dict[str, type[ControlStrategy]] = {"none": Fixed, "bstar": BStar}

__all__ = [
    "CONTROLS",
    "BStar",
    "BStarController",
    "ControlStrategy",
    "Fixed",
    "balance_score",
    "query_balance",
    "thresholded_verdict",
]
