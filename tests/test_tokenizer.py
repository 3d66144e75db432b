"""CharTokenizer: a fixed printable-ASCII alphabet with PAD, BOS and EOS ids."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selftaught.errors import SelftaughtError
from selftaught.students.tokenizer import CharTokenizer

TOK = CharTokenizer()
printable_ascii = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=200)


def test_special_ids_and_vocab_size() -> None:
    assert (TOK.pad_id, TOK.bos_id, TOK.eos_id) == (0, 1, 2)
    # 95 printable characters (' ' .. '~') after the three special ids.
    assert TOK.vocab_size == 98
    assert TOK.encode(" ~") == [3, 97]
    assert TOK.encode("0") == [3 + ord("0") - 32]


@given(printable_ascii)
def test_encode_decode_round_trip(text: str) -> None:
    ids = TOK.encode(text)
    assert len(ids) == len(text)
    assert all(3 <= i < TOK.vocab_size for i in ids)
    assert TOK.decode(ids) == text


def test_encode_is_injective_on_the_alphabet() -> None:
    alphabet = "".join(chr(c) for c in range(32, 127))
    ids = TOK.encode(alphabet)
    assert ids == list(range(3, 98))


def test_decode_stops_at_eos_and_skips_pad_and_bos() -> None:
    ab, cd = TOK.encode("ab"), TOK.encode("cd")
    ids = [TOK.pad_id, TOK.pad_id, TOK.bos_id, *ab, TOK.pad_id, *cd, TOK.eos_id, *TOK.encode("zz"), TOK.eos_id]
    assert TOK.decode(ids) == "abcd"
    assert TOK.decode([TOK.eos_id, *ab]) == ""
    assert TOK.decode([]) == ""


def test_decode_accepts_tensor_like_ints() -> None:
    import torch

    ids = torch.tensor([TOK.bos_id, *TOK.encode("42"), TOK.eos_id, 5])
    assert TOK.decode(ids) == "42"


@pytest.mark.parametrize("text", ["caf\u00e9", "tab\there", "new\nline", "\x7f", "\x1f", "snow\u2603"])
def test_non_printable_characters_raise(text: str) -> None:
    with pytest.raises(SelftaughtError, match="not printable ASCII"):
        TOK.encode(text)


def test_alnum_ids_cover_exactly_letters_and_digits() -> None:
    ids = TOK.alnum_ids()
    expected = sorted(TOK.encode(string.ascii_letters + string.digits))
    assert sorted(ids) == expected
    assert len(ids) == len(set(ids)) == 62
    assert TOK.decode(sorted(ids)) == string.digits + string.ascii_uppercase + string.ascii_lowercase
    # nothing else: punctuation and space are outside the runs
    assert not set(ids) & set(TOK.encode(" +=-*,.:;!?_"))
