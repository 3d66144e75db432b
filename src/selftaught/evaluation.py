"""Exact-match accuracy on held-out problems, with percentile bootstrap confidence intervals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def bootstrap_ci(correct: Sequence[bool], b: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap: resample the problems with replacement ``b`` times, take the tails' percentiles."""
    x = np.asarray(correct, dtype=np.float64)
    if x.size == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(b, x.size))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(means, tail)), float(np.quantile(means, 1.0 - tail))


def accuracy_table(
    results: Sequence[tuple[str, int, bool]], b: int = 1000, seed: int = 0
) -> list[dict[str, float | int | str]]:
    """Rows (task, difficulty, correct) -> one row per (task, difficulty) with n, accuracy and its 95 % CI."""
    groups: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for task, difficulty, ok in results:
        groups[(task, difficulty)].append(bool(ok))
    rows = []
    for (task, difficulty), oks in sorted(groups.items()):
        low, high = bootstrap_ci(oks, b=b, seed=seed + difficulty)
        rows.append(
            {
                "task": task,
                "difficulty": difficulty,
                "n": len(oks),
                "correct": sum(oks),
                "accuracy": sum(oks) / len(oks),
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows
