"""B-STaR control: before a round's attempts, pick the sampling temperature, sample count and reward threshold with
the best balance score on a small held-out slice (``[control] kind = "bstar"``).

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

Here the answers are the extracted answers the verifier sees (for arithmetic, a number), so at most one distinct
answer per problem is correct: ``n' <= 1`` and a problem's score is ``[its right answer is kept] / (n* * n)``.

How a round uses it: ATTEMPT (rounds >= 1) calls ``plan``, which draws the slice at the round's frontier cells, has
model 0 answer it at every temperature (the largest sample count once, sub-sampled for the smaller ones), scores the
answers with the skill's verifier and the task's oracle, and returns the grid rows with the chosen one marked; ATTEMPT
samples with the chosen temperature and count and writes the rows in its own transaction. VERIFY then applies the
chosen threshold through ``thresholded_verdict``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from selftaught.run.phases.common import Context, by_cell, correct, sample
from selftaught.run.phases.units import GenUnit, ScoreUnit, generate_unit, score_unit
from selftaught.seeding import derive_seed, rng_for
from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier

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


# ------------------------------------------------------------------------------------------------ in the loop
def plan(ctx: Context, r: int, problems: list[tuple[int, Problem]]) -> list[dict[str, Any]]:
    """Round ``r``'s control grid with the chosen row marked; [] when control is off, in round 0 or with no
    problems. Runs model 0 on round ``r - 1``'s weights (the caller has loaded them)."""
    c = ctx.exp.control
    if c.kind != "bstar" or r < 1 or not problems:
        return []
    held = slice_problems(ctx, problems)
    if not held:
        return []
    controller = BStarController(c.temperatures, c.thresholds, c.samples or [ctx.exp.verifier.samples], c.n_star)
    by_id = dict(held)
    right: dict[tuple[Hashable, str], int | None] = {}

    def generate(t: float, n: int) -> dict[Hashable, list[str]]:
        answers = _answers(ctx, r, held, n, t)
        todo = [key for key in dict.fromkeys((q, a) for q, texts in answers.items() for a in texts) if key not in right]
        right.update(zip(todo, correct(ctx, [(by_id[q], a) for q, a in todo]), strict=True))
        return answers

    def judge(answers: dict[Hashable, list[str]]) -> dict[Hashable, list[Sampled]]:
        scores = _scores(ctx, [(q, by_id[q], texts) for q, texts in answers.items()])
        return {
            q: [(a, s.reward, right[(q, a)]) for a, s in zip(texts, scores[q], strict=True)]
            for q, texts in answers.items()
        }

    return controller.measure(generate, judge)


def sampling(ctx: Context, rows: list[dict[str, Any]]) -> tuple[int, float]:
    """The (sample count, temperature) a round's attempts use: the chosen row's, else the verifier's."""
    chosen = next((row for row in rows if row["chosen"]), None)
    if chosen is None:
        return ctx.exp.verifier.samples, ctx.exp.verifier.temperature
    return int(chosen["samples"]), float(chosen["temperature"])


def thresholded_verdict(
    verifier: Verifier, problem: Problem, attempts: list[str], scores: Sequence[Score], chosen: dict | None
) -> Verdict:
    """The verifier's verdict with the round's chosen reward threshold applied (``chosen`` None: unchanged).

    An attempt counts as accepted only if the verifier accepts it *and* its reward is at least the threshold (a
    reward of None never is). The verifier derives its verdict from those scores, and an answer it still picks is
    dropped when none of its attempts passes the threshold (a vote's verdict reads the counts, not ``accepted``).
    So for a vote (reward = the answer's vote share) the top answer is accepted when its share reaches both the
    vote threshold and the control threshold; for tests (reward = the share of tests passed) an accepted attempt
    already passed them all (reward 1), so the threshold never removes a label there; the same holds for the
    oracle and for rule filters (reward 1 or 0). A composition's reward is its parts' lowest.
    """
    if chosen is None:
        return verifier.verdict(problem, attempts, scores)
    h = float(chosen["threshold"])
    passed = [s.accepted and s.reward is not None and s.reward >= h for s in scores]
    kept_scores = [Score(s.reward, ok, s.feedback, s.parts) for s, ok in zip(scores, passed, strict=True)]
    v = verifier.verdict(problem, attempts, kept_scores)
    evidence = {**v.evidence, "control_threshold": h}
    if v.answer is not None and not any(ok and a == v.answer for a, ok in zip(attempts, passed, strict=True)):
        return Verdict(None, v.score, {**evidence, "below_control_threshold": True})
    return Verdict(v.answer, v.score, evidence)


def slice_problems(ctx: Context, problems: list[tuple[int, Problem]]) -> list[tuple[Hashable, Problem]]:
    """``[control] slice`` held-out problems spread over the frontier cells of ``problems`` (the round's training
    problems), keyed ("held", id) for stored ones and ("control", skill, d, j) for drawn ones.

    A cell takes the held-out problems the store has for it (the training slice first, then the evaluation set);
    a cell with none gets problems drawn from seeds of (run seed, "control", cell, j), the same every round. A
    prompt among the round's training problems is never used."""
    exp, store = ctx.exp, ctx.store
    cells = list(by_cell(problems))
    train = {p.prompt for _, p in problems}
    stored: dict[tuple[str, int], list[tuple[Hashable, Problem]]] = defaultdict(list)
    seen: set[str] = set()
    for pid, p in [*ctx.slice_problems(), *store.eval_problems("eval")]:
        if p.prompt not in train and p.prompt not in seen:
            seen.add(p.prompt)
            stored[(p.task, p.difficulty)].append((("held", pid), p))
    single = len(ctx.parts.skills.skills) == 1
    out: list[tuple[Hashable, Problem]] = []
    total = exp.control.slice
    for i, (skill, d) in enumerate(cells):
        want = total // len(cells) + (i < total % len(cells))
        if want == 0:
            continue
        if stored[(skill, d)]:
            out.extend(stored[(skill, d)][:want])
            continue
        drawn: set[str] = set()
        tag = () if single else (skill,)
        for j in range(4 * want):  # tiny problem spaces hold fewer distinct problems than asked
            p = sample(ctx, derive_seed(exp.seed, "control", *tag, d, j), skill, d)
            if p.prompt in train or p.prompt in drawn:
                continue
            drawn.add(p.prompt)
            out.append((("control", skill, d, j), p))
            if len(drawn) == want:
                break
    return out


def _answers(
    ctx: Context, r: int, problems: list[tuple[Hashable, Problem]], n: int, t: float
) -> dict[Hashable, list[str]]:
    """Model 0's ``n`` answers to each problem at temperature ``t``, made the way ATTEMPT makes them (directly, or
    assembled from the answers to each problem's parts with ``loop.attempts = "split"``)."""
    if ctx.parts.attempts != "split":
        return _generate(ctx, r, problems, n, t)
    tasks = ctx.parts.skills.tasks
    splits = {q: tasks[p.task].split(p, rng_for(ctx.exp.seed, r, "CONTROL", "SPLIT", q)) for q, p in problems}
    parts = [((q, j), _with_task(part, p.task)) for q, p in problems for j, part in enumerate(splits[q] or [])]
    got = _generate(ctx, r, parts, n, t, "parts")
    out = {}
    for q, p in problems:
        ps = splits[q]
        if not ps:
            out[q] = [""] * n
            continue
        joined = [tasks[p.task].join(p, ps, [got[(q, j)][s] for j in range(len(ps))]) for s in range(n)]
        out[q] = [text or "" for text in joined]
    return out


def _with_task(part: Problem, skill: str) -> Problem:
    return replace(part, task=skill)  # parts belong to their problem's skill


def _generate(
    ctx: Context, r: int, problems: list[tuple[Hashable, Problem]], n: int, t: float, *tag: str
) -> dict[Hashable, list[str]]:
    tasks = ctx.parts.skills.tasks
    replica = ctx.replica(r - 1, 0)
    units, groups = [], []
    for (skill, d), group in by_cell(problems).items():
        units.append(
            GenUnit(
                ctx.where(),
                0,
                replica,
                [p.prompt for _, p in group],
                n=n,
                temperature=t,
                max_new_tokens=tasks[skill].max_answer_len(d) + 1,
                seed=derive_seed(ctx.exp.seed, r, "CONTROL", skill, d, t, *tag),
            )
        )
        groups.append((skill, group))
    out: dict[Hashable, list[str]] = {}
    for (skill, group), answers in zip(groups, ctx.executor.map(generate_unit, units), strict=True):
        out.update((q, [tasks[skill].extract(c) for c in outs]) for (q, _), outs in zip(group, answers, strict=True))
    return out


def _scores(ctx: Context, batch: list[tuple[Hashable, Problem, list[str]]]) -> dict[Hashable, list[Score]]:
    """Each problem's answers scored by its skill's verifier, one batch per skill."""
    by_skill: dict[str, list[tuple[Hashable, Problem, list[str]]]] = defaultdict(list)
    for item in batch:
        by_skill[item[1].task].append(item)
    units = [
        ScoreUnit(ctx.where(), ctx.executor.local, skill, [(p, texts) for _, p, texts in items])
        for skill, items in by_skill.items()
    ]
    out: dict[Hashable, list[Score]] = {}
    for items, got in zip(by_skill.values(), ctx.executor.map(score_unit, units, stateful=False), strict=True):
        out.update((q, s) for (q, _, _), s in zip(items, got, strict=True))
    return out
