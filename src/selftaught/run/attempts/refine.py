"""``loop.attempts = "refine"``: answer, read the verifier's feedback, answer again; with the experience memory of
earlier fixes (``memory.py``).

Each sample of a problem is a short trajectory. Turn 1 asks the plain prompt (with the memory's retrieved fixes in
front of it when ``refine.memory`` is on), n samples per problem as a direct ATTEMPT would, with the same seeds.
Every answer of a turn is scored by the skill's verifier in one batch (``score_many``: the sandbox runs the programs
in parallel); every sample still not accepted gets another turn whose prompt is ``task.refine_prompt`` of the
problem, its previous answer, that answer's feedback and the retrieved fixes (PGS, "generate, test, refine"), up to
``refine.turns`` turns in all. A sample's attempt is its last turn's answer.

Recorded in ATTEMPT's transaction: every turn (``refine_steps``), per turn how many samples were still failing as it
began and how many it fixed (``refine_turns``: turn 1 tries every sample), the final answers (``attempts``), the
round's fixes as memory entries, and the updated values of the entries that were shown.

The memory (EvoKernel): an entry is an earlier round's fix: the problem's prompt (its features), the failed answer,
the feedback, the fixed answer, and a value Q (new entries start at ``INITIAL_VALUE``, optimistic, so that a new fix
gets shown). A problem is shown the ``memory_k`` entries with the highest similarity to its prompt (Jaccard overlap
of character 3-grams: deterministic and cheap), or with ``retrieval = "value"`` the highest similarity x Q; ties go to
the older entry (lower id); entries with no overlap are never shown. Each time an entry is shown in a turn's prompt
it is "used" once, with reward r = 1 when that turn's answer was accepted, else 0: Q <- Q + alpha (r - Q), applied in
the order (model, problem, sample, turn) to the values the round started with. Retrieval reads only earlier rounds'
entries with their values as the round began, so a re-run ATTEMPT repeats itself exactly. Every fix is recorded,
with the memory on or off; ``refine.memory`` decides whether prompts show them.

The scores of the last turn are the attempts' scores: VERIFY takes them (``Refine.scores``) instead of running the
programs again, when it runs in the same process right after; after a resume it scores them again (the verifier is
deterministic, so the records are the same). The verifier judges the answers of each turn together, which suits a
verifier that judges each attempt by itself (tests, property, oracle, rules); a vote sees one turn's answers.

CURATE trains on the fixes too (CYCLE): ``Refine.examples`` gives, for each of the round's fixes, the refine prompt
(problem, failed answer, feedback) with the fixed answer. With ``refine.memory`` on, the model is trained to read the
memory: those prompts show the retrieved fixes exactly as the next round's ATTEMPT will show them (the same
retrieval over the entries of this round and earlier ones, values as this round left them, without the problem's own
fixes: ``memory.retrieve_next``), and every accepted answer is also trained on its first-turn prompt with the memory
(CURATE keeps its plain prompt too). The store already holds all of it when CURATE runs, and nothing changes it
before the next ATTEMPT, so a re-run CURATE builds the same examples.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run.attempts.base import Answers, Attempted, AttemptStrategy, attempt_seed
from selftaught.run.attempts.memory import INITIAL_VALUE, Entry, retrieve, retrieve_next, updated_value
from selftaught.run.context import Context
from selftaught.run.services import Request
from selftaught.store import Store
from selftaught.tasks.base import Fix, printable
from selftaught.types import Example, Problem
from selftaught.verifiers.base import Score

Key = tuple[int, int, int]  # (model, problem id, sample)


class Refine(AttemptStrategy):
    """Answer, read the feedback, answer again (see the module docstring)."""

    name = "refine"

    def __init__(self) -> None:
        # The last turn's scores, for VERIFY in the same process: round -> problem id -> (texts, scores).
        self._scored: dict[int, dict[int, tuple[list[str], list[Score]]]] = {}

    @classmethod
    def check(cls, exp: Experiment, parts: Any) -> None:
        if exp.search.samples or exp.search.compose:
            raise SelftaughtError(
                "search.samples / search.compose search with direct attempts only; loop.attempts is 'refine'"
            )

    def attempt(
        self, ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float
    ) -> Attempted:
        answers, refined, final = refined_answers(ctx, r, problems, n, temperature)
        self._scored = {r: final}
        return Attempted(answers, refined.write)

    def scores(self, ctx: Context, r: int, attempts: dict[int, list[str]]) -> dict[int, list[Score]]:
        """The scores ATTEMPT's last turns gave the round's attempts, for the problems whose attempts are those it
        scored ({} when ATTEMPT did not run in this process)."""
        known = self._scored.pop(r, {})
        return {pid: scores for pid, (texts, scores) in known.items() if attempts.get(pid, []) == texts}

    def examples(self, ctx: Context, r: int) -> list[Example]:
        """The round's fixes as training examples (CYCLE): the refine prompt (problem, failed answer, its feedback)
        with the fixed answer, one per memory entry round ``r`` wrote. With ``refine.memory`` on, every prompt shows
        the memory as round ``r + 1``'s ATTEMPT will show it (``retrieve_next``), and each accepted answer also
        comes with its first-turn prompt (the memory, then the problem), beside CURATE's plain one."""
        if r == 0:
            return []
        cfg = ctx.exp.refine
        problems = dict(ctx.store.problems(r, "train"))
        rows = ctx.store.memory(r + 1)
        entries = [Entry.of(row) for row in rows] if cfg.memory and cfg.memory_k else []

        def shown(p: Problem) -> list[Fix]:
            return [e.fix() for e in retrieve_next(entries, r, p.prompt, cfg.memory_k, cfg.retrieval)]

        out = []
        for row in rows:
            if row["round"] != r or row["problem_id"] not in problems:
                continue
            p = problems[row["problem_id"]]
            task = ctx.parts.skills.tasks[p.task]
            prompt = task.refine_prompt(p, row["failed"], row["feedback"], shown(p), cfg.feedback_chars)
            out.append(Example(prompt, row["fixed"], p.difficulty, "self", r, p.task))
        if entries:
            by_prompt = {p.prompt: p for p in problems.values()}
            for e in ctx.store.accepted(r, source="self"):
                p = by_prompt[e.prompt]
                fixes = shown(p)
                if fixes:
                    task = ctx.parts.skills.tasks[p.task]
                    out.append(replace(e, prompt=task.refine_prompt(p, None, "", fixes, cfg.feedback_chars)))
        return out


@dataclass
class Refined:
    """What a refine ATTEMPT records besides the attempts (``write`` inside the phase's transaction)."""

    round: int
    steps: list[tuple] = field(default_factory=list)  # refine_steps rows
    turns: dict[int, list[tuple[int, int, int]]] = field(default_factory=dict)  # model -> (turn, tried, fixed)
    fixes: list[dict[str, Any]] = field(default_factory=list)  # new memory entries
    values: list[tuple[int, float, int]] = field(default_factory=list)  # (id, value, uses) of entries shown

    def write(self, store: Store) -> None:
        store.add_refine_steps(self.steps)
        for m, rows in sorted(self.turns.items()):
            store.add_refine_turns(self.round, m, rows)
        if self.fixes:
            store.add_memory(self.fixes)
        if self.values:
            store.update_memory(self.values)


def refined_answers(
    ctx: Context, r: int, problems: list[tuple[int, Problem]], n: int, temperature: float
) -> tuple[Answers, Refined, dict[int, tuple[list[str], list[Score]]]]:
    """Each model's final answers by problem id, the records to write, and each problem's final (texts, scores)."""
    cfg, tasks = ctx.exp.refine, ctx.parts.skills.tasks
    models = range(len(ctx.parts.students))
    by_id = dict(problems)
    entries = [Entry.of(row) for row in ctx.store.memory(r)] if cfg.memory and cfg.memory_k else []
    shown = {pid: retrieve(entries, p.prompt, cfg.memory_k, cfg.retrieval) for pid, p in problems}
    fixes = {pid: [e.fix() for e in shown[pid]] for pid, _ in problems}

    def prompt(pid: int, attempt: str | None, feedback: str) -> str:
        p = by_id[pid]
        return tasks[p.task].refine_prompt(p, attempt, feedback, fixes[pid], cfg.feedback_chars)

    out = Refined(r)
    # Turn 1: n samples of each problem's first prompt, exactly as a direct ATTEMPT draws them.
    first = {pid: prompt(pid, None, "") for pid, _ in problems}
    asks = [(pid, replace(p, prompt=first[pid])) for pid, p in problems]
    drawn = ctx.sampler.answers(r, asks, n, temperature, attempt_seed(ctx, r))
    keys = [(m, pid, s) for m in models for pid, _ in problems for s in range(n)]
    text = {(m, pid, s): drawn[m][pid][s] for m, pid, s in keys}
    asked = {key: first[key[1]] for key in keys}
    history: dict[Key, list[tuple[int, str, str, Score]]] = defaultdict(list)  # turn, prompt, text, score
    pending = keys
    for turn in range(1, cfg.turns + 1):
        if turn > 1:
            for key in pending:
                _, _, last_text, last = history[key][-1]
                asked[key] = prompt(key[1], last_text, last.feedback)
            text.update(_generate(ctx, r, turn, pending, asked, by_id, temperature))
        scores = _score(ctx, pending, text, by_id)
        for key in pending:
            history[key].append((turn, asked[key], text[key], scores[key]))
        fixed = [key for key in pending if scores[key].accepted]
        for m in models:
            out.turns.setdefault(m, []).append((turn, sum(k[0] == m for k in pending), sum(k[0] == m for k in fixed)))
        pending = [key for key in pending if not scores[key].accepted]

    answers: list[dict] = [{} for _ in models]
    final: dict[int, tuple[list[str], list[Score]]] = {pid: ([], []) for pid, _ in problems}
    for key in keys:  # in (model, problem, sample) order: VERIFY's order within a problem (model, sample)
        m, pid, s = key
        steps = history[key]
        answers[m].setdefault(pid, []).append(steps[-1][2])
        final[pid][0].append(steps[-1][2])
        final[pid][1].append(steps[-1][3])
        for turn, asked_, said, sc in steps:
            out.steps.append((pid, m, s, turn, asked_, said, sc.reward, sc.feedback))

    # The memory: this round's fixes (once per problem, failed answer and fix), and the shown entries' values.
    seen = set()
    for m, pid, s in sorted(keys, key=lambda k: (k[1], k[0], k[2])):
        steps = history[(m, pid, s)]
        if len(steps) > 1 and steps[-1][3].accepted:
            failed, fb = steps[-2][2], steps[-2][3].feedback
            if (pid, failed, steps[-1][2]) in seen:
                continue
            seen.add((pid, failed, steps[-1][2]))
            out.fixes.append(
                dict(
                    round=r,
                    problem_id=pid,
                    features=by_id[pid].prompt,
                    failed=failed,
                    feedback=printable(fb),
                    fixed=steps[-1][2],
                    value=INITIAL_VALUE,
                )
            )
    values = {e.id: (e.value, e.uses) for e in entries}
    for key in keys:
        for _, _, _, sc in history[key]:
            for e in shown[key[1]]:
                q, uses = values[e.id]
                values[e.id] = (updated_value(q, 1.0 if sc.accepted else 0.0, cfg.alpha), uses + 1)
    used = sorted({e.id for pid, _ in problems for e in shown[pid]})
    out.values = [(i, *values[i]) for i in used]
    return answers, out, final


def _generate(
    ctx: Context,
    r: int,
    turn: int,
    pending: list[Key],
    asked: dict[Key, str],
    by_id: dict[int, Problem],
    temperature: float,
) -> dict[Key, str]:
    """One refine turn's answers: each pending sample answers its own prompt once; one unit per (model, cell)."""
    tasks = ctx.parts.skills.tasks
    seed = attempt_seed(ctx, r, "refine", turn)
    groups: dict[tuple[int, str, int], list[Key]] = defaultdict(list)
    for key in pending:
        p = by_id[key[1]]
        groups[(key[0], p.task, p.difficulty)].append(key)
    requests, where = [], []
    for (m, skill, d), group in sorted(groups.items()):
        prompts = [asked[key] for key in group]
        requests.append(Request(m, prompts, 1, temperature, ctx.sampler.budget(skill, d), seed(m, skill, d)))
        where.append((skill, group))
    out = {}
    for (skill, group), answers in zip(where, ctx.sampler.complete(r, requests), strict=True):
        out.update((key, tasks[skill].extract(outs[0])) for key, outs in zip(group, answers, strict=True))
    return out


def _score(ctx: Context, pending: list[Key], text: dict[Key, str], by_id: dict[int, Problem]) -> dict[Key, Score]:
    """The verifier's score of every pending sample's answer, each problem's answers together."""
    per_problem: dict[int, list[Key]] = defaultdict(list)
    for key in pending:
        per_problem[key[1]].append(key)
    batch = [(pid, by_id[pid], [text[key] for key in per_problem[pid]]) for pid in sorted(per_problem)]
    out = {}
    for pid, scores in ctx.scorer.score(batch).items():
        out.update(zip(per_problem[pid], scores, strict=True))
    return out
