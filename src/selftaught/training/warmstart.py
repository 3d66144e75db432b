"""How a round's training starts from the previous round's weights.

- ``continue``: the weights as they are, and no warmup after round 0;
- ``re-warm``: the weights as they are, and the schedule's warmup again at every round;
- ``shrink-perturb`` (Ash & Adams, "On Warm-Starting Neural Network Training"): theta <- lambda * theta + sigma * xi,
  with xi drawn as a fresh initialisation, then the warmup again;
- ``fresh``: a new initialisation every round (a baseline: nothing carries over but the data).
"""

from __future__ import annotations

import torch

WARM_STARTS = ("continue", "re-warm", "shrink-perturb", "fresh")


def warmup_applies(how: str, round_: int) -> bool:
    """Whether round ``round_``'s schedule starts with its warmup."""
    return round_ == 0 or how != "continue"


@torch.no_grad()
def shrink_perturb(model: torch.nn.Module, fresh: torch.nn.Module, shrink: float, perturb: float) -> None:
    """``model``'s parameters become ``shrink * own + perturb * fresh``, in place (same architecture)."""
    if not 0.0 <= shrink <= 1.0:
        raise ValueError(f"shrink={shrink}: must be in [0, 1]")
    if perturb < 0:
        raise ValueError(f"perturb={perturb}: must be >= 0")
    theirs = dict(fresh.named_parameters())
    for name, p in model.named_parameters():
        p.mul_(shrink).add_(theirs[name].to(p.device), alpha=perturb)
