"""Earlier rounds' curves as a prior for this round's: on this round's step axis."""

from __future__ import annotations

from collections.abc import Sequence


def prior_curves(
    earlier: Sequence[tuple[int, Sequence[tuple[float, float]]]], budget: int, keep: int = 1
) -> list[list[tuple[float, float]]]:
    """The last ``keep`` of ``earlier`` rounds' curves, oldest first, each given as (its budget, its (step, value)
    points), with steps rescaled to this round's ``budget`` (step * budget / its budget): rounds of one run train
    on the same schedule, stretched to their own budgets. A round with fewer than two points is left out."""
    if budget < 1:
        raise ValueError(f"budget={budget}: must be >= 1")
    if keep < 1:
        raise ValueError(f"keep={keep}: must be >= 1")
    out = []
    for i, (their_budget, points) in enumerate(earlier):
        if their_budget < 1:
            raise ValueError(f"earlier round {i}: budget {their_budget} must be >= 1")
        if len(points) >= 2:
            out.append([(float(s) * budget / their_budget, float(v)) for s, v in points])
    return out[-keep:]


def run_prior(
    others: Sequence[tuple[int, Sequence[tuple[float, float]]]],
    own: Sequence[tuple[int, Sequence[tuple[float, float]]]],
    keep: int,
    budget: int,
) -> list[list[tuple[float, float]]] | None:
    """The stopping rule's prior for a round: the same round's curve in each other run (``others``, in the order
    given), then the ``keep`` latest of this run's earlier rounds (``own``, oldest first; ``keep`` 0: none), each as
    (its budget, its points), on this round's step axis (``prior_curves``); None when no curve has two points."""
    curves = [*others, *(own[-keep:] if keep else [])]
    return (prior_curves(curves, budget, len(curves)) if curves else []) or None
