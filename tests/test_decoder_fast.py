"""The built-in decoder's fast paths: the packed, chunked prefill and the in-place cache give what a plain uncached
decoder gives, whatever the chunking, the padding, or the rows that end early."""

from __future__ import annotations

import random

import pytest
import torch

from selftaught.students.gpt import GPT, POSITIONAL_SCHEMES, GPTConfig
from selftaught.students.tokenizer import CharTokenizer

TOK = CharTokenizer()
PAD, BOS = TOK.pad_id, TOK.bos_id
NEW = 10

pytestmark = pytest.mark.usefixtures("one_thread")


def random_model(pos: str, seed: int) -> GPT:
    """Weights large enough that every position and attention weight can move the argmax."""
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=2, n_embd=32, block_size=128, pos=pos)
    model = GPT(cfg)
    model.set_run_tokens(TOK.alnum_ids())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.4)
            elif name.endswith("bias") and "ln" not in name:
                p.normal_(0.0, 0.1)
    return model.eval()


def random_prompts(n: int, seed: int, longest: int = 30) -> list[list[int]]:
    """Prompts of 1..longest characters (digits, operators, letters), sorted by length as TorchStudent sorts them."""
    rng = random.Random(seed)
    alphabet = "0123456789+*=abcxyz "
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, longest))) for _ in range(n)]
    return sorted(([BOS, *TOK.encode(t)] for t in texts), key=len)


def cached(model: GPT, prompts: list[list[int]], eos_id: int, temperature: float = 0.0, seed: int = 0):
    width = max(len(p) for p in prompts)
    x = torch.full((len(prompts), width), PAD, dtype=torch.long)
    for r, p in enumerate(prompts):
        x[r, width - len(p) :] = torch.tensor(p)
    lens = torch.tensor([len(p) for p in prompts])
    g = torch.Generator().manual_seed(seed)
    return model.generate(x, lens, NEW, eos_id=eos_id, pad_id=PAD, temperature=temperature, generator=g).tolist()


@torch.no_grad()
def uncached(model: GPT, prompt: list[int], eos_id: int) -> list[int]:
    """The reference: the whole unpadded sequence through ``forward`` for every new token."""
    seq, out = list(prompt), []
    for _ in range(NEW):
        nxt = int(model(torch.tensor([seq]))[0][0, -1].argmax())
        out.append(nxt)
        if nxt == eos_id:
            break
        seq.append(nxt)
    return out + [PAD] * (NEW - len(out))


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
@pytest.mark.parametrize("budget", [1, 40, 10_000])
def test_greedy_equals_uncached_reference_for_any_prefill_chunking(pos, budget, monkeypatch) -> None:
    # budget 1: one row per prefill chunk; 40: chunks of a few rows, each padded to its own width; 10_000: one chunk.
    monkeypatch.setattr(GPT, "PREFILL_TOKENS", budget)
    model = random_model(pos, seed=1)
    prompts = random_prompts(24, seed=2)
    got = cached(model, prompts, eos_id=-1)
    assert got == [uncached(model, p, eos_id=-1) for p in prompts]
    assert len({tuple(row) for row in got}) > len(prompts) // 2  # the check has teeth: outputs differ by row


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_unsorted_rows_decode_as_sorted_ones(pos, monkeypatch) -> None:
    monkeypatch.setattr(GPT, "PREFILL_TOKENS", 64)
    model = random_model(pos, seed=3)
    prompts = random_prompts(16, seed=4)
    shuffled = prompts[:]
    random.Random(5).shuffle(shuffled)
    by_prompt = dict(zip(map(tuple, prompts), cached(model, prompts, eos_id=-1)))
    assert cached(model, shuffled, eos_id=-1) == [by_prompt[tuple(p)] for p in shuffled]


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_rows_dropped_when_finished_keep_every_rows_output(pos, monkeypatch) -> None:
    monkeypatch.setattr(GPT, "PREFILL_TOKENS", 64)
    model = random_model(pos, seed=6)
    prompts = random_prompts(32, seed=7)
    free = cached(model, prompts, eos_id=-1)
    # The token most rows emit, at different steps: rows end at different times and the batch is compacted.
    counts = {t: sum(t in row for row in free) for t in {t for row in free for t in row} - {PAD, BOS}}
    eos = max(counts, key=lambda t: (counts[t], -t))
    assert 2 * counts[eos] >= len(prompts) and len({row.index(eos) for row in free if eos in row}) > 1
    got = cached(model, prompts, eos_id=eos)
    assert got == [uncached(model, p, eos_id=eos) for p in prompts]
    for row, ref in zip(got, free):  # each row is its free run cut after its first end token
        cut = ref.index(eos) + 1 if eos in ref else NEW
        assert row == ref[:cut] + [PAD] * (NEW - cut)


def test_sampling_does_not_depend_on_prefill_chunking(monkeypatch) -> None:
    model = random_model("rope", seed=8)
    prompts = random_prompts(20, seed=9)
    monkeypatch.setattr(GPT, "PREFILL_TOKENS", 10_000)
    whole = cached(model, prompts, eos_id=-1, temperature=1.5, seed=3)
    monkeypatch.setattr(GPT, "PREFILL_TOKENS", 30)
    assert cached(model, prompts, eos_id=-1, temperature=1.5, seed=3) == whole


@pytest.mark.parametrize("lens", [[5], [1, 1, 1], [3, 9, 9, 20, 2], list(range(1, 30))])
@pytest.mark.parametrize("budget", [1, 16, 50, 10_000])
def test_prefill_chunks_cover_every_row_once_within_the_budget(lens, budget) -> None:
    model = random_model("none", seed=0)
    model.PREFILL_TOKENS = budget
    chunks = model._prefill_chunks(lens)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(lens)
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    for r0, r1, width in chunks:
        assert r1 > r0 and width == max(lens[r0:r1])
        assert r1 - r0 == 1 or width * (r1 - r0) <= budget
