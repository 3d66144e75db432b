"""Syllabus's learning-progress curriculum as a teacher: a peer to ``progress``, run by Syllabus's own code.

Syllabus (``pip install 'selftaught[syllabus]'``, the ``syllabus-rl`` package) implements the learning-progress
curriculum of Kanitscheider et al. 2021 as ``syllabus.curricula.LearningProgress`` over a discrete task space. Each
cell is one of its tasks: task ``i`` is the ``i``-th cell in skill order, difficulties rising within a skill. The
curriculum measures success through an evaluator; here the evaluator reports the latest pooled success rate of every
cell (0 for a cell never measured), and each ``observe`` that measures something runs one of its updates
(``eval_and_update``). Syllabus is imported when the teacher is built, never before.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from selftaught.errors import SelftaughtError
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

INSTALL = "teacher.kind = 'syllabus-lp' needs Syllabus: pip install 'selftaught[syllabus]'"

# LearningProgress's arrays that make up what it has learned (syllabus-rl 0.7), by the name they have in state_dict.
STATE = {"p_fast": "_p_fast", "p_slow": "_p_slow", "p_true": "_p_true", "baseline": "random_baseline"}


def _import_learning_progress() -> tuple[type, type]:
    # Importing syllabus.curricula runs np.seterr(all="raise") (syllabus-rl 0.7): every later numpy underflow in
    # this process, the curve fits' and scikit-learn's among them, would raise. Its settings are put back after.
    settings = np.geterr()
    try:
        from syllabus.curricula import LearningProgress
        from syllabus.task_space import DiscreteTaskSpace
    except ImportError as e:
        raise SelftaughtError(f"{INSTALL} (import failed: {e})") from None
    finally:
        np.seterr(**settings)
    return LearningProgress, DiscreteTaskSpace


class _LatestRates:
    """The evaluator Syllabus's curriculum calls: every cell's latest success rate, as Syllabus expects them
    (``evaluate_agent`` returns returns, per-task success, per-task final success, extra logs)."""

    def __init__(self, n: int) -> None:
        self.rates = np.zeros(n)

    def evaluate_agent(self, num_episodes: float = 1, verbose: bool = False) -> tuple[Any, ...]:
        rates = torch.from_numpy(self.rates.copy())
        return torch.zeros(0), rates, rates.clone(), {}


class SyllabusTeacher(Teacher):
    """Syllabus's LearningProgress curriculum over the cells (needs the 'syllabus' extra: syllabus-rl).

    Its parameters pass through: ``ema_alpha`` (the step of its fast and slow moving averages; the slow one averages
    the fast one) and ``p_theta`` (its reweighting of success rates towards the rare successes and failures); with
    ``normalize_success`` it measures success above its random baseline, which is the first evaluation: a student
    that has learned nothing, 0 in every cell. Syllabus gives no probability to a cell that has neither been solved
    nor changed; ``epsilon`` (selftaught's, 0 = Syllabus as it is) mixes in that share of uniform draws. Cells are
    drawn from Syllabus's sampling distribution with the loop's ``rng`` (syllabus-rl 0.7's own ``sample`` draws from
    numpy's global generator, and fails under numpy 2: it compares the distribution array with ``[]``).
    """

    def __init__(
        self,
        skills: list[Skill],
        ema_alpha: float = 0.1,
        p_theta: float = 0.1,
        normalize_success: bool = True,
        epsilon: float = 0.0,
        kinds: list[str] | None = None,
    ) -> None:
        self.skills = check_skills(skills)
        check(0.0 < ema_alpha <= 1.0, f"ema_alpha={ema_alpha} must be in (0, 1]")
        check(0.0 < p_theta < 1.0, f"p_theta={p_theta} must be in (0, 1)")
        check(isinstance(normalize_success, bool), f"normalize_success={normalize_success!r} must be true or false")
        check(0.0 <= epsilon <= 1.0, f"epsilon={epsilon} must be in [0, 1]")
        self.ema_alpha, self.p_theta, self.normalize_success, self.epsilon = (
            ema_alpha,
            p_theta,
            normalize_success,
            epsilon,
        )
        self.kinds = check_kinds(kinds)
        self.cells = cells_of(self.skills)
        self.task_of = {cell_key(s, d): i for i, (s, d) in enumerate(self.cells)}
        learning_progress, task_space = _import_learning_progress()
        self._rates = _LatestRates(len(self.cells))
        self._curriculum = learning_progress(
            self._rates,
            task_space(len(self.cells)),
            ema_alpha=ema_alpha,
            p_theta=p_theta,
            normalize_success=normalize_success,
        )
        self._curriculum.eval_and_update()  # the random baseline: nothing learned yet, 0 everywhere
        self.latest_: dict[str, float] = {}  # cell key -> latest pooled success rate
        self.updates_ = 0
        self.syllabus_: dict[str, list[float]] = self._syllabus_state()

    def _syllabus_state(self) -> dict[str, list[float]]:
        return {name: np.asarray(getattr(self._curriculum, attr)).tolist() for name, attr in STATE.items()}

    def _distribution(self) -> list[float]:
        return [float(p) for p in self._curriculum._sample_distribution()]

    def propose(self, n: int, rng: random.Random) -> list[Ask]:
        return draw_cells(self.cells, with_floor(self._distribution(), self.epsilon), n, rng)

    def observe(self, outcomes: list[Outcome]) -> None:
        rates = pooled_rates(outcomes, self.skills, self.kinds)
        if not rates:  # nothing measured: no new information, no update
            return
        self.latest_.update(rates)
        for key, rate in self.latest_.items():
            self._rates.rates[self.task_of[key]] = rate
        self._curriculum.eval_and_update()
        self.updates_ += 1
        self.syllabus_ = self._syllabus_state()

    def scores(self) -> dict[str, float]:
        """Syllabus's sampling probability per cell (before the ``epsilon`` share of uniform draws)."""
        return {cell_key(s, d): p for (s, d), p in zip(self.cells, self._distribution())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        for key, rate in self.latest_.items():
            self._rates.rates[self.task_of[key]] = rate
        c = self._curriculum
        for name, attr in STATE.items():
            setattr(c, attr, np.array(self.syllabus_[name], dtype=float))
        c.task_rates = self._rates.rates.copy()
        c._stale_dist, c.task_dist = True, None
