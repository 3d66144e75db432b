"""The property verifier's inputs: drawn by Hypothesis (the same ones for a seed), and simplified one step at a time
to shrink a counterexample."""

from __future__ import annotations

import ast
import threading
from typing import Any

from selftaught.errors import SelftaughtError

_hypothesis_lock = threading.Lock()


def generate_inputs(strategy: Any, n: int, seed: int) -> list[Any]:
    """Up to ``n`` distinct values of ``strategy``, the same ones for the same seed (Hypothesis, no database)."""
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import seed as fix_seed

    found: dict[str, Any] = {}

    @fix_seed(seed)
    @settings(
        max_examples=n,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
    )
    @given(strategy)
    def collect(value: Any) -> None:
        found.setdefault(repr(value), value)

    with _hypothesis_lock:  # Hypothesis keeps global state while a test runs
        collect()
    values = list(found.values())[:n]
    for v in values:
        try:
            same = ast.literal_eval(repr(v)) == v
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            same = False
        if not same:
            raise SelftaughtError(f"property strategy drew {v!r}, which is not a Python literal; inputs must be")
    return values


def _weight(v: Any) -> tuple[int, float]:
    """(how many elements, how large the numbers): smaller is simpler."""
    if isinstance(v, bool):
        return 0, float(v)
    if isinstance(v, int | float):
        return 0, abs(v) + (0.5 if v < 0 else 0.0)
    if isinstance(v, str):
        return len(v), 0.0
    if isinstance(v, list | tuple | set | frozenset):
        parts = [_weight(e) for e in v]
        return len(parts) + sum(c for c, _ in parts), sum(m for _, m in parts)
    if isinstance(v, dict):
        parts = [_weight(e) for e in v.values()]
        return len(parts) + sum(c for c, _ in parts), sum(m for _, m in parts)
    return 0, 0.0


def simplicity(v: Any) -> tuple:
    return (*_weight(v), len(repr(v)), repr(v))


def simplifications(v: Any, keep_length: bool = False) -> list[Any]:
    """One-step simpler values: elements removed (unless ``keep_length``), numbers moved toward 0, each element
    simplified in place."""
    if isinstance(v, bool):
        return [False] if v else []
    if isinstance(v, int):
        steps = [0, -v if v < 0 else v, int(v / 2), v - 1 if v > 0 else v + 1]
        return [s for s in dict.fromkeys(steps) if s != v and abs(s) <= abs(v)]
    if isinstance(v, float):
        steps = [0.0, float(int(v)), v / 2]
        return [s for s in dict.fromkeys(steps) if s != v]
    if isinstance(v, str):
        out = (
            []
            if keep_length
            else ["", v[: len(v) // 2], v[len(v) // 2 :], *(v[:i] + v[i + 1 :] for i in range(len(v)))]
        )
        return [s for s in dict.fromkeys(out) if s != v]
    if isinstance(v, list | tuple):
        kind = type(v)
        items = list(v)
        out: list[Any] = []
        if not keep_length and items:
            half = len(items) // 2
            out += [kind(), kind(items[:half]), kind(items[half:])]
            out += [kind(items[:i] + items[i + 1 :]) for i in range(len(items))]
        for i, item in enumerate(items):
            out += [kind(items[:i] + [s] + items[i + 1 :]) for s in simplifications(item)]
        seen, unique = {repr(v)}, []
        for s in out:
            if repr(s) not in seen:
                seen.add(repr(s))
                unique.append(s)
        return unique
    if isinstance(v, dict):
        out = [] if keep_length else [{k: x for k, x in v.items() if k != key} for key in v]
        for key, item in v.items():
            out += [{**v, key: s} for s in simplifications(item)]
        return out
    return []
