"""Verifiers decide which self-produced answers become training labels; ``AllOf`` composes them."""

from __future__ import annotations

from selftaught.verifiers.base import AllOf, RuleFilter, Verifier
from selftaught.verifiers.length import LengthFilter
from selftaught.verifiers.oracle import OracleVerifier
from selftaught.verifiers.output_vote import OutputVote
from selftaught.verifiers.property import PropertyVerifier
from selftaught.verifiers.range import RangeFilter
from selftaught.verifiers.tests import TestsVerifier
from selftaught.verifiers.vote import VoteVerifier

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
