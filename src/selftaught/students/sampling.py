"""Drawing the next token from a batch of logits, shared by both students' decoders."""

from __future__ import annotations

import torch


def sample_next(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One token per row of ``logits`` (B, V): the argmax at ``temperature == 0``, else a draw from
    softmax(logits / temperature) by inverting its cumulative sum at one uniform number per row (B numbers drawn,
    where ``torch.multinomial`` draws B x V)."""
    if temperature <= 0:
        return logits.argmax(-1)
    cdf = torch.softmax(logits.float() / temperature, dim=-1).cumsum(-1)
    u = torch.rand((cdf.shape[0], 1), generator=generator, device=cdf.device) * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(1).clamp(max=cdf.shape[1] - 1)
