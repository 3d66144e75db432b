"""Evaluation statistics, the replay curator, seed derivation and the ladder teacher."""

from __future__ import annotations

import random

import pytest

from selftaught.curation import ReplayCurator
from selftaught.evaluation import accuracy_table, bootstrap_ci
from selftaught.seeding import derive_seed, rng_for
from selftaught.types import Example


# ----------------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_of_all_correct_and_all_wrong_is_degenerate() -> None:
    assert bootstrap_ci([True] * 40) == (1.0, 1.0)
    assert bootstrap_ci([False] * 40) == (0.0, 0.0)
    assert bootstrap_ci([1]) == (1.0, 1.0)


def test_bootstrap_of_empty_input_is_zero() -> None:
    assert bootstrap_ci([]) == (0.0, 0.0)


def test_bootstrap_of_half_correct_brackets_one_half() -> None:
    results = [True, False] * 50
    low, high = bootstrap_ci(results, seed=3)
    assert low < 0.5 < high
    # Normal approximation: 2 * 1.96 * sqrt(0.25 / 100) = 0.196.
    assert 0.12 <= high - low <= 0.28
    assert abs((low + high) / 2 - 0.5) < 0.05


def test_bootstrap_is_reproducible_for_a_seed_and_narrows_with_level() -> None:
    results = [i % 3 == 0 for i in range(60)]
    assert bootstrap_ci(results, seed=11) == bootstrap_ci(results, seed=11)
    low95, high95 = bootstrap_ci(results, seed=11, level=0.95)
    low50, high50 = bootstrap_ci(results, seed=11, level=0.5)
    assert low95 <= low50 <= 1 / 3 <= high50 <= high95
    assert high50 - low50 < high95 - low95


def test_bootstrap_width_shrinks_with_more_problems() -> None:
    small = bootstrap_ci([True, False] * 10)
    large = bootstrap_ci([True, False] * 200)
    assert large[1] - large[0] < small[1] - small[0]


# -------------------------------------------------------------------------------------------- accuracy table
def test_accuracy_table_groups_by_task_and_difficulty() -> None:
    results = [
        ("copy", 3, True),
        ("addition", 5, False),
        ("copy", 3, False),
        ("copy", 2, True),
        ("addition", 5, True),
        ("addition", 5, True),
        ("copy", 3, True),
        ("addition", 4, False),
    ]
    rows = accuracy_table(results, b=200, seed=1)
    assert [(r["task"], r["difficulty"], r["n"], r["correct"]) for r in rows] == [
        ("addition", 4, 1, 0),
        ("addition", 5, 3, 2),
        ("copy", 2, 1, 1),
        ("copy", 3, 3, 2),
    ]
    assert [r["accuracy"] for r in rows] == pytest.approx([0.0, 2 / 3, 1.0, 2 / 3])
    assert (rows[0]["ci_low"], rows[0]["ci_high"]) == (0.0, 0.0)
    assert (rows[2]["ci_low"], rows[2]["ci_high"]) == (1.0, 1.0)
    for r in rows:
        assert 0.0 <= r["ci_low"] <= r["accuracy"] <= r["ci_high"] <= 1.0
    # Each group's interval is the bootstrap of its own results (seeded by seed + difficulty).
    assert (rows[3]["ci_low"], rows[3]["ci_high"]) == bootstrap_ci([True, False, True], b=200, seed=1 + 3)
    assert accuracy_table(results, b=200, seed=1) == rows


def test_accuracy_table_of_nothing_is_empty() -> None:
    assert accuracy_table([]) == []


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
