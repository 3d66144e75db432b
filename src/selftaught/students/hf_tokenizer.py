"""Tokenizer helpers for Hugging Face students: a character-level tokenizer and the token classes positions need.

The character tokenizer has the built-in student's ids (``<pad>`` 0, ``<s>`` 1, ``</s>`` 2, then printable ASCII
3..97), so every built-in task runs unchanged, and after them what code needs besides (the ``code`` alphabet, the
default): newline 98, tab 99, and the 256 bytes ``<0x00>``..``<0xFF>`` (100..355) that any other character is
written in, as its UTF-8 bytes (byte fallback, as Llama's tokenizer does), so every text round-trips exactly
(HumanEval's prompts hold ``➞`` and ``≤``). ``printable`` is the built-in's alphabet alone, which checkpoints made
before the others were added use. It is a ``PreTrainedTokenizerFast`` and is saved with ``save_pretrained`` next to
the model, so ``AutoTokenizer.from_pretrained`` opens it.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, processors
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
PRINTABLE = "".join(chr(c) for c in range(32, 127))
ALPHABETS = {"code": PRINTABLE + "\n\t", "printable": PRINTABLE}
BYTE_FALLBACK = frozenset({"code"})  # the alphabets that write any other character as its UTF-8 bytes


def char_tokenizer(alphabet: str = "code") -> PreTrainedTokenizerFast:
    """One token per character of ``alphabet`` (``code``: printable ASCII, newline and tab, then a token per byte
    for every other character; ``printable``: printable ASCII only, other characters are dropped), with the ids of
    the module docstring; encoding a prompt adds ``<s>`` in front (as Llama's does)."""
    if alphabet not in ALPHABETS:
        raise ValueError(f"alphabet={alphabet!r}: expected one of {', '.join(ALPHABETS)}")
    vocab = {PAD: 0, BOS: 1, EOS: 2} | {ch: i + 3 for i, ch in enumerate(ALPHABETS[alphabet])}
    fallback = alphabet in BYTE_FALLBACK
    if fallback:
        vocab |= {f"<0x{b:02X}>": len(vocab) + b for b in range(256)}
    # A BPE model without merges is exactly a character-level vocabulary; Fuse joins characters back without spaces
    # (after ByteFallback has joined a character's bytes back into it).
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None, byte_fallback=fallback))
    core.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()]) if fallback else decoders.Fuse()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        padding_side="left",
        clean_up_tokenization_spaces=False,
    )


def run_tokens(tok: PreTrainedTokenizerBase, vocab_size: int) -> torch.Tensor:
    """A (vocab_size,) bool mask of the tokens made of letters/digits only (what "index" positions count along).

    For a sub-word tokenizer a token such as ``"123"`` counts as one step of its run; marker prefixes (GPT-2's
    ``Ġ``, SentencePiece's ``▁``) make a token a break, as the space they stand for does.
    """
    mask = torch.zeros(vocab_size, dtype=torch.bool)
    special = set(tok.all_special_ids)
    for text, i in tok.get_vocab().items():
        if i < vocab_size and i not in special and text.isascii() and text.isalnum():
            mask[i] = True
    return mask


def run_positions(ids: torch.Tensor, in_run: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
    """Position of every token of ``ids`` (B, T) counted within each run of letter/digit tokens: 1, 2, 3 ... along a
    run and 0 on any other token (the built-in student's "index" scheme). Left padding is not in any run."""
    B, T = ids.shape
    cols = torch.arange(T, device=ids.device).expand(B, T)
    run = in_run[ids]
    if start is not None:
        run = run & (cols >= start[:, None])
    last_break = torch.where(run, torch.full_like(cols, -1), cols).cummax(dim=1).values
    return torch.where(run, cols - last_break, torch.zeros_like(cols))
