"""Where a GRPO round's batches come from (``train.grpo.on_policy``): the round's own records (``Offline``) or fresh
rollouts of the current weights (``OnPolicy``); both group answers by problem and turn rewards into advantages."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from selftaught.run.context import Context
from selftaught.seeding import derive_seed
from selftaught.students.base import Student
from selftaught.training import grpo
from selftaught.types import Problem
from selftaught.verifiers.reward_function import call_rewards

MAX_DRAWS = 3  # on-policy: draws of problems per refill while dropped groups leave the batch short


@dataclass
class Group:
    """One problem's rollouts: extracted answers and their rewards (None: not applicable)."""

    pid: int
    problem: Problem
    answers: list[str]
    rewards: list[float | None]

    def signal(self) -> bool:
        known = [r for r in self.rewards if r is not None]
        return len(known) >= 2 and max(known) != min(known)


def sampling_temperature(ctx: Context, r: int) -> float:
    """The temperature round ``r``'s attempts were sampled at: the control's chosen one, else the verifier's."""
    chosen = [row["temperature"] for row in ctx.store.control(r) if row["chosen"]]
    return float(chosen[0]) if chosen else float(ctx.exp.verifier.temperature)


def rewarded(ctx: Context, groups: list[Group], reward_fn: Callable[..., Any] | None) -> None:
    """Replace the groups' rewards by ``reward_fn``'s, one call for them all."""
    if reward_fn is None or not groups:
        return
    for g, rewards in zip(groups, call_rewards(reward_fn, [(g.problem, g.answers) for g in groups]), strict=True):
        g.rewards = rewards


def make_batch(
    groups: list[Group], cfg: Any, old: Callable[[Group], list[torch.Tensor]], ref: Callable[[Group], Any]
) -> grpo.Batch:
    """The batch of one step from the groups drawn for it, with the step's series."""
    advs, flat = grpo.group_advantages([g.rewards for g in groups], cfg.scale, cfg.std_eps, cfg.drop_equal)
    prompts, answers, values, olds, refs = [], [], [], [], []
    used = 0
    for g, a in zip(groups, advs, strict=True):
        keep = [j for j, v in enumerate(a) if v is not None]
        if not keep:
            continue
        used += 1
        o, f = old(g), ref(g)
        for j in keep:
            prompts.append(g.problem.prompt)
            answers.append(g.answers[j])
            values.append(float(a[j]))  # type: ignore[arg-type]
            olds.append(o[j])
            if f is not None:
                refs.append(f[j])
    known = [r for g in groups for r in g.rewards if r is not None]
    mean = sum(known) / len(known) if known else None
    series = {
        "reward_mean": mean,
        "reward_std": grpo._std(known) if known else None,
        "zero_var_share": flat / len(groups) if groups else None,
        "groups": float(used),
        "adv_abs_mean": sum(abs(v) for v in values) / len(values) if values else None,
    }
    return grpo.Batch(prompts, answers, values, olds, refs if refs else None, series)


class Offline:
    """Batches from the round's ATTEMPT/VERIFY records: each step draws groups from a seeded order (reshuffled each
    pass), skipping groups without signal (DAPO, counted) until ``groups`` are kept or every group was looked at."""

    def __init__(self, ctx: Context, r: int, student: Student, temperature: float, reward_fn: Any, seed: int):
        self.cfg = ctx.exp.train.grpo
        scores = ctx.store.attempt_scores(r)
        self.groups: list[Group] = []
        for pid, p in ctx.store.problems(r, "train"):
            rows = [a for a in scores.get(pid, []) if a["model"] == 0]
            if rows:
                self.groups.append(Group(pid, p, [a["text"] for a in rows], [a["reward"] for a in rows]))
        rewarded(ctx, self.groups, reward_fn)
        self.rng = random.Random(seed)
        self.order: list[int] = []
        # The sampling policy (= the reference) is the round-start weights: every answer's log-probabilities now.
        wanted = [g for g in self.groups if g.signal() or not self.cfg.drop_equal]
        flat = [(g.problem.prompt, a) for g in wanted for a in g.answers]
        logps = grpo.sequence_logprobs(student, [p for p, _ in flat], [a for _, a in flat], temperature)
        self.old: dict[int, list[torch.Tensor]] = {}
        k = 0
        for g in wanted:
            self.old[g.pid] = logps[k : k + len(g.answers)]
            k += len(g.answers)
        self.trained: Counter[tuple[str, int]] = Counter()

    def empty(self) -> bool:
        return not self.groups

    def _next(self) -> Group:
        if not self.order:
            self.order = list(range(len(self.groups)))
            self.rng.shuffle(self.order)
        return self.groups[self.order.pop()]

    def __call__(self, step: int) -> grpo.Batch:
        drawn, kept = [], 0
        while kept < self.cfg.groups and len(drawn) < len(self.groups):
            g = self._next()
            drawn.append(g)
            kept += int(g.signal() or not self.cfg.drop_equal)
        batch = make_batch(drawn, self.cfg, lambda g: self.old[g.pid], lambda g: None)
        for g in drawn:
            if g.pid in self.old:
                self.trained[(g.problem.task, g.problem.difficulty)] += len(g.answers)
        return batch


class OnPolicy:
    """Batches sampled by the current weights every ``on_policy`` steps (see the module docstring)."""

    def __init__(self, ctx: Context, r: int, student: Student, temperature: float, reward_fn: Any, seed: int):
        self.ctx, self.r, self.student, self.temperature, self.reward_fn = ctx, r, student, temperature, reward_fn
        self.cfg = ctx.exp.train.grpo
        self.problems = ctx.store.problems(r, "train")
        self.rng = random.Random(seed)
        self.order: list[int] = []
        self.rows: list[tuple[int, int, int, str, float | None, str, int | None]] = []
        self.trained: Counter[tuple[str, int]] = Counter()
        self.batch: grpo.Batch | None = None
        self.reference: dict[str, torch.Tensor] | None = None
        if self.cfg.beta > 0:  # the round-start weights, kept for the KL term
            self.reference = {k: v.detach().clone() for k, v in student.trainable().state_dict().items()}

    def empty(self) -> bool:
        return not self.problems

    def _next(self) -> tuple[int, Problem]:
        if not self.order:
            self.order = list(range(len(self.problems)))
            self.rng.shuffle(self.order)
        return self.problems[self.order.pop()]

    def _sample(self, step: int, draw: int, chosen: list[tuple[int, Problem]]) -> list[Group]:
        ctx, n, seed, r = self.ctx, self.ctx.exp.verifier.samples, self.ctx.exp.seed, self.r
        answers = ctx.sampler.here(
            self.student,
            chosen,
            n,
            self.temperature,
            lambda skill, d: derive_seed(seed, r, "GRPO", step, draw, skill, d),
        )
        ordered = [Group(pid, p, answers[pid], []) for pid, p in chosen]
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

    def _logps(self, groups: list[Group]) -> list[list[torch.Tensor]]:
        flat = [(g.problem.prompt, a) for g in groups for a in g.answers]
        got = grpo.sequence_logprobs(self.student, [p for p, _ in flat], [a for _, a in flat], self.temperature)
        out, k = [], 0
        for g in groups:
            out.append(got[k : k + len(g.answers)])
            k += len(g.answers)
        return out

    def _refill(self, step: int) -> grpo.Batch:
        drawn: list[Group] = []
        kept = 0
        for draw in range(MAX_DRAWS):
            want = min(self.cfg.groups - kept, len(self.problems) - len(drawn))
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
            kept += sum(int(g.signal() or not self.cfg.drop_equal) for g in got)
            if kept >= self.cfg.groups:
                break
        wanted = [g for g in drawn if g.signal() or not self.cfg.drop_equal]
        old = dict(zip((g.pid for g in wanted), self._logps(wanted)))
        ref: dict[int, list[torch.Tensor]] = {}
        if self.reference is not None and wanted:
            module = self.student.trainable()
            current = {k: v.detach().clone() for k, v in module.state_dict().items()}
            module.load_state_dict(self.reference)
            try:
                ref = dict(zip((g.pid for g in wanted), self._logps(wanted)))
            finally:
                module.load_state_dict(current)
        for g in wanted:
            self.trained[(g.problem.task, g.problem.difficulty)] += len(g.answers)
        return make_batch(drawn, self.cfg, lambda g: old[g.pid], lambda g: ref.get(g.pid))

    def __call__(self, step: int) -> grpo.Batch:
        if self.batch is None or step % self.cfg.on_policy == 0:
            self.batch = self._refill(step)
        return self.batch
