"""B-STaR's balance score and its grid search, apart from the loop: before a round's attempts, the sampling
temperature, sample count and reward threshold with the best balance score on a small held-out slice are chosen
(``[control] kind = "bstar"``).

The balance score, checked against its sources
----------------------------------------------
METHODS.md ("Learning from rewards") gives, per query, ``bs = min(n'/n*, 1) * (n'/n)`` with ``n'`` the unique correct
responses kept, ``n`` the responses kept after the reward threshold and ``n* = 8``, averaged over a slice of queries.
The authors' code (github.com/hkust-nlp/B-STaR, ``train_code/determine_hyper.py``: ``get_unique_trn_json`` and
``cal_modi_acc_soft``) confirms the formula and settles the two open points:

* duplicates: the kept responses are de-duplicated on (query, output text) *before* anything is counted, so ``n`` is
  the number of *distinct* kept responses and ``n'`` the distinct correct ones among them (``ratio = n'/n`` over the
  de-duplicated list; ``num >= 8 -> ratio`` else ``num * ratio / 8``, which is ``min(n'/8, 1) * n'/n``);
* ``n = 0``: the code averages only over queries that kept something (a query enters its table only through a kept
  response), but it never meets an empty query, because it appends the reference solution to every query's
  candidates with score 1.0, above every threshold it tries. Without a reference solution in the pool (ours never
  has one) a query that keeps nothing scores 0 and stays in the mean: otherwise a threshold that rejects nearly
  everything would score as well as the few queries it keeps.

Other differences from that code, on purpose: its reward mixes a process reward with the ground-truth match (we use
the verifier's reward alone; the oracle's correctness only measures ``n'``); it keeps ``reward > threshold`` while we
keep ``reward >= threshold`` (so a threshold of 1.0 keeps a perfect reward), and an attempt whose reward is None is not
kept; it caps the kept responses per query (growing the cap until a target data size is met), which we do not; it
sweeps thresholds -1..1 in steps of 0.01 inside each (temperature, sample count), where we take the grid of
``[control] thresholds``; the paper tunes on a subset of training queries, we on held-out problems (never a round's
training problems). The paper itself (Zeng et al., ICLR 2025, arXiv 2412.17256) could not be read here beyond its
abstract and summaries, which describe the same choice: the temperature and threshold that maximise the mean balance
score on a small subset of queries, each iteration.

Here the answers are the extracted answers the verifier sees. For arithmetic (a number) at most one distinct answer
per problem is correct: ``n' <= 1`` and a problem's score is ``[its right answer is kept] / (n* * n)``, which only
rewards keeping fewer distinct answers, so the controller skips the grid there (``bstar.py``). For programs
(list-functions) many distinct answers are right, and ``n'`` tells the settings that find more of them apart.

How a round uses it (``bstar.py``): ATTEMPT (rounds >= 1) calls the strategy's ``plan``, which draws the slice at
the round's frontier cells, has model 0 answer it at every temperature (the largest sample count once, sub-sampled
for the smaller ones), scores the answers with the skill's verifier and the task's oracle, and returns the grid rows
with the chosen one marked; ATTEMPT samples with the chosen temperature and count and writes the rows in its own
transaction. VERIFY then applies the chosen threshold through ``thresholded_verdict`` (``base.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

# One sampled answer as the controller sees it: (text, reward or None, correct: 1 / 0 / None = unknown).
Sampled = tuple[str, float | None, int | None]


@dataclass(frozen=True)
class Balance:
    """A mean balance score over queries, with the totals behind it: distinct kept answers (the sum of the n) and
    distinct correct kept answers (the sum of the n')."""

    score: float
    kept: int
    unique_correct: int


def query_balance(samples: Sequence[Sampled], threshold: float, n_star: int = 8) -> tuple[float, int, int]:
    """One query's balance score ``min(n'/n*, 1) * n'/n`` and its (n, n'): ``n`` the distinct answers whose reward is
    at least ``threshold``, ``n'`` those of them the oracle calls correct. Nothing kept scores 0."""
    if n_star < 1:
        raise ValueError(f"n_star {n_star!r} must be at least 1")
    kept: dict[str, bool] = {}
    for text, reward, right in samples:
        if reward is not None and reward >= threshold:
            kept[text] = kept.get(text, False) or bool(right)
    n = len(kept)
    good = sum(kept.values())
    return (min(good / n_star, 1.0) * good / n if n else 0.0), n, good


def balance_score(queries: Sequence[Sequence[Sampled]], threshold: float, n_star: int = 8) -> Balance:
    """The mean of ``query_balance`` over ``queries`` (each a list of (text, reward, correct)); 0 for no queries."""
    per = [query_balance(q, threshold, n_star) for q in queries]
    if not per:
        return Balance(0.0, 0, 0)
    return Balance(sum(s for s, _, _ in per) / len(per), sum(n for _, n, _ in per), sum(c for _, _, c in per))


@dataclass(frozen=True)
class Setting:
    temperature: float
    threshold: float
    samples: int


class BStarController:
    """The grid search of one round, apart from where the answers come from.

    ``measure(generate, judge)``: ``generate(temperature, n)`` gives each query's ``n`` answers; ``judge(answers)``
    scores a {query: answers} mapping into {query: [(text, reward, correct)]}. The largest sample count is generated
    once per temperature and its first ``k`` answers stand for a ``k``-sample draw (the verifier judges each ``k``
    again, since a vote's reward depends on the other answers). Grid order: temperatures, then sample counts, then
    thresholds, each as configured; the best mean score wins and ties go to the first in that order.
    """

    def __init__(
        self, temperatures: Sequence[float], thresholds: Sequence[float], samples: Sequence[int], n_star: int = 8
    ) -> None:
        if not temperatures:
            raise ValueError("temperatures [] must hold at least one temperature")
        if not thresholds:
            raise ValueError("thresholds [] must hold at least one threshold")
        if not samples or any(k < 1 for k in samples):
            raise ValueError(f"samples {list(samples)} must be counts of at least 1")
        if any(not 0.0 <= t <= 1.0 for t in thresholds):
            raise ValueError(f"thresholds {list(thresholds)} must be rewards in [0, 1]")
        self.temperatures = list(dict.fromkeys(temperatures))
        self.thresholds = list(dict.fromkeys(thresholds))
        self.samples = list(dict.fromkeys(samples))
        self.n_star = n_star

    def grid(self) -> list[Setting]:
        return [Setting(t, h, k) for t in self.temperatures for k in self.samples for h in self.thresholds]

    def measure(
        self,
        generate: Callable[[float, int], dict[Hashable, list[str]]],
        judge: Callable[[dict[Hashable, list[str]]], dict[Hashable, list[Sampled]]],
    ) -> list[dict[str, Any]]:
        """One row per grid setting (temperature, threshold, samples, score, kept, unique_correct, chosen)."""
        most = max(self.samples)
        rows = []
        for t in self.temperatures:
            answers = generate(t, most)
            for k in self.samples:
                judged = judge({q: texts[:k] for q, texts in answers.items()})
                queries = [judged[q] for q in answers]
                for h in self.thresholds:
                    b = balance_score(queries, h, self.n_star)
                    rows.append(
                        {
                            "temperature": t,
                            "threshold": h,
                            "samples": k,
                            "score": b.score,
                            "kept": b.kept,
                            "unique_correct": b.unique_correct,
                            "chosen": False,
                        }
                    )
        best = max(range(len(rows)), key=lambda i: (rows[i]["score"], -i))
        rows[best]["chosen"] = True
        return rows
