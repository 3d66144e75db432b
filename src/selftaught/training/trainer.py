"""The training loop shared by students: AdamW, clipping, a schedule, loss on answer tokens only.

It knows nothing about text: it receives a function that returns (input ids, targets) batches, and a model whose
``forward(idx, targets)`` returns ``(logits, loss)``. Side effects (progress bars, logging) hang on ``callbacks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from selftaught.training.averaging import WeightAverage
from selftaught.training.schedules import Schedule
from selftaught.types import TrainStats

StepCallback = Callable[[int, int, float], None]  # (step done, total steps, loss)
StopCheck = Callable[[int], bool]  # (steps done) -> end training now


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    grad_clip: float = 1.0
    average: float = 0.0  # decay of the weights' moving average that training ends with (WeightAverage); 0 = off


def make_optimizer(model: torch.nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    # No weight decay on biases, norms and embeddings' 1-D parameters: decay is meant for matrices.
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    other = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))


def train(
    model: torch.nn.Module,
    next_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    schedule: Schedule,
    optim: OptimConfig,
    callbacks: Sequence[StepCallback] = (),
    stop: StopCheck | None = None,
    average: WeightAverage | None = None,
) -> TrainStats:
    """Run up to ``steps`` optimiser steps; ``next_batch(step)`` gives the batch for that step.

    The schedule is laid over all ``steps``; ``stop(done)``, asked after each step, may end training early.
    Each step's gradient norms (l2 and l1, before clipping) are recorded for the refined schedule and the report.
    ``average``, when given, is updated after every step; training that ``stop`` ends early ends with it (the
    average stands in for the annealing the schedule did not get to), training that runs all ``steps`` with its own
    weights, which the schedule has annealed.
    """
    opt = make_optimizer(model, optim)
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    losses: list[float] = []
    lrs: list[float] = []
    norms: list[float] = []
    l1s: list[float] = []
    tokens = 0
    t0 = time.perf_counter()
    for step in range(steps):
        lr = optim.lr * schedule.factor(step, steps)
        for group in opt.param_groups:
            group["lr"] = lr
        idx, targets = next_batch(step)
        _, loss = model(idx, targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grads = [p.grad for p in params if p.grad is not None]
        l1 = torch.stack([g.abs().sum() for g in grads]).sum()
        # With clipping off, an infinite threshold still returns the norm and changes nothing.
        norm = torch.nn.utils.clip_grad_norm_(params, optim.grad_clip if optim.grad_clip > 0 else float("inf"))
        opt.step()
        if average is not None:
            average.update()
        value = loss.item()
        losses.append(value)
        lrs.append(lr)
        norms.append(float(norm))
        l1s.append(float(l1))
        tokens += idx.numel()
        for cb in callbacks:
            cb(step + 1, steps, value)
        if stop is not None and stop(step + 1):
            if average is not None and step + 1 < steps:
                average.apply()
            break
    model.eval()
    return TrainStats(
        steps=len(losses),
        tokens=tokens,
        seconds=time.perf_counter() - t0,
        final_loss=losses[-1] if losses else float("nan"),
        losses=losses,
        lrs=lrs,
        grad_norms=norms,
        grad_l1s=l1s,
    )
