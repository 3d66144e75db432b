"""GRPO: learning from rewards by group-relative advantages (METHODS.md, "Learning from rewards").

Pure functions first (``group_advantages``, ``grpo_loss``), then the training loop ``train``, which knows nothing
about rounds or stores: it asks ``next_batch(step)`` for a batch of scored rollouts and asks the policy (a student
with ``answer_logprobs`` and ``trainable``) for the log-probabilities of their answers.

Conventions:

- rewards are grouped by problem: the G attempts at one prompt form a group;
- the standard deviation is the sample one (divided by n - 1), as TRL computes it;
- the loss is averaged over each sequence's answer tokens (the answer and its end token) first, then over the
  sequences of the batch, as in the GRPO paper;
- ``old_logp`` is the log-probability under the policy that sampled the rollout, at the sampling temperature; the
  reference of the KL term is the round-start weights at the same temperature. Learning from the round's own
  attempts, both are the round-start weights, so no second copy of the model is needed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from selftaught.training.schedules import Schedule
from selftaught.training.trainer import OptimConfig, StepCallback, StopCheck, make_optimizer
from selftaught.types import TrainStats

SCALES = ("group", "batch", "none")


def _std(values: Sequence[float]) -> float:
    """The sample standard deviation (n - 1); 0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def group_advantages(
    rewards_per_group: Sequence[Sequence[float | None]], scale: str = "group", eps: float = 1e-4, drop: bool = True
) -> tuple[list[list[float | None]], int]:
    """Each attempt's advantage, and how many groups carry no signal.

    A_i = (r_i - mean of its group) / (std + eps), the std being the group's (``scale="group"``), that of every
    known reward passed in (``"batch"``), or none at all (``"none"``: A_i = r_i - mean, as Dr. GRPO).

    An attempt whose reward is None is left out of its group (advantage None). A group whose known rewards are all
    equal, or that has fewer than two of them, has no signal: it is counted, and with ``drop`` (DAPO) its attempts
    get advantage None (not trained on); without it, advantage 0.
    """
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r}: expected one of {', '.join(SCALES)}")
    known_all = [r for g in rewards_per_group for r in g if r is not None]
    batch_std = _std(known_all)
    out: list[list[float | None]] = []
    flat = 0
    for group in rewards_per_group:
        known = [r for r in group if r is not None]
        if len(known) < 2 or max(known) == min(known):
            flat += 1
            out.append([None if (r is None or drop) else 0.0 for r in group])
            continue
        mean = sum(known) / len(known)
        div = 1.0 if scale == "none" else (_std(known) if scale == "group" else batch_std) + eps
        out.append([None if r is None else (r - mean) / div for r in group])
    return out, flat


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference) by the k3 estimator exp(ref - logp) - (ref - logp) - 1 (>= 0, 0 at ref)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float = 0.2,
    beta: float = 0.0,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO objective on a batch of answers (B sequences, T token columns).

    ``logp`` (B, T), with gradient: the policy's log-probabilities of the answer tokens; ``old_logp`` (B, T): the
    sampling policy's; ``ref_logp`` (B, T) or None: the reference's; ``advantages`` (B,); ``mask`` (B, T): the answer
    tokens. Per token: -min(rho * A, clip(rho, 1 - epsilon, 1 + epsilon) * A) + beta * k3 KL, rho = exp(logp - old);
    averaged over each sequence's answer tokens, then over the sequences.

    Stats: ``clip_frac``, the share of answer tokens whose gradient the clip cuts (rho > 1 + epsilon with A > 0, or
    rho < 1 - epsilon with A < 0); ``kl``, the mean k3 KL per answer token to ``ref_logp`` (to ``old_logp`` when no
    reference is given); ``ratio``, the mean rho per answer token.
    """
    m = mask.to(logp.dtype)
    per_seq_tokens = m.sum(1).clamp(min=1.0)
    tokens = m.sum().clamp(min=1.0)
    ratio = torch.exp(logp - old_logp)
    adv = advantages.to(logp.dtype)[:, None]
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    kl = kl_k3(logp, (ref_logp if ref_logp is not None else old_logp).detach())
    if beta > 0.0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs the reference's log-probabilities")
        per_token = per_token + beta * kl
    loss = ((per_token * m).sum(1) / per_seq_tokens).mean()
    with torch.no_grad():
        cut = ((ratio > 1.0 + epsilon) & (adv > 0)) | ((ratio < 1.0 - epsilon) & (adv < 0))
        stats = {
            "clip_frac": float((cut.to(m.dtype) * m).sum() / tokens),
            "kl": float((kl * m).sum() / tokens),
            "ratio": float((ratio * m).sum() / tokens),
        }
    return loss, stats


@dataclass
class Batch:
    """One step's rollouts to learn from: answers with their advantages and the sampling policy's log-probabilities.

    ``old`` and ``ref`` hold one 1-D tensor per answer (its answer tokens' log-probabilities, in order); ``ref`` may
    be None (no KL term, or the reference is the sampling policy: then ``old`` serves). ``series`` holds the step's
    values for the record (reward_mean, reward_std, zero_var_share, ...). An empty batch (no answers) means no
    update at this step.
    """

    prompts: list[str]
    answers: list[str]
    advantages: list[float]
    old: list[torch.Tensor]
    ref: list[torch.Tensor] | None = None
    series: dict[str, float | None] = field(default_factory=dict)


def sequence_logprobs(
    policy: Any, prompts: Sequence[str], answers: Sequence[str], temperature: float, chunk: int = 256
) -> list[torch.Tensor]:
    """Each answer's token log-probabilities under the policy's current weights (no gradient, eval mode)."""
    module = policy.trainable()
    was = module.training
    module.eval()
    out: list[torch.Tensor] = []
    try:
        with torch.no_grad():
            for c in range(0, len(prompts), chunk):
                logp, mask = policy.answer_logprobs(prompts[c : c + chunk], answers[c : c + chunk], temperature)
                out.extend(row[m].detach().float().cpu() for row, m in zip(logp, mask.bool()))
    finally:
        module.train(was)
    return out


def _rows(values: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
    """Per-answer 1-D tensors laid into the (B, T) positions of ``mask`` (row by row, in order)."""
    full = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    full[mask] = torch.cat(values).to(mask.device)
    return full


def train(
    policy: Any,
    next_batch: Callable[[int], Batch],
    steps: int,
    schedule: Schedule,
    optim: OptimConfig,
    epsilon: float = 0.2,
    beta: float = 0.0,
    temperature: float = 1.0,
    callbacks: Sequence[StepCallback] = (),
    stop: StopCheck | None = None,
    seed: int = 0,
) -> tuple[TrainStats, list[tuple[int, str, float | None]]]:
    """Run up to ``steps`` optimiser steps of GRPO; returns the stats (as ``trainer.train``) and the per-step series
    rows (step, name, value), steps counted from 0 as in ``train_metrics``.

    ``policy`` offers ``trainable()`` (the module whose parameters learn) and ``answer_logprobs(prompts, answers,
    temperature) -> (logp (B, T) with gradient, mask (B, T))``. AdamW from ``make_optimizer``, the learning rate
    ``optim.lr`` times the schedule's factor, the gradient clipped to ``optim.grad_clip``. A step whose batch is empty
    makes no update (its loss and norms are recorded as 0).
    """
    module = policy.trainable()
    opt = make_optimizer(module, optim)
    params = [p for p in module.parameters() if p.requires_grad]
    losses: list[float] = []
    lrs: list[float] = []
    norms: list[float] = []
    l1s: list[float] = []
    series: list[tuple[int, str, float | None]] = []
    tokens = 0
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # dropout, if any, draws from the global stream: seeded here, restored after
        for step in range(steps):
            lr = optim.lr * schedule.factor(step, steps)
            batch = next_batch(step)  # may generate with the current weights
            for group in opt.param_groups:
                group["lr"] = lr
            value, norm, l1 = 0.0, 0.0, 0.0
            stats: dict[str, float | None] = {"kl": None, "clip_frac": None, "ratio": None}
            if batch.answers:
                module.train()
                logp, mask = policy.answer_logprobs(batch.prompts, batch.answers, temperature)
                mask = mask.bool()
                old = _rows(batch.old, mask)
                ref = _rows(batch.ref, mask) if batch.ref is not None else None
                adv = torch.tensor(batch.advantages, dtype=torch.float32, device=logp.device)
                loss, got = grpo_loss(logp.float(), old, ref if ref is not None else old, adv, mask, epsilon, beta)
                stats.update(got)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grads = [p.grad for p in params if p.grad is not None]
                l1 = float(torch.stack([g.abs().sum() for g in grads]).sum()) if grads else 0.0
                clip = optim.grad_clip if optim.grad_clip > 0 else float("inf")
                norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
                opt.step()
                value = loss.item()
                tokens += int(mask.sum())
                module.eval()
            losses.append(value)
            lrs.append(lr)
            norms.append(norm)
            l1s.append(l1)
            series.extend((step, name, v) for name, v in sorted({**batch.series, **stats}.items()))
            for cb in callbacks:
                cb(step + 1, steps, value)
            if stop is not None and stop(step + 1):
                break
    module.eval()
    stats_out = TrainStats(
        steps=len(losses),
        tokens=tokens,
        seconds=time.perf_counter() - t0,
        final_loss=losses[-1] if losses else float("nan"),
        losses=losses,
        lrs=lrs,
        grad_norms=norms,
        grad_l1s=l1s,
    )
    return stats_out, series
