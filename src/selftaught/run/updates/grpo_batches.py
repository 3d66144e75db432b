"""Where a GRPO round's batches come from (``train.grpo.on_policy``): fresh rollouts of the current weights
(``OnPolicy``) or the round's own records (``Offline``). Both group answers by problem, turn rewards into advantages
and train on each batch of rollouts ``num_iterations`` times with the log-probabilities of the weights that sampled
it."""

from __future__ import annotations

import copy
import math
import random
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import torch

from selftaught.run.context import Context, by_cell
from selftaught.seeding import derive_seed
from selftaught.students.base import Completion, Student
from selftaught.training import grpo
from selftaught.types import Problem
from selftaught.verifiers.reward_function import call_rewards

MAX_DRAWS = 3  # on-policy, dropping groups without signal: draws of problems per refill while the batch is short


@dataclass
class Group:
    """One problem's rollouts: the extracted answers the verifier scores, the completions trained on (their
    tokens) and the rewards (None: not applicable)."""

    pid: int
    problem: Problem
    answers: list[str]
    completions: list[Completion]
    rewards: list[float | None]

    def signal(self) -> bool:
        known = [r for r in self.rewards if r is not None]
        return len(known) >= 2 and max(known) != min(known)


def sampling_temperature(ctx: Context, r: int) -> float:
    """The temperature round ``r``'s attempts were sampled at: the control's chosen one, else the verifier's."""
    chosen = [row["temperature"] for row in ctx.store.control(r) if row["chosen"]]
    return float(chosen[0]) if chosen else float(ctx.exp.verifier.temperature)


def answer_budget(ctx: Context, problems: list[tuple[int, Problem]]) -> int:
    """The longest answer budget (tokens) among ``problems``: the longest answer of a task and the end token."""
    return max((ctx.sampler.budget(p.task, p.difficulty) for _, p in problems), default=1)


def rewarded(ctx: Context, groups: list[Group], reward_fn: Callable[..., Any] | None) -> None:
    """Replace the groups' rewards by ``reward_fn``'s, one call for them all."""
    if reward_fn is None or not groups:
        return
    for g, rewards in zip(groups, call_rewards(reward_fn, [(g.problem, g.answers) for g in groups]), strict=True):
        g.rewards = rewards


def kept(g: Group, drop: bool) -> bool:
    """Whether a group is trained on: it has signal, or groups without are kept (advantage 0)."""
    return g.signal() or not drop


def logps(policy: Any, groups: list[Group], temperature: float) -> dict[int, list[torch.Tensor]]:
    """Each group's completions' token log-probabilities under ``policy``'s weights now, by problem id."""
    flat = [(g.problem.prompt, c) for g in groups for c in g.completions]
    got = grpo.sequence_logprobs(policy, [p for p, _ in flat], [c for _, c in flat], temperature)
    out, k = {}, 0
    for g in groups:
        out[g.pid] = got[k : k + len(g.completions)]
        k += len(g.completions)
    return out


def make_batch(
    groups: list[Group],
    cfg: Any,
    old: dict[int, list[torch.Tensor]] | None,
    ref: dict[int, list[torch.Tensor]] | None,
) -> grpo.Batch:
    """The batch of one step from the groups drawn for it, with the step's series; ``old`` and ``ref`` by problem id
    (None: not needed)."""
    advs, flat = grpo.group_advantages([g.rewards for g in groups], cfg.scale, cfg.std_eps, cfg.drop_equal)
    prompts, answers, values, olds, refs = [], [], [], [], []
    used = 0
    for g, a in zip(groups, advs, strict=True):
        keep = [j for j, v in enumerate(a) if v is not None]
        if not keep:
            continue
        used += 1
        for j in keep:
            prompts.append(g.problem.prompt)
            answers.append(g.completions[j])
            values.append(float(a[j]))  # type: ignore[arg-type]
            if old is not None:
                olds.append(old[g.pid][j])
            if ref is not None:
                refs.append(ref[g.pid][j])
    known = [r for g in groups for r in g.rewards if r is not None]
    mean = sum(known) / len(known) if known else None
    series = {
        "reward_mean": mean,
        "reward_std": grpo._std(known) if known else None,
        "zero_var_share": flat / len(groups) if groups else None,
        "groups": float(used),
        "adv_abs_mean": sum(abs(v) for v in values) / len(values) if values else None,
    }
    return grpo.Batch(prompts, answers, values, olds if old is not None else None, refs if ref else None, series)


class Offline:
    """Batches from the round's ATTEMPT/VERIFY records, sampled by the round-start weights (which are also the KL
    reference): ``num_iterations`` passes over them, each in a seeded order of its own, ``groups`` kept groups a
    step (groups without signal, when dropped, are counted with the step that drew them). The records keep text, so
    each answer is trained as ``completion_of`` encodes it (its tokens and the end token), as supervised rounds
    train on it."""

    def __init__(self, ctx: Context, r: int, student: Student, temperature: float, reward_fn: Any, seed: int):
        self.cfg = ctx.exp.train.grpo
        scores = ctx.store.attempt_scores(r)
        self.groups: list[Group] = []
        for pid, p in ctx.store.problems(r, "train"):
            rows = [a for a in scores.get(pid, []) if a["model"] == 0]
            if rows:
                texts = [a["text"] for a in rows]
                completions = [student.completion_of(t) for t in texts]
                self.groups.append(Group(pid, p, texts, completions, [a["reward"] for a in rows]))
        rewarded(ctx, self.groups, reward_fn)
        self.rng = random.Random(seed)
        usable = [g for g in self.groups if kept(g, self.cfg.drop_equal)]
        self.per_pass = math.ceil(len(usable) / self.cfg.groups)
        self.old = logps(student, usable, temperature)  # the sampling policy's: the round-start weights'
        self.plan: list[list[Group]] = []
        self.trained: Counter[tuple[str, int]] = Counter()

    def empty(self) -> bool:
        return not self.per_pass

    def steps(self, budget: int) -> int:
        """The round's steps: its passes over the records, at most ``budget``."""
        return min(budget, self.per_pass * self.cfg.num_iterations)

    def _pass(self) -> list[list[Group]]:
        """One pass over every group in a fresh seeded order, cut into steps of ``groups`` kept groups."""
        order = list(self.groups)
        self.rng.shuffle(order)
        steps: list[list[Group]] = [[]]
        count = 0
        for g in order:
            if count == self.cfg.groups and kept(g, self.cfg.drop_equal):
                steps.append([])
                count = 0
            steps[-1].append(g)
            count += int(kept(g, self.cfg.drop_equal))
        return steps

    def __call__(self, step: int) -> grpo.Batch:
        if step % self.per_pass == 0:
            self.plan = self._pass()
        drawn = self.plan[step % self.per_pass]
        for g in drawn:
            if g.pid in self.old:
                self.trained[(g.problem.task, g.problem.difficulty)] += len(g.answers)
        return make_batch(drawn, self.cfg, self.old, None)


def sample_completions(
    ctx: Context,
    student: Student,
    chosen: list[tuple[int, Problem]],
    n: int,
    temperature: float,
    seed: Callable[[str, int], int],
) -> dict[Hashable, list[Completion]]:
    """``student``'s ``n`` completions (with the token ids sampled) of each problem, by id, one call per cell on its
    weights as they are now, seeded by ``seed(skill, difficulty)``."""
    out: dict[Hashable, list[Completion]] = {}
    for (skill, d), group in by_cell(chosen).items():
        prompts = [p.prompt for _, p in group]
        got = student.sample_tokens(prompts, n, temperature, ctx.sampler.budget(skill, d), seed(skill, d))
        out.update((pid, row) for (pid, _), row in zip(group, got, strict=True))
    return out


class OnPolicy:
    """Batches the current weights sample: every ``num_iterations`` steps ``verifier.samples`` answers to each of
    the next ``groups`` problems of the round (more problems, up to three draws, while groups without signal are
    dropped), scored by the skill's verifier (code runs in its sandbox) and each recorded; the steps between learn
    from them. The KL reference (``beta`` > 0) is a frozen copy of the round-start weights."""

    def __init__(self, ctx: Context, r: int, student: Student, temperature: float, reward_fn: Any, seed: int):
        self.ctx, self.r, self.student, self.temperature, self.reward_fn = ctx, r, student, temperature, reward_fn
        self.cfg = ctx.exp.train.grpo
        self.problems = ctx.store.problems(r, "train")
        self.rng = random.Random(seed)
        self.order: list[int] = []
        self.rows: list[tuple[int, int, int, str, float | None, str, int | None]] = []
        self.trained: Counter[tuple[str, int]] = Counter()
        self.batch: grpo.Batch | None = None
        self.reference: Any = None
        if self.cfg.beta > 0:
            self.reference = copy.deepcopy(student)
            self.reference.trainable().requires_grad_(False)

    def empty(self) -> bool:
        return not self.problems

    def steps(self, budget: int) -> int:
        return budget

    def _next(self) -> tuple[int, Problem]:
        if not self.order:
            self.order = list(range(len(self.problems)))
            self.rng.shuffle(self.order)
        return self.problems[self.order.pop()]

    def _sample(self, step: int, draw: int, chosen: list[tuple[int, Problem]]) -> list[Group]:
        ctx, n, seed, r = self.ctx, self.ctx.exp.verifier.samples, self.ctx.exp.seed, self.r
        got = sample_completions(
            ctx, self.student, chosen, n, self.temperature, lambda s, d: derive_seed(seed, r, "GRPO", step, draw, s, d)
        )
        tasks = ctx.parts.skills.tasks
        ordered = [Group(pid, p, [tasks[p.task].extract(c.text) for c in got[pid]], got[pid], []) for pid, p in chosen]
        scores = ctx.scorer.score([(g.pid, g.problem, g.answers) for g in ordered])  # a sandbox runs them in parallel
        feedback: dict[int, list[str]] = {}
        for g in ordered:
            g.rewards = [x.reward for x in scores[g.pid]]
            feedback[g.pid] = [x.feedback for x in scores[g.pid]]
        rewarded(ctx, ordered, self.reward_fn)
        right = ctx.scorer.correct([(g.problem, a) for g in ordered for a in g.answers])
        k = 0
        for g in ordered:
            for s, (text, reward) in enumerate(zip(g.answers, g.rewards, strict=True)):
                self.rows.append((step, g.pid, s, text, reward, feedback[g.pid][s], right[k]))
                k += 1
        return ordered

    def _refill(self, step: int) -> grpo.Batch:
        drawn: list[Group] = []
        count = 0
        for draw in range(MAX_DRAWS):
            want = min(self.cfg.groups - count, len(self.problems) - len(drawn))
            if want <= 0:
                break
            seen = {g.pid for g in drawn}
            chosen: list[tuple[int, Problem]] = []
            while len(chosen) < want:
                pid, p = self._next()
                if pid not in seen:
                    chosen.append((pid, p))
                    seen.add(pid)
            got = self._sample(step, draw, chosen)
            drawn.extend(got)
            count += sum(int(kept(g, self.cfg.drop_equal)) for g in got)
            if count >= self.cfg.groups:
                break
        wanted = [g for g in drawn if kept(g, self.cfg.drop_equal)]
        # One pass: the weights that sampled are the ones that learn, so the ratio is 1 without a forward pass.
        old = logps(self.student, wanted, self.temperature) if self.cfg.num_iterations > 1 else None
        ref = logps(self.reference, wanted, self.temperature) if self.reference is not None else None
        for g in wanted:
            self.trained[(g.problem.task, g.problem.difficulty)] += len(g.answers)
        return make_batch(drawn, self.cfg, old, ref)

    def __call__(self, step: int) -> grpo.Batch:
        if self.batch is None or step % self.cfg.num_iterations == 0:
            self.batch = self._refill(step)
        return self.batch
