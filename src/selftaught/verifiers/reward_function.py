"""Reward functions with TRL's signature, ``f(prompts, completions, **columns) -> list[float | None]``.

A function named in ``verifier.filters`` (``module:function`` or ``file.py:function``) becomes a
``RewardFunctionVerifier``; ``train.grpo.reward`` names one that replaces the verifiers' rewards in GRPO rounds. The
columns are the problem's: ``target``, ``task``, ``difficulty`` and each key of its ``meta`` (``tests``, ...), one
value per completion; a key a problem lacks is None. A reward of None means "not applicable".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.registry import load_object
from selftaught.types import Problem, Verdict
from selftaught.verifiers.base import Score, Verifier, with_mean_reward

RewardFunction = Callable[..., Sequence[float | None]]
RESERVED = ("prompts", "completions", "target", "task", "difficulty")


def function_name(func: Any) -> str:
    return f"{getattr(func, '__module__', '?')}:{getattr(func, '__qualname__', type(func).__name__)}"


def load_reward_function(spec: str, what: str = "train.grpo.reward") -> RewardFunction:
    """The function ``spec`` names; anything else (a class, a constant, a missing name) is one line naming it."""
    obj = load_object(spec, what)
    if isinstance(obj, type) or not callable(obj):
        raise SelftaughtError(
            f"{what} {spec!r} is not a function f(prompts, completions, **columns) -> list[float | None]"
        )
    return obj


def columns(problems: Sequence[Problem]) -> dict[str, list[Any]]:
    """The columns for one completion per entry of ``problems``: target, task, difficulty and every meta key."""
    cols: dict[str, list[Any]] = {
        "target": [p.target for p in problems],
        "task": [p.task for p in problems],
        "difficulty": [p.difficulty for p in problems],
    }
    keys = list(dict.fromkeys(k for p in problems for k in (p.meta or {}) if k not in RESERVED))
    for k in keys:
        cols[k] = [(p.meta or {}).get(k) for p in problems]
    return cols


def call_rewards(func: RewardFunction, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[float | None]]:
    """``func`` called once on every (problem, completion) of ``batch``; its rewards, per problem. A function that
    fails or answers in the wrong shape is one line naming it."""
    flat = [(p, c) for p, completions in batch for c in completions]
    if not flat:
        return [[] for _ in batch]
    name = function_name(func)
    try:
        got = func([p.prompt for p, _ in flat], [c for _, c in flat], **columns([p for p, _ in flat]))
    except Exception as e:
        raise SelftaughtError(f"reward function {name} failed: {type(e).__name__}: {e}".split("\n")[0]) from None
    try:
        rewards = list(got)
    except TypeError:
        raise SelftaughtError(f"reward function {name} returned {type(got).__name__}, not a list") from None
    if len(rewards) != len(flat):
        raise SelftaughtError(f"reward function {name} returned {len(rewards)} rewards for {len(flat)} completions")
    clean: list[float | None] = []
    for r in rewards:
        if r is None:
            clean.append(None)
            continue
        try:
            v = float(r)
        except (TypeError, ValueError):
            raise SelftaughtError(f"reward function {name} returned {r!r}, not a number or None") from None
        if math.isnan(v):
            raise SelftaughtError(f"reward function {name} returned NaN")
        clean.append(v)
    out, k = [], 0
    for _, completions in batch:
        out.append(clean[k : k + len(completions)])
        k += len(completions)
    return out


class RewardFunctionVerifier(Verifier):
    """A TRL-style reward function as a verifier: called once per batch; an attempt is accepted when its reward is
    at least 1.0 (None: not applicable, never accepted); the verdict is the most common accepted attempt, its
    evidence adds the mean known reward."""

    def __init__(self, func: RewardFunction, name: str | None = None) -> None:
        if isinstance(func, type) or not callable(func):
            raise TypeError(f"{func!r} is not a reward function")
        self.func = func
        self.name = name or getattr(func, "__name__", "reward")

    def score(self, problem: Problem, attempts: list[str]) -> list[Score]:
        return self.score_many([(problem, attempts)])[0]

    def score_many(self, batch: Sequence[tuple[Problem, list[str]]]) -> list[list[Score]]:
        out = []
        for rewards in call_rewards(self.func, batch):
            out.append(
                [
                    Score(r, r is not None and r >= 1.0, "" if r is not None and r >= 1.0 else self._why(r))
                    for r in rewards
                ]
            )
        return out

    def _why(self, r: float | None) -> str:
        return f"{self.name}: not applicable" if r is None else f"{self.name}: reward {r:.3g} < 1"

    def verdict(self, problem: Problem, attempts: list[str], scores: Sequence[Score]) -> Verdict:
        return with_mean_reward(super().verdict(problem, attempts, scores), scores)

    def __repr__(self) -> str:
        return f"RewardFunctionVerifier({function_name(self.func)})"
