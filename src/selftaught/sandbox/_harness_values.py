"""The harness's plain data: what a candidate's value may be to reach a test or leave the sandbox (exact built-in
types only), copied (``_walk``) or serialised (``_encode``) by trusted code, and the guard around the program's
functions as the tests see them (``_guarded``). Part of the harness (see ``_harness``); standard library only."""

from __future__ import annotations

import builtins
import collections
from collections.abc import Callable
from json import encoder as _json_encoder

# Every function below looks builtins up here, not in the builtins module a candidate can rebind.
globals()["__builtins__"] = dict(builtins.__dict__)

# References taken now, before any candidate: C functions and descriptors a candidate cannot change.
_type_name = type.__dict__["__name__"].__get__
_exact_str = str.__str__  # the str itself, or an exact copy of a str subclass
_encode_str = _json_encoder.c_encode_basestring_ascii or _json_encoder.py_encode_basestring_ascii
_INF = float("inf")

_MAX_DEPTH = 100  # containers nested deeper are not plain data (and a list that holds itself is caught here)
_MAX_ITEMS = 1_000_000  # elements a value may hold in all, for the tests' check
_VALUE_ITEMS = 100_000  # elements a value sent out of the sandbox may hold
_VALUE_CHARS = 200_000  # characters of one value sent out of the sandbox
_VALUES_CHARS = 800_000  # characters of all values of a run (the fork server takes 1 MiB of results)
_INT_BITS = 14_000  # about 4200 decimal digits: under the interpreter's int-to-str limit of 4300


def _name(t: type) -> str:
    try:
        return _exact_str(_type_name(t))
    except BaseException:
        return "value of an unknown type"


_LEAVES = frozenset(map(id, (type(None), bool, int, float, complex, str, bytes)))
# Dicts: OrderedDict, defaultdict and Counter count as the plain dicts they hold (read with ``dict.items``, which no
# method of theirs overrides; what comes out is a dict), as an equality with a dict treats them.
_DICTS = frozenset(map(id, (dict, collections.OrderedDict, collections.defaultdict, collections.Counter)))


class _NotPlain(Exception):
    """What is not plain data: ``what`` names the offending type; ``depth`` is where it was found (0: the value)."""

    def __init__(self, what: str, depth: int) -> None:
        self.what, self.depth = what, depth


def _walk(v: object, depth: int, budget: list[int]) -> object:
    """A fresh copy of ``v`` if it is plain data of exact built-in types (immutable leaves are shared), else
    ``_NotPlain``. Exact types only (``type(v) is list``), so a subclass with its own ``__eq__`` is refused; only
    built-in operations run on the value, so none of the candidate's code does."""
    t = type(v)
    if id(t) in _LEAVES:
        return v
    if depth >= _MAX_DEPTH:
        raise _NotPlain(f"value nested more than {_MAX_DEPTH} deep", depth)
    if id(t) in _DICTS:
        budget[0] -= dict.__len__(v)
        if budget[0] < 0:
            raise _NotPlain(f"value of more than {_MAX_ITEMS} elements", depth)
        return {_walk(k, depth + 1, budget): _walk(x, depth + 1, budget) for k, x in dict.items(v)}
    if t is list or t is tuple or t is set or t is frozenset:
        budget[0] -= len(v)
        if budget[0] < 0:
            raise _NotPlain(f"value of more than {_MAX_ITEMS} elements", depth)
        items = [_walk(x, depth + 1, budget) for x in v]
        return items if t is list else tuple(items) if t is tuple else set(items) if t is set else frozenset(items)
    raise _NotPlain(_name(t), depth)


def _a(noun: str) -> str:
    return ("an " if noun[:1] in ("a", "e", "i", "o", "u", "A", "E", "I", "O", "U") else "a ") + noun


def _what(value: object, e: _NotPlain) -> str:
    """'a MyInt', or 'a list holding a MyInt'."""
    return _a(e.what) if e.depth == 0 else f"{_a(_name(type(value)))} holding {_a(e.what)}"


def _is_plain(v: object) -> bool:
    try:
        _walk(v, 0, [_MAX_ITEMS])
        return True
    except _NotPlain:
        return False


def _guarded(fn: Callable, name: str) -> Callable:
    """``fn`` as the tests see it: its value must be plain data (the tests get a fresh copy), and a list, dict or
    set argument that was plain data must still be after the call."""

    def call(*args: object, **kwargs: object) -> object:
        watched = [a for a in (*args, *kwargs.values()) if (type(a) is list or type(a) is dict or type(a) is set)]
        watched = [a for a in watched if _is_plain(a)]
        out = fn(*args, **kwargs)
        for a in watched:
            if not _is_plain(a):
                raise AssertionError(f"{name} put a value that is not plain data into its argument")
        try:
            return _walk(out, 0, [_MAX_ITEMS])
        except _NotPlain as e:
            raise AssertionError(f"{name} returned {_what(out, e)}, not plain data") from None

    call.__name__ = call.__qualname__ = name
    return call


def _encode(v: object, depth: int, budget: list[int]) -> str:
    """``v`` as JSON if it is plain data of exact types (a tuple as {"t": [...]}, a dict as {"d": {...}}), else
    ``_NotPlain``. OrderedDict, defaultdict and Counter count as the dicts they hold (see ``_DICTS``)."""
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int:
        if int.bit_length(v) > _INT_BITS:
            raise _NotPlain(f"int of more than {_INT_BITS} bits", depth)
        return int.__repr__(v)
    if t is float:
        if v != v:
            return "NaN"
        if v == _INF or v == -_INF:
            return "Infinity" if v > 0 else "-Infinity"
        return float.__repr__(v)
    if t is str:
        if len(v) > _VALUE_CHARS:
            raise _NotPlain(f"str of more than {_VALUE_CHARS} characters", depth)
        return _encode_str(v)
    if depth >= _MAX_DEPTH:
        raise _NotPlain(f"value nested more than {_MAX_DEPTH} deep", depth)
    if t is list or t is tuple or id(t) in _DICTS:
        budget[0] -= len(v) if t is list or t is tuple else dict.__len__(v)
        if budget[0] < 0:
            raise _NotPlain(f"value of more than {_VALUE_ITEMS} elements", depth)
    if t is list:
        return "[" + ",".join([_encode(x, depth + 1, budget) for x in v]) + "]"
    if t is tuple:
        return '{"t":[' + ",".join([_encode(x, depth + 1, budget) for x in v]) + "]}"
    if id(t) in _DICTS:
        parts = []
        for k, x in dict.items(v):
            if type(k) is not str:
                raise _NotPlain(f"dict with {_a(_name(type(k)))} key", depth)
            parts.append(_encode_str(k) + ":" + _encode(x, depth + 1, budget))
        return '{"d":{' + ",".join(parts) + "}}"
    raise _NotPlain(_name(t), depth)
