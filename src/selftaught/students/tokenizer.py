"""Character tokenizer: one id per printable ASCII character, plus padding, begin and end tokens."""

from __future__ import annotations

from collections.abc import Sequence

from selftaught.errors import SelftaughtError

PAD, BOS, EOS = 0, 1, 2
_FIRST = 32  # ' '
_LAST = 126  # '~'
_OFFSET = 3


class CharTokenizer:
    """Maps printable ASCII to ids ``3..97``; ids 0, 1, 2 are PAD, BOS and EOS.

    A fixed alphabet (rather than one learned from data) means any task written in printable ASCII runs
    without re-building the vocabulary, and checkpoints stay compatible across tasks.
    """

    pad_id, bos_id, eos_id = PAD, BOS, EOS
    vocab_size = _OFFSET + (_LAST - _FIRST + 1)

    def encode(self, text: str) -> list[int]:
        ids = []
        for ch in text:
            code = ord(ch)
            if not _FIRST <= code <= _LAST:
                raise SelftaughtError(
                    f"character {ch!r} in {text!r} is not printable ASCII; the tokenizer cannot encode it"
                )
            ids.append(code - _FIRST + _OFFSET)
        return ids

    def unencodable(self, text: str) -> set[str]:
        """The characters of ``text`` outside the alphabet (anything but printable ASCII: newline and tab too)."""
        return {ch for ch in set(text) if not _FIRST <= ord(ch) <= _LAST}

    def alnum_ids(self) -> list[int]:
        """Ids of letters and digits: the characters that form numbers and words."""
        return [c - _FIRST + _OFFSET for c in range(_FIRST, _LAST + 1) if chr(c).isalnum()]

    def decode(self, ids: Sequence[int]) -> str:
        """Decode ids up to the first EOS; PAD and BOS are skipped."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i >= _OFFSET:
                out.append(chr(i - _OFFSET + _FIRST))
        return "".join(out)
