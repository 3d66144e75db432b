"""String tasks whose answer is as long as the input: copy, reversal and sorting.

They are cheap controls for the arithmetic tasks: the answer length is known from the prompt, so the length filter
only rules out wrong-length or wrong-alphabet answers, and errors show what the model gets wrong besides carries.
"""

from __future__ import annotations

import abc
import random
import string

from selftaught.tasks.base import Task
from selftaught.types import Problem


class _Transform(Task):
    """A task ``{marker}{s}=`` -> ``transform(s)`` where ``s`` is ``difficulty`` characters from ``_alphabet``.

    The answer uses the same alphabet and has the same length as ``s``; that is its plausibility rule.
    """

    _marker: str
    _alphabet: str
    unique_answer = True  # one string is the transform

    @abc.abstractmethod
    def _transform(self, text: str) -> str:
        """The answer for input ``text``."""

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        difficulty = self.validate_difficulty(difficulty)
        text = "".join(rng.choices(self._alphabet, k=difficulty))
        return Problem(self.name, difficulty, f"{self._marker}{text}=", self._transform(text), 0)

    def _input(self, prompt: str) -> str:
        body = prompt[len(self._marker) : -1]
        if not (prompt.startswith(self._marker) and prompt.endswith("=") and self._in_alphabet(body)):
            raise self._bad_prompt(prompt)
        return body

    def _in_alphabet(self, text: str) -> bool:
        return bool(text) and all(ch in self._alphabet for ch in text)

    def answer(self, problem: Problem) -> str:
        return self._transform(self._input(problem.prompt))

    def plausible(self, problem: Problem, answer: str) -> bool:
        return len(answer) == len(self._input(problem.prompt)) and self._in_alphabet(answer)

    def max_answer_len(self, difficulty: int) -> int:
        difficulty = self.validate_difficulty(difficulty)
        return difficulty


class Copy(_Transform):
    """Repeat a string of lowercase letters."""

    name = "copy"
    description = "copy d lowercase letters: C:qwe=qwe"
    _marker = "C:"
    _alphabet = string.ascii_lowercase

    def _transform(self, text: str) -> str:
        return text


class Reversal(_Transform):
    """Write a string of lowercase letters backwards."""

    name = "reversal"
    description = "reverse d lowercase letters: R:qwe=ewq"
    _marker = "R:"
    _alphabet = string.ascii_lowercase

    def _transform(self, text: str) -> str:
        return text[::-1]


class Sorting(_Transform):
    """Sort d digits in ascending order (repeats kept)."""

    name = "sorting"
    description = "sort d digits in ascending order: S:3141=1134"
    _marker = "S:"
    _alphabet = string.digits

    def _transform(self, text: str) -> str:
        return "".join(sorted(text))

    def space(self, low: int, high: int) -> tuple[tuple[float, float], ...]:
        """Two dimensions: the length and how many distinct digits the input may use (2..10)."""
        return ((float(low), float(high)), (2.0, 10.0))

    def sample_at(self, rng: random.Random, params: tuple[float, ...]) -> Problem:
        length = self.validate_difficulty(max(self.min_difficulty, round(params[0])))
        symbols = min(10, max(2, round(params[1]))) if len(params) > 1 else 10
        text = "".join(rng.choices(self._alphabet[:symbols], k=length))
        return Problem(self.name, length, f"{self._marker}{text}=", self._transform(text), 0)
