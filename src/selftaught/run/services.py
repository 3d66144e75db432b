"""The two services every phase and strategy uses, built once per loop: sampling and scoring.

``Sampler`` turns problems into the students' extracted answers: on the executor, one unit per (member, cell) on a
round's checkpoint (``answers``, or ``complete`` for requests the caller shapes itself), or in this process on a
student as it is now (``here``, ``greedy``: evaluation, the held-out slice, on-policy rollouts). ``Scorer`` gives
the verifiers' scores of answers, one batch per skill spread over the executor's workers (``score``), and the
oracle's check of answers for the record (``correct``). Seeds are the caller's: a strategy passes the function that
derives each unit's seed, so a re-run phase draws the same answers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from selftaught.run.context import Context, by_cell
from selftaught.run.units import GenUnit, ScoreUnit, generate_unit, score_unit
from selftaught.students.base import Student
from selftaught.types import Problem
from selftaught.verifiers.base import Score

Seed = Callable[[int, str, int], int]  # (member, skill, difficulty) -> the unit's seed


@dataclass
class Request:
    """One unit of generation: member ``member`` answers ``prompts``, ``n`` samples each."""

    member: int
    prompts: list[str]
    n: int
    temperature: float
    max_new_tokens: int
    seed: int


class Sampler:
    """Answers from the students (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def budget(self, skill: str, difficulty: int) -> int:
        """New tokens an answer of ``skill`` at ``difficulty`` may take (its longest answer and the end)."""
        return self.ctx.parts.skills.tasks[skill].max_answer_len(difficulty) + 1

    def complete(self, r: int, requests: Sequence[Request]) -> list[list[list[str]]]:
        """Each request's raw completions (per prompt, ``n`` each), on round ``r - 1``'s weights, on the executor."""
        ctx = self.ctx
        replicas: dict[int, Any] = {}
        units = []
        for q in requests:
            if q.member not in replicas:
                replicas[q.member] = ctx.replica(r - 1, q.member)
            units.append(
                GenUnit(
                    ctx.where(),
                    q.member,
                    replicas[q.member],
                    q.prompts,
                    n=q.n,
                    temperature=q.temperature,
                    max_new_tokens=q.max_new_tokens,
                    seed=q.seed,
                )
            )
        return ctx.executor.map(generate_unit, units)

    def answers(
        self,
        r: int,
        problems: list[tuple[Hashable, Problem]],
        n: int,
        temperature: float,
        seed: Seed,
        members: Iterable[int] | None = None,
    ) -> list[dict[Hashable, list[str]]]:
        """Each member's ``n`` extracted answers to each problem, by problem key: one unit per (member, cell), on
        round ``r - 1``'s weights; the list holds one mapping per member of ``members`` (default: all)."""
        tasks = self.ctx.parts.skills.tasks
        members = list(range(len(self.ctx.parts.students)) if members is None else members)
        cells = by_cell(problems)
        requests, where = [], []
        for i, m in enumerate(members):
            for (skill, d), group in cells.items():
                prompts = [p.prompt for _, p in group]
                requests.append(Request(m, prompts, n, temperature, self.budget(skill, d), seed(m, skill, d)))
                where.append((i, skill, group))
        out: list[dict[Hashable, list[str]]] = [{} for _ in members]
        for (i, skill, group), got in zip(where, self.complete(r, requests), strict=True):
            task = tasks[skill]
            out[i].update((q, [task.extract(c) for c in outs]) for (q, _), outs in zip(group, got, strict=True))
        return out

    def here(
        self,
        student: Student,
        problems: list[tuple[Hashable, Problem]],
        n: int,
        temperature: float,
        seed: Callable[[str, int], int] | None = None,
    ) -> dict[Hashable, list[str]]:
        """``student``'s ``n`` extracted answers to each problem, by key, in this process on its weights as they
        are now; one call per cell, seeded by ``seed(skill, difficulty)`` (None: the student's default)."""
        tasks = self.ctx.parts.skills.tasks
        out: dict[Hashable, list[str]] = {}
        for (skill, d), group in by_cell(problems).items():
            extra = {} if seed is None else {"seed": seed(skill, d)}
            got = student.generate(
                [p.prompt for _, p in group],
                n=n,
                temperature=temperature,
                max_new_tokens=self.budget(skill, d),
                **extra,
            )
            out.update((q, [tasks[skill].extract(c) for c in outs]) for (q, _), outs in zip(group, got, strict=True))
        return out

    def greedy(self, student: Student, problems: list[tuple[int, Problem]]) -> list[tuple[int, Problem, str, bool]]:
        """``student``'s greedy answer to each problem and whether it is right: (id, problem, answer, right), cell
        by cell."""
        out = []
        for group in by_cell(problems).values():
            texts = self.here(student, group, 1, 0.0)
            right = self.ctx.scorer.correct([(p, texts[pid][0]) for pid, p in group])
            out.extend((pid, p, texts[pid][0], bool(ok)) for (pid, p), ok in zip(group, right, strict=True))
        return out


class Scorer:
    """The verifiers' scores and the oracle's check (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def score(self, batch: Sequence[tuple[Hashable, Problem, list[str]]]) -> dict[Hashable, list[Score]]:
        """Each problem's answers scored by its skill's verifier, by key: one batch per skill (a verifier that runs
        programs runs a batch in parallel), split over the executor's workers when it has them."""
        ctx = self.ctx
        by_skill: dict[str, list[tuple[Hashable, Problem, list[str]]]] = defaultdict(list)
        for item in batch:
            by_skill[item[1].task].append(item)
        chunks = 1 if ctx.executor.local else ctx.executor.workers
        units, groups = [], []
        for skill, items in by_skill.items():
            size = -(-len(items) // chunks)
            for c in range(0, len(items), size):
                part = items[c : c + size]
                units.append(ScoreUnit(ctx.where(), ctx.executor.local, skill, [(p, texts) for _, p, texts in part]))
                groups.append(part)
        out: dict[Hashable, list[Score]] = {}
        for part, got in zip(groups, ctx.executor.map(score_unit, units, stateful=False), strict=True):
            out.update((q, s) for (q, _, _), s in zip(part, got, strict=True))
        return out

    def correct(self, pairs: Sequence[tuple[Problem, str]]) -> list[int | None]:
        """Whether each answer is right, by the task's oracle (or the target when the task has none): for the
        record and the evaluation only, never to select labels. Each skill's pairs go to its task in one batch."""
        out: list[int | None] = [None] * len(pairs)
        by_skill: dict[str, list[int]] = defaultdict(list)
        for i, (p, _) in enumerate(pairs):
            by_skill[p.task].append(i)
        for skill, where in by_skill.items():
            scores = self.ctx.parts.skills.tasks[skill].check_many([pairs[i] for i in where])
            for i, score in zip(where, scores, strict=True):
                p, answer = pairs[i]
                if score is None:
                    out[i] = None if p.target is None else int(answer == p.target)
                else:
                    out[i] = int(score == 1.0)
        return out
