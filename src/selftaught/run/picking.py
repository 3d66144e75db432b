"""Teacher-chosen training batches: the teacher decides which examples each batch holds, and updates as it trains.

Training draws its batches through ``TeacherBatches`` (a ``Student.fit`` ``pick`` function). Every ``every`` steps
it measures a small held-out slice, lets the teacher observe the result, and asks the teacher for the next block's
mix of (skill, difficulty) cells. Examples a round replays (``source == "replay"``) keep their share of every batch
and are drawn uniformly; the teacher chooses among the fresh ones (labelled in round 0, self-labelled later).

Everything it decides is kept (``counts``, ``slices``, ``scores``) for the loop to record in the store.
"""

from __future__ import annotations

import bisect
import random
from collections import defaultdict
from collections.abc import Callable, Sequence

from selftaught.teachers import Outcome, Teacher
from selftaught.types import Example

Cell = tuple[str, int]


class TeacherBatches:
    """``pick(step, size) -> example indices`` for one training run of ``steps`` steps.

    ``measure(step)`` returns the slice's outcomes at ``step`` (None: the teacher is asked once, at the start, and
    never updated within the run). Calls must come in step order, as a training loop makes them.
    """

    def __init__(
        self,
        examples: Sequence[Example],
        teacher: Teacher,
        rng: random.Random,
        steps: int,
        every: int = 0,
        measure: Callable[[int], list[Outcome]] | None = None,
    ) -> None:
        self.teacher, self.rng, self.steps = teacher, rng, steps
        self.every = every if every and measure is not None else steps
        self.measure = measure
        self.fresh: dict[Cell, list[int]] = defaultdict(list)
        self.replay: list[int] = []
        for i, e in enumerate(examples):
            if e.source == "replay":
                self.replay.append(i)
            else:
                self.fresh[(e.task, e.difficulty)].append(i)
        self.replay_share = len(self.replay) / len(examples) if examples else 0.0
        self._by_skill: dict[str, list[int]] = defaultdict(list)  # sorted difficulties present, per skill
        for skill, d in sorted(self.fresh):
            self._by_skill[skill].append(d)
        self._asks: list[Cell] = []
        self.counts: dict[int, dict[Cell, int]] = {}  # block start step -> samples per cell
        self.slices: dict[int, list[Outcome]] = {}
        self.scores: dict[int, dict[str, float]] = {}
        self.picked: list[list[int]] = []  # every batch's indices, to give other ensemble members the same batches

    def cells(self) -> list[Cell]:
        """The cells the teacher can choose among: those with fresh examples."""
        return sorted(self.fresh)

    def _nearest(self, skill: str, difficulty: int) -> Cell:
        """The fresh cell an ask lands on: its own, else the nearest difficulty of its skill, else any cell."""
        ds = self._by_skill.get(skill)
        if not ds:
            return self.rng.choice(self.cells())
        j = bisect.bisect_left(ds, difficulty)
        return skill, min(ds[max(0, j - 1) : j + 1], key=lambda d: (abs(d - difficulty), d))

    def _new_block(self, step: int, size: int) -> None:
        if self.measure is not None:
            outcomes = self.measure(step)
            self.slices[step] = outcomes
            self.teacher.observe(outcomes)
        n_fresh = size - round(size * self.replay_share)
        block = min(self.every, self.steps - step)
        asks = self.teacher.propose(n_fresh * block, self.rng)
        self._asks = [self._nearest(a.skill, a.difficulty) for a in asks]
        counts: dict[Cell, int] = defaultdict(int)
        for cell in self._asks:
            counts[cell] += 1
        self.counts[step] = dict(counts)
        self.scores[step] = dict(self.teacher.scores())
        self._asks.reverse()  # popped from the end, in proposal order

    def __call__(self, step: int, size: int) -> list[int]:
        if step % self.every == 0:
            self._new_block(step, size)
        n_replay = round(size * self.replay_share) if self.replay else 0
        rows = [self.rng.choice(self.replay) for _ in range(n_replay)]
        for _ in range(size - n_replay):
            cell = self._asks.pop() if self._asks else self._nearest(*self.rng.choice(self.cells()))
            rows.append(self.rng.choice(self.fresh[cell]))
        self.picked.append(rows)
        return rows

    def replayer(self) -> Callable[[int, int], list[int]]:
        """A pick function that repeats the batches this one chose, step by step (for other ensemble members)."""

        def pick(step: int, size: int) -> list[int]:
            return self.picked[step]

        return pick
