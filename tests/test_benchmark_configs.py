"""The curriculum benchmark's experiments stay valid as the config changes (the benchmark itself runs for hours)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from selftaught.run.build import build_parts
from selftaught.teachers.ladder import LadderTeacher
from selftaught.teachers.progress import ProgressTeacher

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def curriculum():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("curriculum")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.mark.parametrize("quick", [True, False])
def test_labelled_experiments_build_for_every_teacher(curriculum, quick):
    for teacher in curriculum.TEACHERS:
        exp = curriculum.labelled_experiment(teacher, 0, 4 if quick else 6, 100, quick)
        parts = build_parts(exp)
        cells = [(s.name, d) for s in parts.skills.skills for d in s.difficulties]
        assert len(cells) == (3 * 4 if quick else 5 * 6)
        assert exp.teacher.kind == teacher and exp.teacher.every == 100 and exp.eval.slice == 16


@pytest.mark.parametrize("quick", [True, False])
def test_frontier_experiments_build(curriculum, quick):
    for teacher in ("ladder", "progress"):
        exp = curriculum.frontier_experiment(teacher, 0, 1 if quick else 4, quick)
        parts = build_parts(exp)
        assert {s.name for s in parts.skills.skills} == set(curriculum.TASKS[: 3 if quick else 5])
        assert exp.loop.max_rounds == (1 if quick else 4)
        assert isinstance(parts.teacher, LadderTeacher if teacher == "ladder" else ProgressTeacher)


def test_labelled_pool_keeps_held_out_prompts_out_only_where_the_space_is_large(curriculum):
    parts = build_parts(curriculum.labelled_experiment("uniform", 0, 6, 100, False))
    held = curriculum.held_out(parts, 1, 20, "test")
    pool = curriculum.labelled_pool(parts, 0, 300, held)
    assert len(pool) == 300 * 30

    def prompts(examples, skill, d):
        return {e.prompt for e in examples if e.task == skill and e.difficulty == d}

    # copy at length 1 has 26 problems: a table the pool must cover, held-out ones included.
    assert prompts(held, "copy", 1) <= prompts(pool, "copy", 1)
    # At length 5 the space is large: no held-out prompt is trained on.
    assert prompts(held, "copy", 5) and not prompts(held, "copy", 5) & prompts(pool, "copy", 5)
    assert not prompts(held, "reversed-addition", 4) & prompts(pool, "reversed-addition", 4)


def test_labelled_runs_decay_the_learning_rate_by_step_not_by_budget(curriculum):
    schedule = curriculum.InverseSqrt()
    half = curriculum.HALF
    assert schedule.factor(0, 10) == schedule.factor(0, 10_000) == 1.0
    assert schedule.factor(half - 1, 100) == 1.0
    assert schedule.factor(4 * half - 1, 10_000) == pytest.approx(0.5)
    assert schedule.factor(9 * half - 1, 10_000) == schedule.factor(9 * half - 1, 50_000) == pytest.approx(1 / 3)


def test_skill_it_runs_with_the_benchmark_step_size(curriculum):
    parts = build_parts(curriculum.labelled_experiment("skill-it", 0, 6, 100, False))
    assert parts.teacher.eta == curriculum.SKILL_IT["eta"] != 0.5
