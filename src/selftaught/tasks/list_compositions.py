"""Compositions of list primitives, the hidden functions of the list-functions task, as the task's own trusted code.

A composition is a list of steps, applied first to last: reverse, sort, add k to each element, keep the even / odd /
greater-than-k elements, take or drop the first k (``Op``). Here: applying one (``apply``), its canonical expression
and back (``expression``, ``ops_of``), whether shown examples pin every step down (``pinned``), and the checks a
composition read from a model's answer must pass (``known``, ``kind_of``, ``minimal``).
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Sequence
from typing import Any

from selftaught.errors import SelftaughtError

MAX_DEPTH = 6  # kinds of primitive; none repeats within a composition
KINDS = ("rev", "sort", "add", "filter", "take", "drop")
FILTERS = ("even", "odd", "gt")

Op = tuple  # ("rev",) ("sort",) ("add", k) ("even",) ("odd",) ("gt", k) ("take", k) ("drop", k)


def apply(ops: Sequence[Sequence[Any]], xs: list[int]) -> list[int]:
    """The composition ``ops`` (applied first to last) on ``xs``: the task's own trusted reference."""
    out = list(xs)
    for op in ops:
        name = op[0]
        if name == "rev":
            out = out[::-1]
        elif name == "sort":
            out = sorted(out)
        elif name == "add":
            out = [v + op[1] for v in out]
        elif name == "even":
            out = [v for v in out if v % 2 == 0]
        elif name == "odd":
            out = [v for v in out if v % 2 == 1]
        elif name == "gt":
            out = [v for v in out if v > op[1]]
        elif name == "take":
            out = out[: op[1]]
        elif name == "drop":
            out = out[op[1] :]
        else:
            raise ValueError(f"unknown list primitive {name!r}")
    return out


def normalise(ops: Sequence[Sequence[Any]]) -> list[Op]:
    """The same function with the filter and the additions side by side, so that one comprehension holds both.

    Adding k commutes with every other primitive once a later filter is restated on the values before the addition
    (v + k > t is v > t - k; an odd k swaps even and odd); the filter commutes with reverse and sort.
    """
    plain: list[Op] = []
    k = 0
    for op in ops:
        if op[0] == "add":
            k += op[1]
        elif op[0] == "gt":
            plain.append(("gt", op[1] - k))
        elif op[0] in ("even", "odd"):
            plain.append(op if k % 2 == 0 else ({"even": "odd", "odd": "even"}[op[0]],))
        else:
            plain.append(tuple(op))
    at = next((i for i, op in enumerate(plain) if op[0] in FILTERS), None)
    if at is not None:
        while at + 1 < len(plain) and plain[at + 1][0] in ("rev", "sort"):
            plain[at], plain[at + 1] = plain[at + 1], plain[at]
            at += 1
    if k:
        plain.insert(len(plain) if at is None else at + 1, ("add", k))
    return plain


def expression(ops: Sequence[Sequence[Any]]) -> str:
    """The canonical expression of ``ops`` (``normalise``d): a run of maps and filters becomes one comprehension.

    ``[v+2 for v in sorted(x) if v>3][:2]`` is sort, then keep > 3, then add 2, then take 2.
    """
    ops = normalise(ops)
    e = "x"
    k, cond = 0, ""  # a pending comprehension over e: [v+k for v in e if cond]

    def flush() -> str:
        if not k and not cond:
            return e
        return f"[v{f'+{k}' if k else ''} for v in {e}{f' if {cond}' if cond else ''}]"

    for op in ops:
        name = op[0]
        if name == "add":
            k += op[1]
            continue
        if name in FILTERS:
            if cond:  # a second filter: close the first comprehension
                e, k, cond = flush(), 0, ""
            if name == "gt":  # v + k > t  <=>  v > t - k
                cond = f"v>{op[1] - k}"
            else:
                even = (name == "even") == (k % 2 == 0)  # adding an odd k swaps even and odd
                cond = "v%2<1" if even else "v%2"
            continue
        e, k, cond = flush(), 0, ""
        if name == "rev":
            e = f"{e}[::-1]"
        elif name == "sort":
            e = f"sorted({e})"
        elif name == "take":
            e = f"{e}[:{op[1]}]"
        elif name == "drop":
            e = f"{e}[{op[1]}:]"
    return flush()


# Every primitive instance a composition step could be (the sampler's and a little around them): the alternatives
# that the shown examples must rule out for a step to count as pinned down.
_INSTANCES: tuple[Op, ...] = (
    ("rev",),
    ("sort",),
    ("even",),
    ("odd",),
    *(("add", k) for k in range(1, 5)),
    *(("gt", k) for k in range(0, 10)),
    *(("take", k) for k in range(0, 7)),
    *(("drop", k) for k in range(0, 7)),
)


def pinned(ops: Sequence[Op], inputs: Sequence[list[int]], hidden: Sequence[list[int]]) -> bool:
    """Whether the shown ``inputs`` pin every step of ``ops`` down: leaving a step out, or putting any other
    primitive (or the same with another constant) in its place, changes a shown output, unless the result is the
    same function on the ``hidden`` inputs too (sorting twice, say). Without this, a threshold or a count could be
    guessed right on the examples and wrong on the hidden tests, and no learner could get such problems right."""
    shown = [apply(ops, xs) for xs in inputs]
    truth = [apply(ops, xs) for xs in hidden]
    for i in range(len(ops)):
        for alt in (None, *_INSTANCES):
            if alt == tuple(ops[i]):
                continue
            other = [*ops[:i], *([alt] if alt else []), *ops[i + 1 :]]
            if all(apply(other, xs) == ys for xs, ys in zip(inputs, shown, strict=True)) and any(
                apply(other, xs) != ys for xs, ys in zip(hidden, truth, strict=True)
            ):
                return False
    return True


def _slice_int(node: ast.AST | None) -> int | None:
    return node.value if isinstance(node, ast.Constant) and type(node.value) is int else None


def _cond_ops(cond: ast.AST) -> list[Op]:
    src = ast.unparse(cond).replace(" ", "")
    if src == "v%2<1":
        return [("even",)]
    if src == "v%2":
        return [("odd",)]
    m = re.fullmatch(r"v>(-?\d+)", src)
    if m:
        return [("gt", int(m.group(1)))]
    raise ValueError(src)


def _ops_of(node: ast.AST) -> list[Op]:
    """The inverse of ``expression`` on canonical expressions (raises ValueError on anything else)."""
    if isinstance(node, ast.Name) and node.id == "x":
        return []
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "sorted":
        return [*_ops_of(node.args[0]), ("sort",)]
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        s, inner = node.slice, _ops_of(node.value)
        if s.lower is None and s.upper is None and isinstance(s.step, ast.UnaryOp):
            return [*inner, ("rev",)]
        if s.lower is None and s.step is None and _slice_int(s.upper) is not None:
            return [*inner, ("take", _slice_int(s.upper))]
        if s.upper is None and s.step is None and _slice_int(s.lower) is not None:
            return [*inner, ("drop", _slice_int(s.lower))]
    if isinstance(node, ast.ListComp) and len(node.generators) == 1:
        gen = node.generators[0]
        ops = _ops_of(gen.iter)
        for cond in gen.ifs:
            ops += _cond_ops(cond)
        if isinstance(node.elt, ast.BinOp) and isinstance(node.elt.op, ast.Add):
            ops.append(("add", _slice_int(node.elt.right)))
        return ops
    raise ValueError(ast.unparse(node))


def ops_of(target: str) -> list[Op]:
    """The composition a canonical expression stands for (for a problem whose meta was not kept)."""
    try:
        with warnings.catch_warnings():  # a model's text such as "1x" warns as it parses; it is refused anyway
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(target, mode="eval")
        return _ops_of(tree.body)
    except (SyntaxError, ValueError, AttributeError, IndexError) as e:
        raise SelftaughtError(f"target {target!r} is not a canonical list-functions expression ({e})") from None


def kind_of(op: Op) -> str:
    return "filter" if op[0] in FILTERS else op[0]


def known(op: Op) -> bool:
    """A step this task's problems can have: a primitive of its kinds, with a constant in the sampler's reach."""
    name = op[0]
    if name in ("rev", "sort", "even", "odd"):
        return len(op) == 1
    if len(op) != 2 or type(op[1]) is not int:
        return False
    return (
        (name == "add" and 1 <= op[1] <= 9)
        or (name == "gt" and 0 <= op[1] <= 9)
        or (name in ("take", "drop") and 1 <= op[1] <= 6)
    )


def minimal(ops: list[Op], inputs: Sequence[list[int]]) -> list[Op]:
    """``ops`` without the steps that change nothing on ``inputs`` (sorting twice, a filter nothing fails)."""
    ops = list(ops)
    truth = [apply(ops, xs) for xs in inputs]
    changed = True
    while changed:
        changed = False
        for i in range(len(ops)):
            shorter = ops[:i] + ops[i + 1 :]
            if all(apply(shorter, xs) == ys for xs, ys in zip(inputs, truth, strict=True)):
                ops, changed = shorter, True
                break
    return ops
