"""The decoders' next-token draw: exact frequencies, no impossible token, seeded, greedy at temperature 0."""

import torch

from selftaught.students.sampling import sample_next


def test_frequencies_follow_the_softmax_at_the_temperature() -> None:
    logits = torch.tensor([[0.0, 1.0, 2.0, -1e9, 0.5]]).repeat(100_000, 1)
    g = torch.Generator().manual_seed(0)
    got = torch.bincount(sample_next(logits, 0.7, g), minlength=5).float() / len(logits)
    want = torch.softmax(logits[0] / 0.7, dim=-1)
    assert got[3] == 0.0  # a token of probability 0 is never drawn
    assert torch.allclose(got, want, atol=0.006)


def test_same_seed_same_tokens_and_greedy_at_zero() -> None:
    logits = torch.randn(64, 40, generator=torch.Generator().manual_seed(1))
    a = sample_next(logits, 1.0, torch.Generator().manual_seed(5))
    b = sample_next(logits, 1.0, torch.Generator().manual_seed(5))
    c = sample_next(logits, 1.0, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(sample_next(logits, 0.0, None), logits.argmax(-1))
    assert a.shape == (64,) and int(a.max()) < 40
