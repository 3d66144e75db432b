"""Curators: build a round's training set from its accepted answers and a replay of earlier rounds."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

from selftaught.types import Example


class Curator(ABC):
    @abstractmethod
    def build(self, fresh: Sequence[Example], replay_pool: Sequence[Example], rng: random.Random) -> list[Example]:
        """The examples a round trains on: its fresh ones plus whatever it replays."""


class ReplayCurator(Curator):
    """Keeps every fresh example and adds replayed ones so that they make up ``share`` of the result.

    Replay is drawn without replacement from everything earlier rounds produced (labelled data, earlier
    self-labelled rounds and their relabels), so old skills keep being rehearsed while new ones are learned:
    uniformly, or with ``priority`` > 0 in proportion to ``example.weight ** priority`` (prioritised replay: a solve
    that was rare weighs more), by the Efraimidis-Spirakis method (the largest u ** (1 / w), u uniform).
    """

    def __init__(self, share: float = 0.5, priority: float = 0.0) -> None:
        if not 0.0 <= share < 1.0:
            raise ValueError(f"replay share={share}: must be in [0, 1)")
        if not 0.0 <= priority <= 10.0:
            raise ValueError(f"replay priority={priority}: must be in [0, 10]")
        self.share = share
        self.priority = priority

    def build(self, fresh: Sequence[Example], replay_pool: Sequence[Example], rng: random.Random) -> list[Example]:
        want = round(len(fresh) * self.share / (1.0 - self.share)) if fresh else 0
        want = min(want, len(replay_pool))
        if self.priority == 0.0:
            chosen = rng.sample(list(replay_pool), want)
        else:
            keys = [rng.random() ** (1.0 / max(e.weight, 1e-9) ** self.priority) for e in replay_pool]
            order = sorted(range(len(replay_pool)), key=keys.__getitem__, reverse=True)
            chosen = [replay_pool[i] for i in order[:want]]
        replayed = [replace(e, source="replay") for e in chosen]
        return [*fresh, *replayed]


def hindsight_mix(selfs: Sequence[Example], relabels: Sequence[Example], share: float, rng: random.Random) -> list:
    """The relabels a round trains on beside its ``selfs`` (accepted answers): at most ``share`` of the two together,
    the deepest first (shallow relabels are many and teach what the model can already do; ties drawn at random);
    all of them when the round accepted nothing (or ``share`` is 1), none when ``share`` is 0."""
    if not relabels or share == 0.0:
        return []
    if not selfs or share >= 1.0:
        return list(relabels)
    want = min(len(relabels), int(len(selfs) * share / (1.0 - share)))
    order = sorted(range(len(relabels)), key=lambda i: (-relabels[i].difficulty, rng.random()))
    return [relabels[i] for i in sorted(order[:want])]
