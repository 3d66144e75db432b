"""Curators: build a round's training set from its accepted answers and a replay of earlier rounds."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import replace

from .types import Example


class Curator(ABC):
    @abstractmethod
    def build(self, fresh: Sequence[Example], replay_pool: Sequence[Example], rng: random.Random) -> list[Example]:
        """The examples a round trains on: its fresh ones plus whatever it replays."""


class ReplayCurator(Curator):
    """Keeps every fresh example and adds replayed ones so that they make up ``share`` of the result.

    Replay is drawn uniformly without replacement from everything earlier rounds produced (labelled data and
    earlier self-labelled rounds), so old skills keep being rehearsed while new ones are learned.
    """

    def __init__(self, share: float = 0.5) -> None:
        if not 0.0 <= share < 1.0:
            raise ValueError(f"replay share={share}: must be in [0, 1)")
        self.share = share

    def build(self, fresh: Sequence[Example], replay_pool: Sequence[Example], rng: random.Random) -> list[Example]:
        want = round(len(fresh) * self.share / (1.0 - self.share)) if fresh else 0
        want = min(want, len(replay_pool))
        replayed = [replace(e, source="replay") for e in rng.sample(list(replay_pool), want)]
        return [*fresh, *replayed]
