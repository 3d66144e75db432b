"""Evaluation statistics, the replay curator, seed derivation and the ladder teacher."""

from __future__ import annotations

import random

import pytest

from selftaught.run.evaluation import accuracy_table, binomial_ci, pass_at_k
from selftaught.seeding import derive_seed, rng_for
from selftaught.training.curation import ReplayCurator
from selftaught.types import Example


def test_binomial_ci_is_honest_at_zero_and_one_hundred_percent() -> None:
    low, high = binomial_ci(40, 40)
    assert high == 1.0 and 0.9 < low < 0.93  # Wilson: 40/40 still leaves room below 100 %
    low, high = binomial_ci(0, 40)
    assert low == 0.0 and 0.07 < high < 0.1
    assert binomial_ci(0, 0) == (0.0, 1.0)  # no trials: nothing is known


def test_binomial_ci_matches_the_wilson_formula_and_narrows_with_n() -> None:
    from math import sqrt

    k, n, z = 7, 20, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    low, high = binomial_ci(k, n)
    assert abs(low - (centre - half)) < 1e-9 and abs(high - (centre + half)) < 1e-9
    small, large = binomial_ci(10, 20), binomial_ci(200, 400)
    assert large[1] - large[0] < small[1] - small[0]
    assert binomial_ci(10, 20, level=0.5)[1] < small[1]


def test_binomial_ci_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        binomial_ci(5, 4)


def test_accuracy_table_groups_by_task_and_difficulty_with_each_cells_own_interval() -> None:
    results = [("a", 1, True), ("a", 1, True), ("a", 2, False), ("b", 1, True), ("b", 1, False), ("a", 3, True)]
    results += [("a", 3, False), ("a", 3, True)]
    rows = accuracy_table(results)
    assert [(r["task"], r["difficulty"], r["n"], r["correct"]) for r in rows] == [
        ("a", 1, 2, 2),
        ("a", 2, 1, 0),
        ("a", 3, 3, 2),
        ("b", 1, 2, 1),
    ]
    assert rows[2]["accuracy"] == 2 / 3
    assert (rows[2]["ci_low"], rows[2]["ci_high"]) == binomial_ci(2, 3)
    assert rows[0]["ci_high"] == 1.0 and rows[0]["ci_low"] < 1.0  # 100 % is not certainty from 2 problems
    # Two skills with the same counts at one difficulty get the same interval (no shared random stream).
    twin = accuracy_table([("x", 4, True), ("x", 4, False), ("y", 4, True), ("y", 4, False)])
    assert (twin[0]["ci_low"], twin[0]["ci_high"]) == (twin[1]["ci_low"], twin[1]["ci_high"])


def test_accuracy_table_of_nothing_is_empty() -> None:
    assert accuracy_table([]) == []


def test_pass_at_k_is_the_unbiased_estimator() -> None:
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(4, 1, 2) == pytest.approx(1 - 3 / 6)  # 1 - C(3,2)/C(4,2)
    assert pass_at_k(5, 4, 2) == 1.0  # every pair holds a correct sample
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


# -------------------------------------------------------------------------------------------------- curator
def ex(prompt: str, source: str = "self", origin: int = 2) -> Example:
    return Example(prompt=prompt, answer=prompt[::-1], difficulty=4, source=source, origin_round=origin, task="copy")


FRESH = [ex(f"f{i}") for i in range(10)]
POOL = [ex(f"p{i}", "labelled", 0) for i in range(30)]


def test_replay_half_doubles_the_fresh_examples_with_replayed_ones() -> None:
    out = ReplayCurator(0.5).build(FRESH, POOL, random.Random(0))
    assert out[:10] == FRESH
    replayed = out[10:]
    assert len(replayed) == 10
    assert all(e.source == "replay" for e in replayed)
    assert len({e.prompt for e in replayed}) == 10  # without replacement
    by_prompt = {e.prompt: e for e in POOL}
    for e in replayed:
        original = by_prompt[e.prompt]
        assert (e.answer, e.difficulty, e.origin_round, e.task) == (
            original.answer,
            original.difficulty,
            original.origin_round,
            original.task,
        )


def test_replay_share_sets_the_replayed_fraction() -> None:
    out = ReplayCurator(0.25).build(FRESH, POOL, random.Random(0))
    assert len(out) == 10 + 3  # round(10 * 0.25 / 0.75)
    assert sum(e.source == "replay" for e in out) == 3


def test_replay_share_zero_adds_nothing() -> None:
    assert ReplayCurator(0.0).build(FRESH, POOL, random.Random(0)) == FRESH


def test_replay_never_takes_more_than_the_pool_holds() -> None:
    out = ReplayCurator(0.9).build(FRESH, POOL[:4], random.Random(0))
    assert len(out) == 14
    assert sorted(e.prompt for e in out[10:]) == ["p0", "p1", "p2", "p3"]
    assert ReplayCurator(0.5).build(FRESH, [], random.Random(0)) == FRESH


def test_replay_without_fresh_examples_adds_nothing() -> None:
    assert ReplayCurator(0.5).build([], POOL, random.Random(0)) == []


def test_replay_is_deterministic_for_a_seeded_rng() -> None:
    curator = ReplayCurator(0.5)
    a = curator.build(FRESH, POOL, random.Random(42))
    b = curator.build(FRESH, POOL, random.Random(42))
    c = curator.build(FRESH, POOL, random.Random(43))
    assert a == b
    assert [e.prompt for e in a[10:]] != [e.prompt for e in c[10:]]


@pytest.mark.parametrize("share", [-0.1, 1.0, 1.5])
def test_replay_share_out_of_range_raises(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        ReplayCurator(share)


# -------------------------------------------------------------------------------------------------- seeding
def test_derive_seed_is_stable_across_processes_and_versions() -> None:
    # Computed once; sha256 of repr((7, 3, "ATTEMPT")), top 63 bits.
    assert derive_seed(7, 3, "ATTEMPT") == 7540641196020135830
    assert derive_seed(7, 3, "ATTEMPT") == derive_seed(7, 3, "ATTEMPT")


def test_derive_seed_differs_across_parts_and_fits_in_63_bits() -> None:
    seeds = {
        derive_seed(7, 3, "ATTEMPT"),
        derive_seed(7, 3, "VERIFY"),
        derive_seed(7, 4, "ATTEMPT"),
        derive_seed(8, 3, "ATTEMPT"),
        derive_seed(7, 3),
        derive_seed(3, 7, "ATTEMPT"),
        derive_seed(7, "3", "ATTEMPT"),
    }
    assert len(seeds) == 7
    assert all(0 <= s < 2**63 for s in seeds)


def test_rng_for_reproduces_a_stream() -> None:
    a = [rng_for(1, "eval").random() for _ in range(3)]
    assert a == [rng_for(1, "eval").random() for _ in range(3)]
    assert rng_for(1, "eval").random() == random.Random(derive_seed(1, "eval")).random()
    assert rng_for(1, "eval").random() != rng_for(2, "eval").random()


# -------------------------------------------------------------------------------------------------- teacher
