"""What a code task declares for the property verifier: how to draw inputs and what must hold of the outputs.

A task that supports property checking defines ``properties(problem) -> PropertySpec | None``. The spec names a
Hypothesis strategy for one input, the properties an output must have (built-in ones by name, such as
``"sorted"`` and ``"permutation"``, or ``Property`` objects), and optionally a reference: a trusted function of the
task's own (run in this process) or the source of a reference solution from a data file (run in the sandbox like
any candidate). Properties are checked in this process on the outputs the sandbox sends back; they never see the
candidate's code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from selftaught.errors import SelftaughtError


@dataclass(frozen=True)
class Property:
    """``holds(x, y)``: whether output ``y`` for input ``x`` has the property; ``expected`` says it in words
    ("sorted output"), for the feedback "for x = [1, 0]: expected sorted output, got [1, 0]". For a function of
    several arguments ``x`` is the tuple of arguments."""

    name: str
    holds: Callable[[Any, Any], bool]
    expected: str


def _sorted(x: Any, y: Any) -> bool:
    return isinstance(y, list) and all(a <= b for a, b in zip(y, y[1:]))


def _descending(x: Any, y: Any) -> bool:
    return isinstance(y, list) and all(a >= b for a, b in zip(y, y[1:]))


def _permutation(x: Any, y: Any) -> bool:
    return isinstance(y, list) and sorted(map(repr, y)) == sorted(map(repr, x))


def _subsequence(x: Any, y: Any) -> bool:
    if not isinstance(y, list):
        return False
    rest = iter(x)
    return all(any(a == b for b in rest) for a in y)  # each element found after the previous one


def _elements(x: Any, y: Any) -> bool:
    return isinstance(y, list) and all(a in x for a in y)


PROPERTIES: dict[str, Property] = {
    p.name: p
    for p in (
        Property("list", lambda x, y: isinstance(y, list), "a list"),
        Property("sorted", _sorted, "sorted output"),
        Property("descending", _descending, "output in descending order"),
        Property("permutation", _permutation, "a permutation of the input"),
        Property("same-length", lambda x, y: len(y) == len(x), "output as long as the input"),
        Property("no-longer", lambda x, y: len(y) <= len(x), "output no longer than the input"),
        Property("subsequence", _subsequence, "a subsequence of the input"),
        Property("elements", _elements, "only elements of the input"),
    )
}


def resolve_properties(checks: Sequence[str | Property]) -> tuple[Property, ...]:
    """Named properties looked up in ``PROPERTIES``; an unknown name is a one-line ``SelftaughtError``."""
    out = []
    for check in checks:
        if isinstance(check, Property):
            out.append(check)
        elif isinstance(check, str) and check in PROPERTIES:
            out.append(PROPERTIES[check])
        else:
            known = ", ".join(PROPERTIES)
            raise SelftaughtError(f"unknown property {check!r}: the known properties are {known}")
    return tuple(out)


@dataclass(frozen=True)
class PropertySpec:
    """What the property verifier needs for one problem.

    strategy: a Hypothesis strategy drawing one input (for ``unpack=True``, a tuple of arguments); its values must
        be Python literals (``ast.literal_eval(repr(v)) == v``), since they travel to the sandbox as source text.
    checks: properties every output must have (names from ``PROPERTIES`` or ``Property`` objects).
    reference: a trusted function of the task, run in this process; the output must equal its output.
    reference_program: instead, the source of a reference solution from a data file (defining ``entry_point``),
        run in the sandbox. Inputs on which the reference raises are outside the problem's domain: dropped.
    program: turns an attempt into the source the sandbox runs (it must define ``entry_point``).
    entry_point: the function called with each input.
    unpack: call ``entry_point(*x)`` rather than ``entry_point(x)``.
    arg_names: how the feedback names the input ("for x = ...", or "for a = 1, b = 2" when unpacked).
    assume: inputs the properties are stated for; shrinking never leaves them (default: all).
    """

    strategy: Any
    checks: tuple[str | Property, ...] = ()
    reference: Callable[..., Any] | None = None
    reference_program: str | None = None
    program: Callable[[str], str] = field(default=lambda answer: answer)
    entry_point: str = "f"
    unpack: bool = False
    arg_names: tuple[str, ...] = ("x",)
    assume: Callable[[Any], bool] | None = None

    def describe(self, x: Any) -> str:
        """The input as the feedback shows it: 'x = [1, 0]'."""
        if self.unpack and isinstance(x, tuple) and len(self.arg_names) == len(x):
            return ", ".join(f"{n} = {v!r}" for n, v in zip(self.arg_names, x, strict=True))
        return f"{self.arg_names[0] if len(self.arg_names) == 1 else 'args'} = {x!r}"
