"""The Task protocol: a family of problems with an integer difficulty, a text format and (usually) an oracle."""

from __future__ import annotations

import abc
import operator
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.types import Problem


@dataclass(frozen=True)
class Fix:
    """An earlier repair a refine prompt may show: the attempt that failed, the feedback it got, its fixed form."""

    failed: str
    feedback: str
    fixed: str


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def printable(text: str, limit: int | None = None) -> str:
    """``text`` on one line of printable ASCII (what the built-in character tokenizer knows): any run of other
    characters (newlines, tabs, non-ASCII) becomes one space, and the ends are stripped; cut to ``limit``
    characters when given."""
    out = _UNPRINTABLE.sub(" ", text).strip()
    return out if limit is None else out[: max(0, limit)].rstrip()


class Task(abc.ABC):
    """A family of problems whose difficulty is an int (for the built-in tasks, a length).

    Subclasses set ``name`` (the registry name) and ``description`` (one line with a format example) and implement
    ``sample``, ``answer``, ``plausible`` and ``max_answer_len``. Prompts are printable ASCII and each task's prompts
    have a shape no other task produces, so several tasks can be mixed in one model without ambiguity.
    """

    name: str = ""
    description: str = ""
    example_difficulty: int = 3
    min_difficulty: int = 1
    # At most one right answer per problem (the extracted answer the verifier sees): True for a task checked by exact
    # match, False where many answers are right (programs); None: not known. B-STaR control skips its grid when True.
    unique_answer: bool | None = None

    def validate_difficulty(self, difficulty: int) -> int:
        """``difficulty`` as a plain int; ``ValueError`` if below ``min_difficulty``, ``TypeError`` if not an int.

        Integer-like values (such as numpy integers a teacher may compute) are accepted and converted, so problems
        always carry a plain int.
        """
        try:
            # bool is an int subclass; True as a difficulty is almost certainly a mistake.
            value = operator.index(difficulty) if not isinstance(difficulty, bool) else None
        except TypeError:
            value = None
        if value is None:
            raise TypeError(f"difficulty {difficulty!r} for task {self.name} must be an int")
        if value < self.min_difficulty:
            raise ValueError(f"difficulty {value} out of range for task {self.name} (>= {self.min_difficulty})")
        return value

    @abc.abstractmethod
    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        """Draw one problem using only ``rng``, so that a seed reproduces it.

        The returned problem has ``seed=0``: the caller knows which seed it used and records it.
        """

    @abc.abstractmethod
    def answer(self, problem: Problem) -> str | None:
        """The exact answer to ``problem``, worked out from its prompt; ``None`` when the task has no oracle.

        Computing it from the prompt (rather than reading ``problem.target``) keeps the oracle usable on problems
        whose target was withheld.
        """

    def extract(self, completion: str) -> str:
        """The answer inside a student's completion (a chatty model may wrap it in words). The default: all of it.

        The loop applies it to every completion before the verifier or the evaluation sees it.
        """
        return completion

    def check(self, problem: Problem, answer: str) -> float | None:
        """Score ``answer`` in [0, 1]: exact match against ``self.answer``; ``None`` when there is no oracle."""
        expected = self.answer(problem)
        if expected is None:
            return None
        return 1.0 if answer == expected else 0.0

    def check_many(self, items: Sequence[tuple[Problem, str]]) -> list[float | None]:
        """``check`` over many (problem, answer) pairs; a task whose check runs programs overrides it to run them
        in parallel (same results, same order)."""
        return [self.check(problem, answer) for problem, answer in items]

    @abc.abstractmethod
    def plausible(self, problem: Problem, answer: str) -> bool:
        """Whether ``answer`` has a length and alphabet possible for this input, without knowing the right answer.

        This is the rule the length filter applies to self-labelled answers.
        """

    def space(self, low: int, high: int) -> tuple[tuple[float, float], ...]:
        """The continuous parameter box of difficulties ``low..high``: one ``(low, high)`` pair per dimension.

        The first dimension is the difficulty; a task may add more (how varied its inputs are, say), which teachers
        over continuous parameters (ALP-GMM) explore. A problem drawn by ``sample`` sits at the top of every
        further dimension. The default: the difficulty alone.
        """
        return ((float(low), float(high)),)

    def sample_at(self, rng: random.Random, params: tuple[float, ...]) -> Problem:
        """A problem drawn at a point of ``space``. The default: ``sample`` at the nearest integer difficulty."""
        return self.sample(rng, max(self.min_difficulty, round(params[0])))

    def split(self, problem: Problem, rng: random.Random) -> list[Problem] | None:
        """Easier problems whose answers ``join`` assembles into this problem's answer; ``None`` if it cannot split.

        The default: the task does not split its problems.
        """
        return None

    def join(self, problem: Problem, parts: list[Problem], answers: list[str]) -> str | None:
        """This problem's answer from the answers to ``split``'s parts, or ``None`` when they cannot be joined."""
        return None

    def in_range(self, problem: Problem, answer: str) -> bool | None:
        """Whether ``answer``'s value lies in the range this input allows, without knowing the right answer.

        A magnitude check, the rule the range filter applies (for addition: no smaller than the larger operand and
        under twice its power of ten). ``None`` (the default): the task has no such rule.
        """
        return None

    def refine_prompt(
        self,
        problem: Problem,
        attempt: str | None,
        feedback: str,
        memory: Sequence[Fix] = (),
        feedback_chars: int = 80,
    ) -> str:
        """The prompt of a refine turn (``loop.attempts = "refine"``): the problem's own prompt, after the earlier
        fixes retrieved from the memory and the previous turn's ``attempt`` with its ``feedback`` (cut to
        ``feedback_chars``). With no attempt and no memory it is the plain prompt, so turn 1 asks as ATTEMPT does.

        The default is compact and printable ASCII only (the built-in tokenizer's alphabet)::

            {fix: x[::-1] => sorted(x)} {was: x | tests: 1 of 4 passed; failed: ...} L:[3,1]>[1,3]=

        The problem's prompt comes last, so the model answers right after the text it was trained to answer.
        A task may override this with a form that suits its answers better.
        """
        head = [f"{{fix: {printable(m.failed)} => {printable(m.fixed)}}}" for m in memory]
        if attempt is not None:
            why = printable(" ".join(feedback.split()), feedback_chars)  # words on one line, cut
            head.append(f"{{was: {printable(attempt)}{f' | {why}' if why else ''}}}")
        return " ".join([*head, problem.prompt]) if head else problem.prompt

    def held_out(self, difficulty: int) -> list[Problem] | None:
        """The problems kept back for evaluation at ``difficulty``, for a task with a fixed set of them (a file
        split into training and held-out records): the held-out sets are then exactly these problems, each once,
        and ``sample`` never draws one of them. ``None`` (the default): held-out problems are drawn with ``sample``
        from seeds, like training problems, and training steers clear of their prompts."""
        return None

    def size(self, difficulty: int) -> int | None:
        """How many distinct problems ``sample`` draws from at ``difficulty``, for a task with a finite set of them;
        the loop refuses to draw more labelled problems than that. ``None`` (the default): so many that repeats do
        not matter (a generated task), or the task allows drawing its problems over and over."""
        return None

    def probe(self, problem: Problem) -> list[str] | None:
        """The calls whose values ``relabel`` reads: Python expressions on the answer's program applied to the
        problem's inputs (``f([3, 1, 2])``), run in the sandbox, which returns each value as plain data.
        ``None`` (the default): the task does not relabel."""
        return None

    def relabel(self, problem: Problem, answer: str, outputs: Sequence[Any]) -> Problem | None:
        """Hindsight relabelling: the problem ``answer`` does solve, or ``None`` where that problem is degenerate.

        ``outputs[i]`` is the value the answer's program computed for ``probe(problem)[i]``, or ``NO_VALUE``
        (``selftaught.types``) where that call raised, was stopped or returned something that is not plain data.
        The problem returned keeps the inputs and takes the attempt's own outputs as its shown examples and its
        tests, and carries the difficulty of the program the answer really is. ``None`` when the program errored,
        its output is constant or the identity, or the examples do not pin the function down under the task's own
        rule. (Duplicates of problems already kept are the caller's to drop.) The default: no relabelling.
        """
        return None

    def compose(self, inner: str, outer: str) -> str | None:
        """An answer that applies ``outer`` to what ``inner`` gives (for frontier search: two shallow programs the
        model wrote, joined into a deeper one), or ``None`` when they do not compose. The default: no composing."""
        return None

    @abc.abstractmethod
    def max_answer_len(self, difficulty: int) -> int:
        """The longest answer a problem of ``difficulty`` can have; it bounds generation."""

    def _bad_prompt(self, prompt: str) -> SelftaughtError:
        return SelftaughtError(f"prompt {prompt!r} is not in the format of task {self.name}: {self.description}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def provides(task: Task, method: str) -> bool:
    """Whether ``task`` implements the optional ``method`` (``split``, ``in_range``, ``relabel``) rather than Task's
    default."""
    return getattr(type(task), method) is not getattr(Task, method)
