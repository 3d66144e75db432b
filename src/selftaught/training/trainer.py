"""The training loop shared by students: AdamW, clipping, a schedule, loss on answer tokens only.

It knows nothing about text: it receives a function that returns (input ids, targets) batches, and a model whose
``forward(idx, targets)`` returns ``(logits, loss)``. Side effects (progress bars, logging) hang on ``callbacks``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..types import TrainStats
from .schedules import Schedule

StepCallback = Callable[[int, int, float], None]  # (step done, total steps, loss)


@dataclass
class OptimConfig:
    lr: float = 1e-3
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.98
    grad_clip: float = 1.0


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
) -> TrainStats:
    """Run ``steps`` optimiser steps; ``next_batch(step)`` gives the batch for that step."""
    opt = make_optimizer(model, optim)
    model.train()
    losses: list[float] = []
    lrs: list[float] = []
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
        if optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), optim.grad_clip)
        opt.step()
        value = loss.item()
        losses.append(value)
        lrs.append(lr)
        tokens += idx.numel()
        for cb in callbacks:
            cb(step + 1, steps, value)
    model.eval()
    return TrainStats(
        steps=steps,
        tokens=tokens,
        seconds=time.perf_counter() - t0,
        final_loss=losses[-1] if losses else float("nan"),
        losses=losses,
        lrs=lrs,
    )
