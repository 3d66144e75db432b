"""The syllabus-lp teacher: Syllabus's LearningProgress curriculum behind selftaught's Teacher interface.

The behaviour tests need the optional package (``pip install 'selftaught[syllabus]'``) and skip without it; a bad
parameter and a missing package are refused in one line whether or not it is installed.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter

import pytest

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.run.build import build_parts
from selftaught.teachers import EXTRA_TEACHERS, Outcome, Skill, SyllabusTeacher

from support import one_error_line, rows, run_cli

SKILLS = [Skill("a", 1, 3), Skill("b", 1, 3)]
CELLS = {(s.name, d) for s in SKILLS for d in s.difficulties}


@pytest.fixture
def syllabus():
    import numpy as np

    settings = np.geterr()  # importing syllabus.curricula sets np.seterr(all="raise"); the other tests must not see it
    try:
        return pytest.importorskip("syllabus.curricula")
    finally:
        np.seterr(**settings)


def slice_of(rates: dict[tuple[str, int], float], trials: int = 20) -> list[Outcome]:
    return [Outcome(s, d, round(r * trials), trials, "slice") for (s, d), r in rates.items()]


def rising(t: SyllabusTeacher, updates: int = 30) -> None:
    """a:1 solved and b:1 half solved throughout, the rest unsolved, except a:2, which rises from 0 to 1 over the
    last ten updates."""
    for i in range(updates):
        rates = {cell: 0.0 for cell in CELLS} | {("a", 1): 1.0, ("b", 1): 0.5}
        rates[("a", 2)] = min(1.0, max(0.0, (i - (updates - 10)) / 10))
        t.observe(slice_of(rates))


def test_uniform_before_anything_is_measured(syllabus):
    t = SyllabusTeacher(skills=SKILLS)
    assert t.scores() == pytest.approx({f"{s}:{d}": 1 / 6 for s, d in CELLS})
    counts = Counter((a.skill, a.difficulty) for a in t.propose(3000, random.Random(0)))
    assert set(counts) == CELLS and all(abs(c / 3000 - 1 / 6) < 0.03 for c in counts.values())


def test_moves_probability_towards_the_cell_whose_success_changes(syllabus):
    t = SyllabusTeacher(skills=SKILLS)
    rising(t)
    scores = t.scores()
    assert sum(scores.values()) == pytest.approx(1.0)
    assert max(scores, key=scores.get) == "a:2"
    asks = t.propose(4000, random.Random(1))
    share = Counter((a.skill, a.difficulty) for a in asks)
    assert share[("a", 2)] / 4000 > 0.4  # above every steady cell, and above uniform's 1/6
    assert share[("a", 2)] > 1.5 * max(n for cell, n in share.items() if cell != ("a", 2))
    # Syllabus gives nothing to a cell never solved and never changing; epsilon mixes uniform draws back in
    assert scores["a:3"] == scores["b:3"] == 0.0
    assert ("a", 3) not in share
    floor = SyllabusTeacher(skills=SKILLS, epsilon=0.3)
    rising(floor)
    assert {(a.skill, a.difficulty) for a in floor.propose(2000, random.Random(1))} == CELLS


def test_proposes_only_known_cells(syllabus):
    t = SyllabusTeacher(skills=SKILLS)
    rng = random.Random(3)
    junk = [Outcome("zzz", 1, 1, 2), Outcome("a", 9, 1, 2), Outcome("a", 0, 1, 2), Outcome("b", 2, 0, 0)]
    for i in range(6):
        asks = t.propose(12, rng)
        assert len(asks) == 12 and all((a.skill, a.difficulty) in CELLS for a in asks)
        t.observe(junk + [Outcome(a.skill, a.difficulty, rng.randint(0, 8), 8) for a in asks[: i + 1]])
    assert t.updates_ == 6
    assert set(t.scores()) == {f"{s}:{d}" for s, d in CELLS}
    t.observe(junk)  # nothing usable: no update
    assert t.updates_ == 6


def test_attempts_are_ignored_unless_asked_for(syllabus):
    t = SyllabusTeacher(skills=SKILLS)
    t.observe([Outcome("a", 1, 5, 5, "attempts")])
    assert t.updates_ == 0
    u = SyllabusTeacher(skills=SKILLS, kinds=["attempts"])
    u.observe([Outcome("a", 1, 5, 5, "attempts")])
    assert u.updates_ == 1 and u.latest_ == {"a:1": 1.0}


def test_state_round_trips_through_json(syllabus):
    t, rng = SyllabusTeacher(skills=SKILLS, ema_alpha=0.3), random.Random(1)
    for _ in range(4):
        asks = t.propose(8, rng)
        t.observe([Outcome(a.skill, a.difficulty, rng.randint(0, 8), 8) for a in asks])
    u = SyllabusTeacher(skills=SKILLS, ema_alpha=0.3)
    u.load_state_dict(json.loads(json.dumps(t.state_dict())))
    assert u.state_dict() == t.state_dict() and u.scores() == t.scores()
    asks = t.propose(20, random.Random(7))
    assert u.propose(20, random.Random(7)) == asks
    more = [Outcome(a.skill, a.difficulty, 3, 8) for a in asks]
    t.observe(more)
    u.observe(more)
    assert json.dumps(u.state_dict(), sort_keys=True) == json.dumps(t.state_dict(), sort_keys=True)
    assert u.scores() == t.scores()


def test_built_from_a_config(syllabus):
    assert EXTRA_TEACHERS["syllabus-lp"] is SyllabusTeacher
    exp = Experiment.model_validate(
        {
            "skills": [{"task": "copy", "low": 1, "high": 3, "labelled_max": 2}],
            "teacher": {"kind": "syllabus-lp", "params": {"ema_alpha": 0.2, "p_theta": 0.05}},
        }
    )
    teacher = build_parts(exp).teacher
    assert isinstance(teacher, SyllabusTeacher)
    assert (teacher.ema_alpha, teacher.p_theta) == (0.2, 0.05)
    assert teacher._curriculum.ema_alpha == 0.2 and teacher._curriculum.p_theta == 0.05


MIX = """
name = "syllabus-mix"
seed = 1

[[skills]]
task = "copy"
high = 3
labelled_max = 2

[[skills]]
task = "reversal"
high = 3
labelled_max = 2

[teacher]
kind = "syllabus-lp"
labelled = true
every = 20
params = { ema_alpha = 0.3 }

[student]
n_layer = 1
n_embd = 32

[loop]
labelled_max = 2
labelled_problems = 300
problems_per_round = 60
max_rounds = 1
stop_accuracy = 0.0
min_accepted = 0.0

[train]
lr = 0.003
batch_size = 32
"""


def test_steers_a_run_through_the_loop(syllabus, tmp_path, capsys):
    """Chosen by name in a config, it picks the labelled batches and the self-labelled round's cells, updates from
    the slices within each round, and its scores and state are recorded."""
    cfg = tmp_path / "mix.toml"
    cfg.write_text(MIX)
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(out))
    assert code == 0, err
    cells = {(t, d) for t, d in rows(out, "SELECT DISTINCT task, difficulty FROM problems WHERE purpose = 'train'")}
    assert cells and cells <= {(t, d) for t in ("copy", "reversal") for d in (1, 2, 3)}
    assert rows(out, "SELECT COUNT(DISTINCT round) FROM skill_results WHERE kind = 'slice'") == [(2,)]
    keys = {k for (k,) in rows(out, "SELECT DISTINCT key FROM teacher_scores")}
    assert keys == {f"{t}:{d}" for t in ("copy", "reversal") for d in (1, 2, 3)}
    states = [json.loads(s) for (s,) in rows(out, "SELECT state FROM teacher_state")]
    assert states and max(s["updates_"] for s in states) > 0 and all("syllabus_" in s for s in states)


@pytest.mark.parametrize(
    ("params", "names"),
    [
        ("ema_alpha = 0.0", "ema_alpha=0.0"),
        ("p_theta = 1.0", "p_theta=1.0"),
        ("epsilon = 2.0", "epsilon=2.0"),
        ("normalize_success = 'yes'", "normalize_success"),
        ("kinds = ['bogus']", "bogus"),
        ("alpha = 0.1", "alpha"),
    ],
)
def test_bad_parameter_is_one_line(tmp_path, capsys, params, names):
    """Checked before Syllabus is imported, so this holds without the package too."""
    cfg = tmp_path / "exp.toml"
    cfg.write_text(f"[task]\nname = 'copy'\n[teacher]\nkind = 'syllabus-lp'\n[teacher.params]\n{params}\n")
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(out_dir))
    assert code == 2
    assert names in one_error_line(err)
    assert not out_dir.exists()


def test_missing_package_is_one_line(tmp_path, capsys, monkeypatch):
    for name in [m for m in sys.modules if m == "syllabus" or m.startswith("syllabus.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "syllabus", None)  # import syllabus... raises ImportError
    with pytest.raises(SelftaughtError, match=r"pip install 'selftaught\[syllabus\]'"):
        SyllabusTeacher(skills=SKILLS)
    cfg = tmp_path / "exp.toml"
    cfg.write_text("[task]\nname = 'copy'\n[teacher]\nkind = 'syllabus-lp'\n")
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(out_dir))
    assert code == 2
    assert "teacher.kind = 'syllabus-lp' needs Syllabus: pip install 'selftaught[syllabus]'" in one_error_line(err)
    assert not out_dir.exists()


def test_building_it_leaves_numpys_error_settings_as_they_were():
    import importlib.util

    import numpy as np

    if importlib.util.find_spec("syllabus") is None:
        pytest.skip("syllabus is not installed")

    before = np.geterr()
    SyllabusTeacher([Skill("a", 1, 2)])
    assert np.geterr() == before
    np.exp(np.array([-1000.0]))  # an underflow is still no error
