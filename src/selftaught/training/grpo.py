"""GRPO: learning from rewards by group-relative advantages (METHODS.md, "Learning from rewards").

Pure functions first (``group_advantages``, ``loss_weights``, ``grpo_loss``), then the training loop ``train``,
which knows nothing about rounds or stores: it asks ``next_batch(step)`` for a batch of scored rollouts and asks the
policy (a student with ``answer_logprobs`` and ``trainable``) for the log-probabilities of their tokens.

Conventions:

- rewards are grouped by problem: the G attempts at one prompt form a group;
- the standard deviation is the sample one (divided by n - 1), as TRL computes it;
- an answer's tokens are exactly the ones sampled (``Completion.ids``): the end token only where it was sampled;
- the loss's normalisation (``loss_weights``): ``sequence`` averages over each answer's tokens, then over the
  answers of the batch (the GRPO paper); ``token`` divides the sum over every token of the batch by their number
  (DAPO); ``constant`` divides the sum by the number of answers times a fixed length and so not by any answer's
  own length (Dr. GRPO);
- ``old`` log-probabilities are those of the policy that sampled, at the sampling temperature, fixed while a batch
  of rollouts is trained on; a batch without them (``old = None``) was sampled by the current weights and is
  trained on once, so the ratio is 1 (its log-probabilities, detached) and no forward pass is spent on them;
- the KL term (k3) is measured on the answers trained on, against a reference's log-probabilities of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from selftaught.training.schedules import Schedule
from selftaught.training.trainer import OptimConfig, StepCallback, StopCheck, make_optimizer
from selftaught.types import TrainStats

SCALES = ("group", "batch", "unscaled")  # what an advantage is divided by: the group's std, the batch's, nothing
LOSSES = ("sequence", "token", "constant")  # how the per-token losses are summed into one (see ``loss_weights``)


class Answer(Protocol):
    """What the loop needs of an answer to train on it: the token ids (``students.base.Completion``)."""

    ids: Sequence[int]


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

    A_i = r_i - the mean of its group, divided by (std + eps), the std being the group's (``scale="group"``) or
    that of every known reward passed in (``"batch"``); ``"unscaled"`` divides by nothing.

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
        div = 1.0 if scale == "unscaled" else (_std(known) if scale == "group" else batch_std) + eps
        out.append([None if r is None else (r - mean) / div for r in group])
    return out, flat


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(policy || reference) by the k3 estimator exp(ref - logp) - (ref - logp) - 1 (>= 0, 0 at ref)."""
    d = ref_logp - logp
    return torch.exp(d) - d - 1.0


def loss_weights(lengths: torch.Tensor, loss: str = "sequence", max_len: int = 0) -> torch.Tensor:
    """Each answer's weight (B,) on its per-token losses, so that the batch's loss is the weighted sum over every
    answer token: ``sequence`` 1 / (its tokens x B) (the mean over its tokens, then over the answers: the GRPO
    paper); ``token`` 1 / (the batch's tokens) (DAPO); ``constant`` 1 / (B x ``max_len``), no division by any
    answer's length (Dr. GRPO). ``lengths`` (B,): each answer's token count."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r}: expected one of {', '.join(LOSSES)}")
    n = lengths.to(torch.float32)
    if loss == "sequence":
        return 1.0 / (n.clamp(min=1.0) * len(n))
    if loss == "token":
        return torch.full_like(n, 1.0) / n.sum().clamp(min=1.0)
    if max_len < 1:
        raise ValueError(f"loss='constant' needs a length to divide by; max_len={max_len}")
    return torch.full_like(n, 1.0 / (len(n) * max_len))


def grpo_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    ref_logp: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    epsilon: float = 0.2,
    beta: float = 0.0,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO objective on a batch of answers (B sequences, T token columns).

    ``logp`` (B, T), with gradient: the policy's log-probabilities of the answer tokens; ``old_logp`` (B, T): the
    sampling policy's; ``ref_logp`` (B, T) or None: the reference's; ``advantages`` (B,); ``mask`` (B, T): the answer
    tokens. Per token: -min(rho * A, clip(rho, 1 - epsilon, 1 + epsilon) * A) + beta * k3 KL, rho = exp(logp - old);
    summed with each answer's ``weights`` (B,) (default: ``loss_weights`` ``sequence`` of these answers).

    Stats: ``clip_frac``, the share of answer tokens whose gradient the clip cuts (rho > 1 + epsilon with A > 0, or
    rho < 1 - epsilon with A < 0); ``kl``, the mean k3 KL per answer token to ``ref_logp`` (to ``old_logp`` when no
    reference is given); ``ratio``, the mean rho per answer token.
    """
    m = mask.to(logp.dtype)
    tokens = m.sum().clamp(min=1.0)
    if weights is None:
        weights = loss_weights(m.sum(1))
    ratio = torch.exp(logp - old_logp)
    adv = advantages.to(logp.dtype)[:, None]
    clipped = torch.clamp(ratio, 1.0 - epsilon, 1.0 + epsilon)
    per_token = -torch.minimum(ratio * adv, clipped * adv)
    kl = kl_k3(logp, (ref_logp if ref_logp is not None else old_logp).detach())
    if beta > 0.0:
        if ref_logp is None:
            raise ValueError("beta > 0 needs the reference's log-probabilities")
        per_token = per_token + beta * kl
    loss = (per_token * m * weights.to(logp.device, logp.dtype)[:, None]).sum()
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

    ``answers`` hold the token ids trained (``students.base.Completion``). ``old`` holds one 1-D tensor per answer
    (its tokens' log-probabilities under the policy that sampled, in order), or is None when the current weights
    sampled the batch and it is trained on once (ratio 1). ``ref``, the reference's, may be None (no KL term, or the
    reference is the sampling policy: then ``old`` serves). ``series`` holds the step's values for the record
    (reward_mean, reward_std, zero_var_share, ...). An empty batch (no answers) means no update at this step.
    """

    prompts: list[str]
    answers: list[Answer]
    advantages: list[float]
    old: list[torch.Tensor] | None = None
    ref: list[torch.Tensor] | None = None
    series: dict[str, float | None] = field(default_factory=dict)


def sequence_logprobs(
    policy: Any, prompts: Sequence[str], answers: Sequence[Any], temperature: float, chunk: int = 256
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


@dataclass
class Objective:
    """How a step's loss is formed: the clip range, the KL weight, the temperature the log-probabilities are taken
    at, the normalisation (``LOSSES``) and its fixed length (``constant``)."""

    epsilon: float = 0.2
    beta: float = 0.0
    temperature: float = 1.0
    loss: str = "sequence"
    max_len: int = 0


def backward(policy: Any, batch: Batch, obj: Objective, accum: int = 1) -> tuple[float, dict[str, float], int]:
    """The batch's loss, backpropagated into the trainable parameters' ``.grad`` in ``accum`` micro-batches of its
    answers (the whole batch's gradient, one micro-batch's activations alive at a time, as supervised training
    accumulates); returns the loss, its stats over all answer tokens and the number of those tokens."""
    n = len(batch.answers)
    lengths = torch.tensor([len(a.ids) for a in batch.answers], dtype=torch.float32)
    weights = loss_weights(lengths, obj.loss, obj.max_len)
    adv = torch.tensor(batch.advantages, dtype=torch.float32)
    value, sums, tokens = 0.0, {"clip_frac": 0.0, "kl": 0.0, "ratio": 0.0}, 0
    for part in torch.arange(n).tensor_split(max(1, min(accum, n))):
        rows = part.tolist()
        prompts, answers = [batch.prompts[i] for i in rows], [batch.answers[i] for i in rows]
        logp, mask = policy.answer_logprobs(prompts, answers, obj.temperature)
        mask = mask.bool()
        if mask.sum(1).tolist() != [int(lengths[i]) for i in rows]:
            raise ValueError("the policy's answer mask does not cover exactly the answers' tokens")
        logp = logp.float()
        old = _rows([batch.old[i] for i in rows], mask) if batch.old is not None else logp.detach()
        ref = _rows([batch.ref[i] for i in rows], mask) if batch.ref is not None else old
        loss, got = grpo_loss(logp, old, ref, adv[rows].to(logp.device), mask, obj.epsilon, obj.beta, weights[rows])
        loss.backward()
        k = int(mask.sum())
        value += loss.item()
        tokens += k
        for key in sums:
            sums[key] += got[key] * k
    return value, {key: v / max(tokens, 1) for key, v in sums.items()}, tokens


def train(
    policy: Any,
    next_batch: Callable[[int], Batch],
    steps: int,
    schedule: Schedule,
    optim: OptimConfig,
    objective: Objective | None = None,
    callbacks: Sequence[StepCallback] = (),
    stop: StopCheck | None = None,
    seed: int = 0,
    accum: int | None = None,
) -> tuple[TrainStats, list[tuple[int, str, float | None]]]:
    """Run up to ``steps`` optimiser steps of GRPO; returns the stats (as ``trainer.train``) and the per-step series
    rows (step, name, value), steps counted from 0 as in ``train_metrics``.

    ``policy`` offers ``trainable()`` (the module whose parameters learn) and ``answer_logprobs(prompts, answers,
    temperature) -> (logp (B, T) with gradient, mask (B, T))``. AdamW from ``make_optimizer``, the learning rate
    ``optim.lr`` times the schedule's factor, the gradient clipped to ``optim.grad_clip``; each step's gradient is
    accumulated over ``accum`` micro-batches (default: the policy's ``grad_accum``, else 1). A step whose batch is
    empty makes no update (its loss and norms are recorded as 0).
    """
    obj = objective or Objective()
    accum = accum if accum is not None else int(getattr(policy, "grad_accum", 1))
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
                opt.zero_grad(set_to_none=True)
                value, got, used = backward(policy, batch, obj, accum)
                stats.update(got)
                grads = [p.grad for p in params if p.grad is not None]
                l1 = float(torch.stack([g.abs().sum() for g in grads]).sum()) if grads else 0.0
                clip = optim.grad_clip if optim.grad_clip > 0 else float("inf")
                norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
                opt.step()
                tokens += used
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
