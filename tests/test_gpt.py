"""The tiny GPT: KV-cache generation on left-padded batches agrees with a naive full re-run decoder."""

from __future__ import annotations

import pytest
import torch

from selftaught.students.gpt import GPT, POSITIONAL_SCHEMES, GPTConfig
from selftaught.students.tokenizer import CharTokenizer

TOK = CharTokenizer()
PAD, BOS, EOS = TOK.pad_id, TOK.bos_id, TOK.eos_id
# Different lengths so that the batch is left-padded; some end inside a run of digits/letters ("index" scheme).
PROMPT_TEXTS = ["821+054=", "7*3=", "hello wor", "x", "12+9=99", "q0"]
NEW = 12


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(pos: str, seed: int = 0, block_size: int = 64) -> GPT:
    """A small random model whose weights are large enough that positions and attention matter to the argmax."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=TOK.vocab_size, n_layer=2, n_head=4, n_embd=32, block_size=block_size, pos=pos))
    model.set_run_tokens(TOK.alnum_ids())
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.35)
            elif name.endswith("bias") and "ln" not in name:
                p.normal_(0.0, 0.1)
    return model.eval()


def prompt_ids(texts: list[str]) -> list[list[int]]:
    return [[BOS, *TOK.encode(t)] for t in texts]


def left_pad(prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    x = torch.full((len(prompts), width), PAD, dtype=torch.long)
    for r, p in enumerate(prompts):
        x[r, width - len(p) :] = torch.tensor(p)
    return x, torch.tensor([len(p) for p in prompts])


@torch.no_grad()
def naive_generate(model: GPT, prompt: list[int], max_new: int, eos_id: int, pad_id: int = PAD) -> list[int]:
    """Greedy decoding by re-running the whole (unpadded) sequence through ``forward`` for every new token."""
    seq = list(prompt)
    out: list[int] = []
    for _ in range(max_new):
        logits, _ = model(torch.tensor([seq]))
        nxt = int(logits[0, -1].argmax())
        out.append(nxt)
        if nxt == eos_id:
            break
        seq.append(nxt)
    return out + [pad_id] * (max_new - len(out))


def cached_generate(
    model: GPT, prompts: list[list[int]], max_new: int = NEW, eos_id: int = EOS, **kw
) -> list[list[int]]:
    x, lens = left_pad(prompts)
    out = model.generate(x, lens, max_new, eos_id=eos_id, pad_id=PAD, **kw)
    assert out.shape == (len(prompts), max_new)
    assert out.dtype == torch.long
    return out.tolist()


# ------------------------------------------------------------------------------------------ greedy vs naive
@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_kv_cache_greedy_matches_naive_decoder_on_left_padded_batch(pos: str) -> None:
    model = make_model(pos)
    prompts = prompt_ids(PROMPT_TEXTS)
    # eos_id=-1: no token can end a row, so every row decodes all NEW tokens.
    got = cached_generate(model, prompts, eos_id=-1)
    expected = [naive_generate(model, p, NEW, eos_id=-1) for p in prompts]
    assert got == expected
    # The comparison has teeth: the model does not just emit one constant token.
    assert len({t for row in got for t in row}) > 3
    assert len({tuple(row) for row in got}) == len(prompts)


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_left_padding_does_not_change_a_rows_generation(pos: str) -> None:
    model = make_model(pos)
    prompts = prompt_ids(PROMPT_TEXTS)
    batched = cached_generate(model, prompts, eos_id=-1)
    alone = [cached_generate(model, [p], eos_id=-1)[0] for p in prompts]
    assert batched == alone


def _eos_case(model: GPT, prompts: list[list[int]]) -> tuple[int, int, int]:
    """(row, step, token): a token one row first emits at ``step`` >= 2 and some other row never emits."""
    free = cached_generate(model, prompts, eos_id=-1)
    for r, row in enumerate(free):
        for t in range(2, NEW - 2):
            tok = row[t]
            if tok in (PAD, BOS) or tok in row[:t]:
                continue
            if any(tok not in other for k, other in enumerate(free) if k != r):
                return r, t, tok
    raise AssertionError("no usable end token in this model's output")


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_rows_stop_at_eos_and_are_padded_while_other_rows_continue(pos: str) -> None:
    model = make_model(pos)
    prompts = prompt_ids(PROMPT_TEXTS)
    free = cached_generate(model, prompts, eos_id=-1)
    row, step, eos = _eos_case(model, prompts)
    got = cached_generate(model, prompts, eos_id=eos)
    # The ending row: identical up to and including its end token, then only padding.
    assert got[row][: step + 1] == free[row][: step + 1]
    assert got[row][step] == eos
    assert got[row][step + 1 :] == [PAD] * (NEW - step - 1)
    # Rows that never emit the token run to the full length, unchanged.
    continuing = [k for k, other in enumerate(free) if eos not in other]
    assert continuing
    for k in continuing:
        assert got[k] == free[k]
    # And everything agrees with the naive decoder that stops at the same token.
    assert got == [naive_generate(model, p, NEW, eos_id=eos) for p in prompts]


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_rows_ending_at_different_steps_match_naive_after_finished_rows_are_dropped(pos: str) -> None:
    model = make_model(pos)
    prompts = prompt_ids(PROMPT_TEXTS * 3)
    free = cached_generate(model, prompts, eos_id=-1)
    # The end token that most rows emit: once half the batch has ended the decoder drops those rows and goes on
    # with the rest, which must not change what the rest produce.
    counts = {tok: sum(tok in row for row in free) for tok in {t for row in free for t in row} - {PAD, BOS}}
    eos = max(counts, key=lambda tok: (counts[tok], -tok))
    ends = {row.index(eos) for row in free if eos in row}
    assert 2 * counts[eos] >= len(prompts) and len(ends) > 1, "this model gives no usable end token"
    got = cached_generate(model, prompts, eos_id=eos)
    assert got == [naive_generate(model, p, NEW, eos_id=eos) for p in prompts]


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_all_rows_ending_at_once_gives_eos_then_padding(pos: str) -> None:
    model = make_model(pos)
    with torch.no_grad():  # bias the output towards the end token: every row emits it first
        model.ln_f.bias.copy_(50.0 * model.wte.weight[EOS] / model.wte.weight[EOS].norm())
    prompts = prompt_ids(PROMPT_TEXTS)
    got = cached_generate(model, prompts, eos_id=EOS)
    assert got == [[EOS] + [PAD] * (NEW - 1)] * len(prompts)


# ---------------------------------------------------------------------------------------- logits of the cache
def _capture_head(model: GPT) -> tuple[list[torch.Tensor], torch.utils.hooks.RemovableHandle]:
    seen: list[torch.Tensor] = []
    handle = model.head.register_forward_hook(lambda _m, _i, out: seen.append(out.detach().clone()))
    return seen, handle


@pytest.mark.parametrize("pos", POSITIONAL_SCHEMES)
def test_prefill_and_step_logits_equal_forward_logits(pos: str) -> None:
    model = make_model(pos)
    prompts = prompt_ids(PROMPT_TEXTS)
    x, lens = left_pad(prompts)
    seen, handle = _capture_head(model)
    try:
        out = model.generate(x, lens, 5, eos_id=-1, pad_id=PAD).tolist()
    finally:
        handle.remove()
    # One head call for the prefill and one per fed-back token (the last new token is never fed back).
    assert len(seen) == 5
    assert seen[0].shape == (len(prompts), TOK.vocab_size)
    for r, p in enumerate(prompts):
        for t in range(5):
            seq = torch.tensor([p + out[r][:t]])
            with torch.no_grad():
                ref = model(seq)[0][0, -1]
            torch.testing.assert_close(seen[t][r], ref, atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------- positions
def test_index_positions_restart_inside_every_run() -> None:
    model = make_model("index")
    ids = torch.tensor([[BOS, *TOK.encode("821+054=")]])
    assert model.positions(ids).tolist() == [[0, 1, 2, 3, 0, 1, 2, 3, 0]]
    ids = torch.tensor([[BOS, *TOK.encode("ab 7x=c")]])
    assert model.positions(ids).tolist() == [[0, 1, 2, 0, 1, 2, 0, 1]]


def test_index_positions_ignore_left_padding() -> None:
    model = make_model("index")
    x, lens = left_pad(prompt_ids(["821+054=", "7*3="]))
    start = x.shape[1] - lens
    assert model.positions(x, start).tolist() == [
        [0, 1, 2, 3, 0, 1, 2, 3, 0],
        [0, 0, 0, 0, 0, 1, 0, 1, 0],
    ]


@pytest.mark.parametrize("pos", ["none", "rope", "learned"])
def test_column_positions_count_from_the_first_real_token(pos: str) -> None:
    model = make_model(pos)
    x, lens = left_pad(prompt_ids(["abcd", "z"]))
    start = x.shape[1] - lens
    assert model.positions(x).tolist() == [[0, 1, 2, 3, 4]] * 2
    assert model.positions(x, start).tolist() == [[0, 1, 2, 3, 4], [0, 0, 0, 0, 1]]


def test_index_generation_of_padded_batch_equals_per_prompt_generation() -> None:
    model = make_model("index", seed=3)
    texts = ["821+054=", "9", "12+345=6", "ab12", "7*3="]
    prompts = prompt_ids(texts)
    batched = cached_generate(model, prompts, eos_id=-1)
    alone = [cached_generate(model, [p], eos_id=-1)[0] for p in prompts]
    assert batched == alone
    assert batched == [naive_generate(model, p, NEW, eos_id=-1) for p in prompts]


# ----------------------------------------------------------------------------------------------- sampling
def _sample(model: GPT, seed: int, temperature: float = 3.0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return cached_generate(model, prompt_ids(PROMPT_TEXTS), eos_id=-1, temperature=temperature, generator=g)


def test_sampling_is_reproducible_with_the_same_generator_seed() -> None:
    model = make_model("rope")
    a, b = _sample(model, 7), _sample(model, 7)
    assert a == b
    assert all(0 <= t < TOK.vocab_size for row in a for t in row)


def test_sampling_differs_across_seeds_and_from_greedy() -> None:
    model = make_model("rope")
    a, b = _sample(model, 7), _sample(model, 8)
    assert a != b
    greedy = cached_generate(model, prompt_ids(PROMPT_TEXTS), eos_id=-1)
    assert a != greedy


# ------------------------------------------------------------------------------------------------- config
def test_config_rejects_unknown_positional_scheme() -> None:
    with pytest.raises(ValueError, match="alibi"):
        GPTConfig(pos="alibi")


def test_config_rejects_n_embd_not_divisible_by_n_head() -> None:
    with pytest.raises(ValueError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)


@pytest.mark.parametrize("pos", ["rope", "index"])
def test_config_rejects_odd_head_size_for_rotary_schemes(pos: str) -> None:
    with pytest.raises(ValueError, match="even head size"):
        GPTConfig(n_embd=12, n_head=4, pos=pos)
    GPTConfig(n_embd=12, n_head=4, pos="learned")  # no rotation, no constraint


def test_config_round_trips_through_dict() -> None:
    cfg = GPTConfig(n_layer=1, n_head=2, n_embd=16, pos="rope")
    assert GPTConfig(**cfg.to_dict()) == cfg


# ------------------------------------------------------------------------------------------ learned limits
def test_learned_positions_raise_past_block_size() -> None:
    model = make_model("learned", block_size=8)
    logits, _ = model(torch.full((2, 8), 5, dtype=torch.long))  # exactly block_size is fine
    assert logits.shape == (2, 8, TOK.vocab_size)
    with pytest.raises(ValueError, match="block_size"):
        model(torch.full((2, 9), 5, dtype=torch.long))


def test_learned_generation_raises_when_prompt_plus_new_tokens_exceed_block_size() -> None:
    model = make_model("learned", block_size=8)
    x, lens = left_pad(prompt_ids(["abcde", "a"]))  # longest prompt: 6 tokens
    out = model.generate(x, lens, 2, eos_id=-1, pad_id=PAD)
    assert out.shape == (2, 2)
    with pytest.raises(ValueError, match="block_size"):
        model.generate(x, lens, 3, eos_id=-1, pad_id=PAD)


@pytest.mark.parametrize("pos", ["none", "rope", "index"])
def test_other_schemes_have_no_length_limit(pos: str) -> None:
    model = make_model(pos, block_size=8)
    logits, _ = model(torch.full((1, 20), 5, dtype=torch.long))
    assert logits.shape == (1, 20, TOK.vocab_size)
    assert torch.isfinite(logits).all()


def test_forward_loss_ignores_masked_targets() -> None:
    model = make_model("rope")
    idx = torch.tensor([prompt_ids(["12+3="])[0]])
    targets = torch.full_like(idx, -100)
    targets[0, -1] = TOK.encode("5")[0]
    logits, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits[0, -1:], targets[0, -1:])
    torch.testing.assert_close(loss, expected)
