"""Arithmetic tasks on d-digit numbers: reversed addition (the default), plain addition and reversed multiplication.

Numbers are handled as digit strings with schoolbook arithmetic rather than through ``int``: difficulties may reach
thousands of digits, where ``int``/``str`` conversion is quadratic and, past 4300 digits, refused by Python.
"""

from __future__ import annotations

import random
import re

from selftaught.tasks.base import Task
from selftaught.types import Problem

_DIGITS = "0123456789"
_NONZERO = "123456789"


def _sample_number(rng: random.Random, digits: int) -> str:
    """A number with exactly ``digits`` digits, most significant first, uniform over its range.

    One digit means 0..9; otherwise the first digit is nonzero, i.e. uniform in [10^(d-1), 10^d - 1].
    """
    if digits == 1:
        return rng.choice(_DIGITS)
    return rng.choice(_NONZERO) + "".join(rng.choices(_DIGITS, k=digits - 1))


def _strip_high_zeros(lsd_first: str) -> str:
    """Drop zeros above the most significant nonzero digit of a least-significant-first number; keep "0"."""
    return lsd_first.rstrip("0") or "0"


def _add_lsd_first(x: str, y: str) -> str:
    """The sum of two numbers written least-significant digit first, written the same way."""
    out = []
    carry = 0
    for i in range(max(len(x), len(y))):
        total = carry + (ord(x[i]) - 48 if i < len(x) else 0) + (ord(y[i]) - 48 if i < len(y) else 0)
        out.append(chr(48 + total % 10))
        carry = total // 10
    if carry:
        out.append(chr(48 + carry))
    return _strip_high_zeros("".join(out))


def _mul_digit_lsd_first(x: str, m: int) -> str:
    """``x`` (least-significant digit first) times the single digit ``m``, written the same way."""
    out = []
    carry = 0
    for ch in x:
        total = (ord(ch) - 48) * m + carry
        out.append(chr(48 + total % 10))
        carry = total // 10
    if carry:
        out.append(chr(48 + carry))
    return _strip_high_zeros("".join(out))


def _is_digits(text: str) -> bool:
    # str.isdigit() also accepts non-ASCII digits such as "²", which no task produces.
    return bool(text) and all(ch in _DIGITS for ch in text)


class _SumLike(Task):
    """Shared rules of tasks whose answer has as many digits as the longer operand, or one more.

    Subclasses set ``_format``, a pattern whose groups are the operands (as written in the prompt).
    """

    unique_answer = True  # one number is right

    _format: re.Pattern[str]

    def _operands(self, prompt: str) -> tuple[str, ...]:
        match = self._format.fullmatch(prompt)
        if match is None:
            raise self._bad_prompt(prompt)
        return match.groups()

    def plausible(self, problem: Problem, answer: str) -> bool:
        # The length comes from the prompt rather than problem.difficulty, so the rule holds for any input.
        d = max(len(operand) for operand in self._operands(problem.prompt))
        return _is_digits(answer) and d <= len(answer) <= d + 1

    def max_answer_len(self, difficulty: int) -> int:
        difficulty = self.validate_difficulty(difficulty)
        return difficulty + 1


def _value_key(lsd_first: str) -> tuple[int, str]:
    """Sort key that orders digit strings (least significant first, no high zeros) by value."""
    return len(lsd_first), lsd_first[::-1]


class _AdditionRange(_SumLike):
    """The magnitude rule of a sum of two numbers: max(a, b) <= a + b < 2 * 10^L, L = the longer operand's length.

    It compares digit strings and adds nothing, so it cannot tell the right sum from a wrong one of the same size;
    what it rejects is a sum smaller than an operand (a dropped final carry) or one that starts with a digit other
    than 1 when it is longer than both operands. Subclasses set ``_lsd_first`` (how numbers are written).
    """

    _lsd_first: bool

    def in_range(self, problem: Problem, answer: str) -> bool:
        if not _is_digits(answer):
            return False
        value = answer if self._lsd_first else answer[::-1]  # compared least-significant digit first
        if value != _strip_high_zeros(value):  # a leading zero is never how the task writes a sum
            return False
        operands = [op if self._lsd_first else op[::-1] for op in self._operands(problem.prompt)]
        width = max(len(op) for op in operands)
        larger = max((_strip_high_zeros(op) for op in operands), key=_value_key)
        below_cap = len(value) <= width or (len(value) == width + 1 and value[-1] == "1")
        return _value_key(value) >= _value_key(larger) and below_cap


class ReversedAddition(_AdditionRange):
    """Addition with operands and sum written least-significant digit first.

    In this order a model emits each digit after the carry it depends on, which is what lets small transformers
    length-generalise on it (Lee et al., "Self-Improving Transformers").
    """

    name = "reversed-addition"
    description = "add two d-digit numbers written least-significant digit first: 128+450 is 821+054=875"
    _format = re.compile(r"([0-9]+)\+([0-9]+)=")
    _lsd_first = True

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        difficulty = self.validate_difficulty(difficulty)
        a = _sample_number(rng, difficulty)[::-1]
        b = _sample_number(rng, difficulty)[::-1]
        return Problem(self.name, difficulty, f"{a}+{b}=", _add_lsd_first(a, b), 0)

    def answer(self, problem: Problem) -> str:
        a, b = self._operands(problem.prompt)
        return _add_lsd_first(a, b)

    def split(self, problem: Problem, rng: random.Random) -> list[Problem] | None:
        """Cut both operands after their k lowest digits: a low and a high problem, each shorter than this one.

        k is drawn among the cuts that leave both low parts without a leading zero (so both parts look like the
        task's own problems); ``None`` if there is no such cut.
        """
        a, b = self._operands(problem.prompt)
        if len(a) != len(b):
            return None
        cuts = [k for k in range(1, len(a)) if a[k - 1] != "0" and b[k - 1] != "0"]
        if not cuts:
            return None
        k = rng.choice(cuts)
        return [
            Problem(self.name, k, f"{a[:k]}+{b[:k]}=", None, problem.seed),
            Problem(self.name, len(a) - k, f"{a[k:]}+{b[k:]}=", None, problem.seed),
        ]

    def join(self, problem: Problem, parts: list[Problem], answers: list[str]) -> str | None:
        """Low answer then high answer, written end to end: right exactly when no carry crosses the cut.

        The low answer says whether one does: k digits means none, k + 1 means one, and then the parts cannot be
        joined by writing them end to end, so ``None``.
        """
        low, high = answers
        k = parts[0].difficulty
        if len(low) != k or not _is_digits(low) or not _is_digits(high):
            return None
        return low + high


class Addition(_AdditionRange):
    """Addition in the usual most-significant-first order; the harder baseline for reversed addition.

    The prompt starts with ``A:`` so that it cannot be mistaken for a reversed-addition prompt when both tasks are
    trained into one model.
    """

    name = "addition"
    description = "add two d-digit numbers in the usual order: A:128+450=578"
    _format = re.compile(r"A:([0-9]+)\+([0-9]+)=")
    _lsd_first = False

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        difficulty = self.validate_difficulty(difficulty)
        a = _sample_number(rng, difficulty)
        b = _sample_number(rng, difficulty)
        return Problem(self.name, difficulty, f"A:{a}+{b}=", _add_lsd_first(a[::-1], b[::-1])[::-1], 0)

    def answer(self, problem: Problem) -> str:
        a, b = self._operands(problem.prompt)
        return _add_lsd_first(a[::-1], b[::-1])[::-1]


class Multiplication(_SumLike):
    """A d-digit number (least-significant digit first) times one digit 1..9, product also reversed.

    The product of a d-digit number and a digit has d or d + 1 digits, the same length rule as addition.
    """

    name = "multiplication"
    description = "multiply a d-digit number written least-significant digit first by a digit: 128*4 is 821*4=215"
    _format = re.compile(r"([0-9]+)\*([1-9])=")

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        difficulty = self.validate_difficulty(difficulty)
        a = _sample_number(rng, difficulty)[::-1]
        m = rng.randint(1, 9)
        return Problem(self.name, difficulty, f"{a}*{m}=", _mul_digit_lsd_first(a, m), 0)

    def answer(self, problem: Problem) -> str:
        a, m = self._operands(problem.prompt)
        return _mul_digit_lsd_first(a, int(m))
