"""Exact-match accuracy on held-out problems, with exact binomial confidence intervals, and pass@k for code.

An accuracy is k successes in n independent problems, so its interval is a binomial one (Wilson's score interval):
it needs no seed, is honest at 0 % and 100 % (where a percentile bootstrap collapses to zero width), and each cell
gets its own interval from its own counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from math import comb

from scipy.stats import binomtest


def binomial_ci(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the success rate ``successes / n``; ``(0, 1)`` when there are no trials."""
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must be in [0, n={n}]")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level={level} must be in (0, 1)")
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased pass@k of Chen et al. (2021): 1 - C(n - c, k) / C(n, k), for n samples of which c are correct."""
    if not (0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def accuracy_table(results: Sequence[tuple[str, int, bool]], level: float = 0.95) -> list[dict[str, float | int | str]]:
    """Rows (task, difficulty, correct) -> one row per (task, difficulty) with n, accuracy and its ``level`` CI."""
    groups: dict[tuple[str, int], list[bool]] = defaultdict(list)
    for task, difficulty, ok in results:
        groups[(task, difficulty)].append(bool(ok))
    rows = []
    for (task, difficulty), oks in sorted(groups.items()):
        k, n = sum(oks), len(oks)
        low, high = binomial_ci(k, n, level)
        rows.append(
            {
                "task": task,
                "difficulty": difficulty,
                "n": n,
                "correct": k,
                "accuracy": k / n,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return rows
