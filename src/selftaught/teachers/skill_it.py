"""Skill-it (Chen et al. 2023): a mixture over cells, moved towards what helps the skills still unsolved."""

from __future__ import annotations

import math
import random

from selftaught.teachers._sampling import (
    cells_of,
    check,
    check_kinds,
    check_skills,
    draw_cells,
    pooled_rates,
    with_floor,
)
from selftaught.teachers.base import Outcome, Skill, Teacher, cell_key
from selftaught.types import Ask


class SkillItTeacher(Teacher):
    """Online mixture weights over cells: ``w_i ∝ exp(eta * sum over the last `window` updates of sum_j A[i][j] L_j)``.

    ``L_j = 1 - latest rate of cell j`` (1 when never observed). Skill-it's online algorithm looks back over a window
    of updates, so a cell mastered long ago is not starved for ever; ``window = 0`` accumulates every update
    (``log w_i += eta * sum_j A[i][j] L_j`` after each). The influence ``A[i][j]`` of training cell i on
    cell j is 1 when i = j, ``chain`` from (s, d) to (s, d + 1), and 1 from (s, d) to (t, d) when ``graph`` lists
    s among the prerequisites of t (``graph`` maps a skill to the skills it needs first). Cells are sampled with
    ``(1 - epsilon) * w + epsilon * uniform``.
    """

    def __init__(
        self,
        skills: list[Skill],
        graph: dict[str, list[str]] | None = None,
        eta: float = 0.5,
        chain: float = 0.5,
        epsilon: float = 0.05,
        window: int = 3,
        kinds: list[str] | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(window >= 0, f"window={window} must be >= 0 (0: accumulate every update)")
        self.window = window
        check(eta > 0, f"eta={eta} must be > 0")
        check(chain >= 0, f"chain={chain} must be >= 0")
        check(0.0 <= epsilon <= 1.0, f"epsilon={epsilon} must be in [0, 1]")
        self.eta, self.chain, self.epsilon = eta, chain, epsilon
        self.kinds = check_kinds(kinds)
        check(graph is None or isinstance(graph, dict), f"graph={graph!r} must map a skill to its prerequisites")
        self.graph = {k: [v] if isinstance(v, str) else list(v) for k, v in (graph or {}).items()}
        names = [s.name for s in self.skills]
        listed = ", ".join(names)
        for skill, needs in self.graph.items():
            for name in (skill, *needs):
                check(
                    name in names,
                    f"skill-it graph names skill {name!r}, which is not in this experiment (skills: {listed})",
                )
            check(skill not in needs, f"skill-it graph lists skill {skill!r} as its own prerequisite")
        self.cells = cells_of(self.skills)
        keys = {cell_key(s, d) for s, d in self.cells}
        # influence[i] = [(j, A[i][j]), ...] over the cells j that training cell i helps
        self.influence: dict[str, list[tuple[str, float]]] = {}
        for s, d in self.cells:
            helps = [(cell_key(s, d), 1.0)]
            if self.chain and cell_key(s, d + 1) in keys:
                helps.append((cell_key(s, d + 1), self.chain))
            helps += [(cell_key(t, d), 1.0) for t, needs in self.graph.items() if s in needs and cell_key(t, d) in keys]
            self.influence[cell_key(s, d)] = helps
        self.log_weights_: dict[str, float] = {cell_key(s, d): -math.log(len(self.cells)) for s, d in self.cells}
        self.latest_: dict[str, float] = {}  # cell key -> latest observed rate
        self.recent_: list[dict[str, float]] = []  # the last `window` steps sum_j A[i][j] L_j, per cell i

    def _weights(self) -> list[float]:
        return [math.exp(self.log_weights_[cell_key(s, d)]) for s, d in self.cells]

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        return draw_cells(self.cells, with_floor(self._weights(), self.epsilon), n, rng)

    def observe(self, outcomes: list[Outcome]) -> None:
        rates = pooled_rates(outcomes, self.skills, self.kinds)
        if not rates:  # nothing measured: no new information, no step
            return
        self.latest_.update(rates)
        loss = {key: 1.0 - self.latest_.get(key, 0.0) for key in self.log_weights_}  # L_j, 1 when never observed
        step = {i: sum(a * loss[j] for j, a in helps) for i, helps in self.influence.items()}  # sum_j A_ij L_j
        if self.window:
            self.recent_ = [*self.recent_, step][-self.window :]
            for i in self.log_weights_:
                self.log_weights_[i] = self.eta * sum(g[i] for g in self.recent_)
        else:  # exponentiated-gradient step on the running weights
            for i in self.log_weights_:
                self.log_weights_[i] += self.eta * step[i]
        top = max(self.log_weights_.values())  # normalise: log w_i -= log sum_k exp(log w_k)
        norm = top + math.log(sum(math.exp(v - top) for v in self.log_weights_.values()))
        for i in self.log_weights_:
            self.log_weights_[i] -= norm

    def scores(self) -> dict[str, float]:
        return {cell_key(s, d): w for (s, d), w in zip(self.cells, self._weights())}
