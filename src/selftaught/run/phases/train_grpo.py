"""TRAIN with ``train.method = "grpo"`` (rounds >= 1): model 0 learns from rewards instead of accepted answers.

Two sources of rollouts (``train.grpo.on_policy``):

- 0, offline: the round's own attempts (model 0's, from ATTEMPT) with the rewards VERIFY gave them, grouped by
  problem. The sampling policy is the round-start weights, which are also the KL reference;
- K > 0, on-policy: every K steps the current weights sample ``verifier.samples`` answers to each of the next
  ``groups`` problems of the round (more problems, up to three draws, while groups without signal are dropped), the
  skill's verifier scores them (code runs in its sandbox), and the K steps learn from them. Every rollout is recorded
  with its reward and the oracle's correctness.

Rewards come from the verifiers, or from ``train.grpo.reward`` (a TRL-style function) when set. The answers trained
on are the extracted answers the verifier scored (as supervised rounds train on them). Everything is seeded from
(run seed, round), and all records are written in TRAIN's transaction, so a killed round repeats itself exactly.
"""

from __future__ import annotations

import os
import random
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from selftaught.run.phases import budget as planning
from selftaught.run.phases.common import Context, by_cell, correct, writing
from selftaught.seeding import derive_seed
from selftaught.students.base import Student
from selftaught.training import grpo
from selftaught.training.trainer import OptimConfig
from selftaught.types import Problem
from selftaught.verifiers.reward_function import call_rewards, load_reward_function

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
        ctx, tasks, n = self.ctx, self.ctx.parts.skills.tasks, self.ctx.exp.verifier.samples
        groups: dict[int, Group] = {}
        for (skill, d), cell in by_cell(chosen).items():
            task = tasks[skill]
            outs = self.student.generate(
                [p.prompt for _, p in cell],
                n=n,
                temperature=self.temperature,
                max_new_tokens=task.max_answer_len(d) + 1,
                seed=derive_seed(ctx.exp.seed, self.r, "GRPO", step, draw, skill, d),
            )
            for (pid, p), texts in zip(cell, outs, strict=True):
                groups[pid] = Group(pid, p, [task.extract(t) for t in texts], [])
        ordered = [groups[pid] for pid, _ in chosen]
        by_skill: dict[str, list[Group]] = defaultdict(list)
        for g in ordered:
            by_skill[g.problem.task].append(g)
        feedback: dict[int, list[str]] = {}
        for skill, gs in by_skill.items():  # one batch per skill: a sandboxed verifier runs them in parallel
            scores = ctx.parts.verifiers[skill].score_many([(g.problem, g.answers) for g in gs])
            for g, s in zip(gs, scores, strict=True):
                g.rewards = [x.reward for x in s]
                feedback[g.pid] = [x.feedback for x in s]
        rewarded(ctx, ordered, self.reward_fn)
        right = correct(ctx, [(g.problem, a) for g in ordered for a in g.answers])
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


def run(ctx: Context, r: int) -> None:
    """TRAIN of a GRPO round (r >= 1): model 0 learns, its checkpoint is written, and every record is stored in
    the phase's transaction."""
    from selftaught.run.phases.train import (
        StepRelay,  # the supervised TRAIN's helper; imported here to keep the import one-way
    )

    exp, store = ctx.exp, ctx.store
    student = ctx.parts.students[0]
    cfg, t = exp.train.grpo, exp.train
    reward_fn = load_reward_function(cfg.reward) if cfg.reward else None
    steps = planning.budget(exp, store, r)
    schedule = planning.schedule(exp, store, r)
    final = ctx.run_dir / "checkpoints" / f"round-{r:03d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    ctx.load_weights(r - 1)
    temperature = sampling_temperature(ctx, r)
    seed = derive_seed(exp.seed, r, "TRAIN", 0)
    kind = OnPolicy if cfg.on_policy else Offline
    source = kind(ctx, r, student, temperature, reward_fn, derive_seed(exp.seed, r, "GRPO", "order"))
    stats, series = None, []
    if not source.empty():
        ctx.weights_round = -2  # the student's weights are neither a checkpoint's nor fresh while it trains
        optim = OptimConfig(lr=t.lr, weight_decay=t.weight_decay, grad_clip=t.grad_clip)
        stats, series = grpo.train(
            student,
            source,
            steps,
            schedule,
            optim,
            epsilon=cfg.epsilon,
            beta=cfg.beta,
            temperature=temperature,
            callbacks=[StepRelay(ctx.callbacks, r)],
            seed=seed,
        )
    with writing(tmp / "model-0", cleanup=tmp):
        student.save(tmp / "model-0")
    with writing(final, cleanup=tmp):
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    ctx.weights_round = r
    with ctx.phase(r, "TRAIN"):
        store.set_round_budget(r, steps)
        if stats is not None:
            store.add_train_metrics(r, 0, stats.losses, stats.lrs, stats.grad_norms, stats.grad_l1s)
        store.add_checkpoint(r, 0, str((final / "model-0").relative_to(ctx.run_dir)))
        store.add_train_series(r, 0, series)
        if isinstance(source, OnPolicy):
            store.add_rollouts(r, source.rows)
        store.add_curriculum(r, 0, source.trained)
