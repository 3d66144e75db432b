"""Behaviour of the built-in verifiers and their composition: decisions, scores and evidence."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selftaught.errors import SelftaughtError
from selftaught.tasks import Addition, Copy, ReversedAddition, Task
from selftaught.types import Problem, Verdict
from selftaught.verifiers import (
    BUILTIN_VERIFIERS,
    AllOf,
    LengthFilter,
    OracleVerifier,
    RangeFilter,
    Verifier,
    VoteVerifier,
)
from selftaught.verifiers.base import Score

TASK = ReversedAddition()
# 128 + 450 = 578: prompt and answer written least-significant digit first.
PROBLEM = Problem(task=TASK.name, difficulty=3, prompt="821+054=", target="875", seed=0)
UNLABELLED = Problem(task=TASK.name, difficulty=3, prompt="821+054=", target=None, seed=0)


class NoOracle(Task):
    name = "no-oracle"
    description = "a task without an oracle: N:x=?"

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        self.validate_difficulty(difficulty)
        return Problem(self.name, difficulty, "N:x=", None, 0)

    def answer(self, problem: Problem) -> str | None:
        return None

    def plausible(self, problem: Problem, answer: str) -> bool:
        return True

    def max_answer_len(self, difficulty: int) -> int:
        return difficulty


class Fixed(Verifier):
    """A stub part for AllOf: returns a set answer and score."""

    def __init__(self, name: str, answer: str | None, score: float = 1.0) -> None:
        self.name = name
        self.answer = answer
        self.level = score

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        return [Score(self.level, a == self.answer) for a in attempts]

    def verdict(self, problem: Problem, attempts: list[str], scores) -> Verdict:
        return Verdict(self.answer, self.level, {"said": self.answer})


def test_registry() -> None:
    expected = {"oracle": OracleVerifier, "vote": VoteVerifier, "length": LengthFilter, "range": RangeFilter}
    assert expected.items() <= BUILTIN_VERIFIERS.items()
    assert list(BUILTIN_VERIFIERS) == ["oracle", "vote", "length", "range", "tests", "property", "output-vote"]
    assert all(cls.name == name for name, cls in BUILTIN_VERIFIERS.items())  # a config's name is the class's


# --- vote ---------------------------------------------------------------------------------------------------


def test_vote_three_of_five_passes_threshold_point_six() -> None:
    verdict = VoteVerifier(0.6).judge(PROBLEM, ["875", "875", "875", "874", "1"])
    assert verdict.answer == "875"
    assert verdict.score == pytest.approx(0.6)
    assert verdict.evidence == {
        "n": 5,
        "votes": {"875": 3, "874": 1, "1": 1},
        "top": "875",
        "share": 0.6,
        "threshold": 0.6,
    }


def test_vote_two_of_five_fails_threshold_point_six_but_reports_the_top_answer() -> None:
    verdict = VoteVerifier(0.6).judge(PROBLEM, ["875", "875", "874", "1", "2"])
    assert verdict.answer is None and not verdict.accepted
    assert verdict.score == pytest.approx(0.4)
    assert verdict.evidence["top"] == "875" and verdict.evidence["share"] == pytest.approx(0.4)


def test_vote_share_exactly_at_threshold_is_accepted_and_just_below_is_not() -> None:
    attempts = ["7", "7", "8", "9"]
    assert VoteVerifier(0.5).judge(PROBLEM, attempts).answer == "7"
    assert VoteVerifier(0.51).judge(PROBLEM, attempts).answer is None
    assert VoteVerifier(1.0).judge(PROBLEM, ["7", "7"]).answer == "7"
    assert VoteVerifier(1.0).judge(PROBLEM, ["7", "7", "8"]).answer is None


def test_vote_ties_go_to_the_answer_seen_first() -> None:
    assert VoteVerifier(0.5).judge(PROBLEM, ["b", "a", "a", "b"]).answer == "b"
    assert VoteVerifier(0.5).judge(PROBLEM, ["a", "b", "b", "a"]).answer == "a"
    verdict = VoteVerifier(0.3).judge(PROBLEM, ["x", "y", "z"])
    assert verdict.evidence["top"] == "x" and verdict.answer == "x"


def test_vote_empty_answers_count_as_votes_but_are_never_accepted() -> None:
    verdict = VoteVerifier(0.5).judge(PROBLEM, ["", "", "", "875", "875"])
    assert verdict.answer is None
    assert verdict.evidence["top"] == "" and verdict.evidence["votes"] == {"": 3, "875": 2}
    assert verdict.score == pytest.approx(0.6)
    # The empty votes dilute the share of a real answer.
    verdict = VoteVerifier(0.6).judge(PROBLEM, ["875", "875", "", "", "1"])
    assert verdict.answer is None and verdict.evidence["top"] == "875"


def test_vote_with_no_attempts_rejects() -> None:
    verdict = VoteVerifier().judge(PROBLEM, [])
    assert verdict == Verdict(None, 0.0, {"n": 0, "votes": {}, "top": None, "share": 0.0, "threshold": 0.5})


def test_vote_evidence_keeps_at_most_ten_answers_and_is_json() -> None:
    attempts = ["a"] * 12 + [str(i) for i in range(20)]
    verdict = VoteVerifier(0.3).judge(PROBLEM, attempts)
    assert verdict.answer == "a" and verdict.evidence["n"] == 32
    assert list(verdict.evidence["votes"]) == ["a"] + [str(i) for i in range(9)]
    assert json.loads(json.dumps(verdict.evidence)) == verdict.evidence


def test_vote_pools_an_ensemble_like_samples() -> None:
    # Three models with two samples each, pooled by the caller: the rule is the same as for six samples.
    models = [["875", "875"], ["875", "874"], ["1", "875"]]
    pooled = [a for answers in models for a in answers]
    assert VoteVerifier(0.6).judge(PROBLEM, pooled).answer == "875"


@pytest.mark.parametrize("threshold", [0, 0.0, -0.1, 1.0001, 2, float("nan"), True, "0.5", None])
def test_vote_threshold_outside_zero_one_is_rejected(threshold: object) -> None:
    with pytest.raises(ValueError, match="threshold"):
        VoteVerifier(threshold)  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(["", "1", "12", "875", "8751"]), min_size=1, max_size=30))
def test_vote_score_is_top_share_and_acceptance_follows_threshold(attempts: list[str]) -> None:
    verdict = VoteVerifier(0.5).judge(PROBLEM, attempts)
    top = verdict.evidence["top"]
    assert verdict.score == attempts.count(top) / len(attempts)
    assert attempts.count(top) == max(attempts.count(a) for a in attempts)
    assert verdict.accepted == (verdict.score >= 0.5 and top != "")


# --- length -------------------------------------------------------------------------------------------------


def test_length_filter_takes_the_most_common_plausible_answer() -> None:
    verdict = LengthFilter(TASK).judge(PROBLEM, ["87512", "87512", "87512", "875", "1234", "875", "x75"])
    assert verdict.answer == "875"
    assert verdict.evidence == {"n": 7, "plausible": 3}
    assert verdict.score == pytest.approx(3 / 7)


def test_length_filter_ties_go_to_the_answer_seen_first() -> None:
    assert LengthFilter(TASK).judge(PROBLEM, ["99", "1234", "875", "875", "1234"]).answer == "1234"


def test_length_filter_rejects_when_nothing_is_plausible() -> None:
    verdict = LengthFilter(TASK).judge(PROBLEM, ["8", "87512", "", "abc"])
    assert verdict == Verdict(None, 0.0, {"n": 4, "plausible": 0})
    assert LengthFilter(TASK).judge(PROBLEM, []) == Verdict(None, 0.0, {"n": 0, "plausible": 0})


def test_length_filter_needs_a_task_with_plausible() -> None:
    with pytest.raises(TypeError, match="plausible"):
        LengthFilter(object())  # type: ignore[arg-type]


# --- oracle -------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------ range filter
# 99 + 99 = 198 (reversed: 99+99=891); 5 + 7 = 12.
CARRY = Problem(task=TASK.name, difficulty=2, prompt="99+99=", target=None, seed=0)


def test_range_filter_rejects_a_dropped_final_carry_and_a_long_sum_not_starting_with_one() -> None:
    f = RangeFilter(TASK)
    # "89" (98) is smaller than the operand 99: the final carry was dropped; "892" is 298 >= 2 * 10^2.
    v = f.judge(CARRY, ["89", "89", "892", "891"])
    assert v.answer == "891"
    assert v.score == 0.25
    assert v.evidence == {"n": 4, "in_range": 1}
    assert not f.judge(CARRY, ["89", "0991", "8x1", ""]).accepted


def test_range_filter_cannot_tell_a_wrong_sum_of_the_right_size() -> None:
    # 197 is wrong but lies between 99 and 200: the rule compares sizes and computes nothing.
    assert RangeFilter(TASK).judge(CARRY, ["791"]).answer == "791"


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_every_true_sum_is_in_range_and_a_dropped_carry_never_is(digits: int, seed: int) -> None:
    rng = random.Random(seed)
    for task in (TASK, Addition()):
        p = task.sample(rng, digits)
        assert task.in_range(p, p.target)
        lsd_first = task is TASK
        top_carry = len(p.target) == digits + 1
        if top_carry:  # drop the leading 1 of the sum
            assert not task.in_range(p, p.target[:-1] if lsd_first else p.target[1:])


def test_forward_addition_range_reads_most_significant_digit_first() -> None:
    task = Addition()
    p = Problem(task=task.name, difficulty=2, prompt="A:99+99=", target=None, seed=0)
    assert task.in_range(p, "198") and not task.in_range(p, "98") and not task.in_range(p, "298")


def test_range_filter_needs_a_task_with_a_range_rule() -> None:
    assert Copy().in_range(Problem("copy", 1, "C:a=", None, 0), "a") is None
    with pytest.raises(ValueError, match="no range rule"):
        RangeFilter(Copy())


def test_oracle_accepts_the_correct_attempt_and_scores_the_share_correct() -> None:
    verdict = OracleVerifier(TASK).judge(PROBLEM, ["874", "875", "874", "874", "875"])
    assert verdict.answer == "875"
    assert verdict.score == pytest.approx(0.4)
    assert verdict.evidence == {"n": 5, "correct": 2}


def test_oracle_checks_the_prompt_not_the_target() -> None:
    assert OracleVerifier(TASK).judge(UNLABELLED, ["875"]).answer == "875"
    wrong_target = Problem(TASK.name, 3, "821+054=", "999", 0)
    assert OracleVerifier(TASK).judge(wrong_target, ["999"]).answer is None


def test_oracle_rejects_when_no_attempt_is_correct() -> None:
    verdict = OracleVerifier(TASK).judge(PROBLEM, ["874", "876"])
    assert verdict == Verdict(None, 0.0, {"n": 2, "correct": 0})


def test_oracle_labelled_problem_without_attempts_accepts_the_target() -> None:
    assert OracleVerifier(TASK).judge(PROBLEM, []) == Verdict("875", 1.0, {"n": 0, "labelled": True})
    # With no target the oracle's own answer labels the problem; with neither there is no label.
    assert OracleVerifier(TASK).judge(UNLABELLED, []) == Verdict("875", 1.0, {"n": 0, "labelled": True})
    assert OracleVerifier(NoOracle()).judge(UNLABELLED, []) == Verdict(None, 0.0, {"n": 0, "correct": 0})


def test_oracle_on_a_task_without_oracle_is_a_user_error() -> None:
    task = NoOracle()
    with pytest.raises(SelftaughtError, match="no-oracle"):
        OracleVerifier(task).judge(task.sample(random.Random(0), 1), ["x"])


# --- AllOf --------------------------------------------------------------------------------------------------


def vote_and_length(threshold: float) -> AllOf:
    return AllOf([VoteVerifier(threshold), LengthFilter(TASK)])


def test_all_of_accepts_a_plausible_majority() -> None:
    verdict = vote_and_length(0.5).judge(PROBLEM, ["875", "875", "875", "87512", "1"])
    assert verdict.answer == "875"
    assert verdict.score == pytest.approx(0.6)  # min(vote share 0.6, plausible share 0.6)
    assert verdict.evidence["agree"] is True
    assert verdict.evidence["vote"]["share"] == pytest.approx(0.6)
    assert verdict.evidence["length"] == {"n": 5, "plausible": 3}
    assert set(verdict.evidence) == {"vote", "length", "agree"}


def test_all_of_rejects_an_implausible_majority_even_when_its_share_passes() -> None:
    # The vote accepts "87512" (share 0.6), the length filter accepts "875": they disagree, so nothing is accepted.
    verdict = vote_and_length(0.5).judge(PROBLEM, ["87512", "87512", "87512", "875", "875"])
    assert VoteVerifier(0.5).judge(PROBLEM, ["87512", "87512", "87512", "875", "875"]).answer == "87512"
    assert verdict.answer is None
    assert verdict.evidence["agree"] is False
    assert verdict.evidence["vote"]["top"] == "87512"


def test_all_of_rejects_a_plausible_answer_without_enough_votes() -> None:
    verdict = vote_and_length(0.6).judge(PROBLEM, ["875", "875", "874", "1", "2"])
    assert verdict.answer is None
    assert verdict.evidence["agree"] is True  # only the length filter accepted, so nothing disagrees
    assert verdict.score == pytest.approx(0.4)


@given(st.lists(st.sampled_from(["", "87", "875", "874", "8751", "87512", "abc"]), max_size=25))
def test_vote_and_length_means_majority_share_reaches_threshold_and_majority_is_plausible(attempts: list[str]) -> None:
    vote = VoteVerifier(0.4).judge(PROBLEM, attempts)
    top = vote.evidence["top"]
    expected = top if vote.score >= 0.4 and top and TASK.plausible(PROBLEM, top) else None
    assert vote_and_length(0.4).judge(PROBLEM, attempts).answer == expected


def test_all_of_requires_every_part_and_identical_answers() -> None:
    assert AllOf([Fixed("a", "1", 0.9), Fixed("b", "1", 0.7)]).judge(PROBLEM, []) == Verdict(
        "1", 0.7, {"a": {"said": "1"}, "b": {"said": "1"}, "agree": True}
    )
    disagree = AllOf([Fixed("a", "1"), Fixed("b", "2")]).judge(PROBLEM, [])
    assert disagree.answer is None and disagree.evidence["agree"] is False
    one_rejects = AllOf([Fixed("a", "1", 0.8), Fixed("b", None, 0.1)]).judge(PROBLEM, [])
    assert one_rejects.answer is None and one_rejects.score == 0.1 and one_rejects.evidence["agree"] is True
    assert AllOf([Fixed("a", "1")]).judge(PROBLEM, []).answer == "1"


def test_all_of_with_oracle_on_labelled_round_zero() -> None:
    verdict = AllOf([OracleVerifier(TASK), LengthFilter(TASK)]).judge(PROBLEM, ["875", "874"])
    assert verdict.answer == "875" and verdict.score == pytest.approx(0.5)
    assert verdict.evidence["oracle"] == {"n": 2, "correct": 1}


@pytest.mark.parametrize(
    "parts",
    [[], [Fixed("a", "1"), Fixed("a", "2")], [Fixed("", "1")], [Fixed("agree", "1")]],
)
def test_all_of_rejects_bad_parts(parts: list[Verifier]) -> None:
    with pytest.raises(ValueError):
        AllOf(parts)


def test_all_of_and_oracle_reject_objects_of_the_wrong_kind() -> None:
    with pytest.raises(TypeError, match="score"):
        AllOf([object()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="check"):
        OracleVerifier(object())  # type: ignore[arg-type]
