"""Verifiers decide which self-produced answers become training labels; ``AllOf`` composes them."""

from __future__ import annotations

from .base import AllOf, RuleFilter, Verifier
from .length import LengthFilter
from .oracle import OracleVerifier
from .output_vote import OutputVote
from .property import PropertyVerifier
from .range import RangeFilter
from .tests import TestsVerifier
from .vote import VoteVerifier

BUILTIN_VERIFIERS: dict[str, type[Verifier]] = {
    "oracle": OracleVerifier,
    "vote": VoteVerifier,
    "length": LengthFilter,
    "range": RangeFilter,
    "tests": TestsVerifier,
    "property": PropertyVerifier,
    "output-vote": OutputVote,
}

__all__ = [
    "BUILTIN_VERIFIERS",
    "AllOf",
    "LengthFilter",
    "OracleVerifier",
    "OutputVote",
    "RangeFilter",
    "RuleFilter",
    "Verifier",
    "VoteVerifier",
]
