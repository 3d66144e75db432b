"""Teachers in the loop: mixes of skills, teacher-chosen batches, the records they leave, resume, bad configs."""

from __future__ import annotations

import json
import random
import re
import signal
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.run.picking import TeacherBatches
from selftaught.teachers import Outcome, Teacher
from selftaught.types import Ask, Example

from support import rows

MIX = """
name = "mix"
seed = 1

[[skills]]
task = "copy"
high = 3
labelled_max = 2

[[skills]]
task = "reversal"
high = 3
labelled_max = 2

[[skills]]
task = "sorting"
name = "sort"
high = 4
labelled_max = 2

[teacher]
kind = "{kind}"
labelled = true
every = 20
params = {params}

[student]
n_layer = 1
n_embd = 32

[loop]
labelled_max = 2
labelled_problems = 600
problems_per_round = 90
max_rounds = 2
stop_accuracy = 0.0
min_accepted = 0.0

[train]
lr = 0.003
batch_size = 32
labelled_steps = 60
round_steps = 40

[verifier]
samples = 2

[eval]
problems = 12
ahead = 1
slice = 4
"""


def write_mix(tmp_path: Path, kind: str = "progress", params: str = "{}") -> Path:
    cfg = tmp_path / f"mix-{re.sub(r'[^a-z]', '_', kind)}.toml"
    cfg.write_text(MIX.format(kind=kind, params=params))
    return cfg


@pytest.fixture(scope="module")
def mix_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("mix")
    out = tmp / "run"
    assert main(["run", str(write_mix(tmp)), "--out", str(out)]) == 0
    return out


def test_a_mix_of_skills_is_proposed_trained_and_evaluated(mix_run):
    skills = {"copy", "reversal", "sort"}
    assert {t for (t,) in rows(mix_run, "SELECT DISTINCT task FROM problems WHERE purpose = 'train'")} == skills
    # Round 0 is labelled over each skill's labelled range only; later rounds follow the teacher, within the range.
    assert rows(mix_run, "SELECT MAX(difficulty) FROM problems WHERE round = 0 AND purpose = 'train'") == [(2,)]
    highs = dict(rows(mix_run, "SELECT task, MAX(difficulty) FROM problems WHERE round > 0 GROUP BY task"))
    assert set(highs) <= skills and all(d <= (4 if s == "sort" else 3) for s, d in highs.items())
    evaluated = {t for (t,) in rows(mix_run, "SELECT DISTINCT task FROM evaluations WHERE round = 2")}
    assert evaluated == skills
    # Every answer the store calls correct is what the skill's own task says.
    wrong = rows(
        mix_run,
        "SELECT COUNT(*) FROM eval_results e JOIN problems p ON p.id = e.problem_id "
        "WHERE p.task = 'sort' AND e.correct = 1 AND e.answer != p.target",
    )
    assert wrong == [(0,)]


def test_the_teacher_updates_within_rounds_and_its_records_are_kept(mix_run):
    # every = 20: blocks start at 0, 20, 40 in round 0 (60 steps) and at 0, 20 in rounds 1 and 2 (40 steps).
    blocks = rows(mix_run, "SELECT round, step, SUM(count) FROM curriculum GROUP BY round, step ORDER BY 1, 2")
    assert [(r, s) for r, s, _ in blocks] == [(0, 0), (0, 20), (0, 40), (1, 0), (1, 20), (2, 0), (2, 20)]
    assert all(n > 0 for _, _, n in blocks)
    # The slice measured every cell the block could choose, 4 problems each (fewer where the space is smaller).
    slices = rows(mix_run, "SELECT round, step, task, difficulty, trials FROM skill_results WHERE kind = 'slice'")
    assert {(r, s) for r, s, *_ in slices} == {(r, s) for r, s, _ in blocks}
    assert {(t, d) for r, s, t, d, _ in slices if r == 0} == {
        (t, d) for t in ("copy", "reversal", "sort") for d in (1, 2)
    }
    assert all(1 <= n <= 4 for *_, n in slices)
    # Learning-progress scores per cell at each block and at each round's end; attempts and evaluations counted.
    keys = {k for (k,) in rows(mix_run, "SELECT DISTINCT key FROM teacher_scores")}
    assert {"copy:1", "reversal:3", "sort:4"} <= keys
    kinds = {k for (k,) in rows(mix_run, "SELECT DISTINCT kind FROM skill_results")}
    assert kinds == {"slice", "evaluation", "attempts"}
    phases = rows(mix_run, "SELECT round, phase FROM teacher_state ORDER BY round, phase")
    assert phases == [
        (0, "DECIDE"),
        (0, "TRAIN"),
        (1, "DECIDE"),
        (1, "PROPOSE"),
        (1, "TRAIN"),
        (2, "DECIDE"),
        (2, "PROPOSE"),
        (2, "TRAIN"),
    ]


def test_status_json_reports_progress_per_skill(mix_run, capsys):
    capsys.readouterr()
    assert main(["status", str(mix_run), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    skills = st["skills"]
    assert set(skills) == {"copy", "reversal", "sort"}
    # In a mix, per-round accuracy is keyed by skill and difficulty.
    evaluated = rows(mix_run, "SELECT task, difficulty, accuracy FROM evaluations WHERE round = 2")
    assert st["rounds"][2]["accuracy"] == {f"{t}:{d}": a for t, d, a in evaluated}
    assert main(["status", str(mix_run)]) == 0
    assert "mastered up to" in capsys.readouterr().out
    total = sum(rows(mix_run, "SELECT SUM(count) FROM curriculum")[0])
    for name, s in skills.items():
        samples = rows(mix_run, f"SELECT SUM(count) FROM curriculum WHERE task = '{name}'")[0][0]
        assert s["samples"] == samples and s["share"] == pytest.approx(samples / total)
        assert s["trained_up_to"] == rows(mix_run, f"SELECT MAX(difficulty) FROM examples WHERE task = '{name}'")[0][0]
        assert s["mastered"] is None or s["frontier"] == s["mastered"] + 1
        assert all(0.0 <= a <= 1.0 for a in s["accuracy"].values())
    assert sum(s["share"] for s in skills.values()) == pytest.approx(1.0)


def test_report_shows_where_the_practice_went(mix_run, capsys):
    assert main(["report", str(mix_run)]) == 0
    html = (mix_run / "report" / "report.html").read_text()
    for png in ("sampling_share.png", "skill_success.png", "teacher_scores.png"):
        assert png in html and (mix_run / "report" / png).stat().st_size > 1000


@pytest.mark.parametrize("kind", ["ladder", "alp-gmm", "skill-it"])
def test_every_teacher_steers_labelled_and_self_labelled_training(tmp_path, kind):
    """A teacher (progress is the fixture's; these three differ most: a frontier, a 2-D parameter box, a mixture
    over a window) chooses round 0's labelled batches, updates from slices within every round and proposes the
    self-labelled rounds; its state is recorded after each phase it changed. uniform and ucb share these code paths
    (test_teachers.py checks each teacher's own logic)."""
    out = tmp_path / "run"
    params = "{ advance_at = 0.5, review = 0.5 }" if kind == "ladder" else "{}"  # lower difficulties get labelled
    assert main(["run", str(write_mix(tmp_path, kind, params)), "--out", str(out)]) == 0
    blocks = rows(out, "SELECT DISTINCT round, step FROM curriculum ORDER BY 1, 2")
    assert blocks == [(0, 0), (0, 20), (0, 40), (1, 0), (1, 20), (2, 0), (2, 20)]
    assert rows(out, "SELECT COUNT(DISTINCT round) FROM skill_results WHERE kind = 'slice'") == [(3,)]
    assert rows(out, "SELECT COUNT(*) FROM problems WHERE round = 2 AND purpose = 'train'") == [(90,)]
    phases = {p for (p,) in rows(out, "SELECT DISTINCT phase FROM teacher_state")}
    assert phases == {"PROPOSE", "TRAIN", "DECIDE"}
    if kind == "alp-gmm":  # sorting has a 2-D box (length, distinct digits); the problems were drawn at its points
        points = [json.loads(p) for (p,) in rows(out, "SELECT params FROM problems WHERE task = 'sort' AND round > 0")]
        assert points and all(len(p) == 2 and 1 <= p[0] <= 4 and 2 <= p[1] <= 10 for p in points)
        prompts = rows(out, "SELECT prompt, params FROM problems WHERE task = 'sort' AND round > 0")
        for prompt, params in prompts:  # no more distinct digits than the point allows
            assert len(set(prompt[2:-1])) <= round(json.loads(params)[1])


# ------------------------------------------------------------------------------------------------- kill -9
TEACHER_TABLES = {
    "curriculum": "SELECT round, step, task, difficulty, count FROM curriculum ORDER BY 1, 2, 3, 4",
    "slices": "SELECT round, step, kind, task, difficulty, successes, trials FROM skill_results ORDER BY 1, 2, 3, 4, 5",
    "scores": "SELECT round, step, key, value FROM teacher_scores ORDER BY 1, 2, 3",
    "state": "SELECT round, phase, state FROM teacher_state ORDER BY 1, 2",
    "problems": "SELECT round, task, difficulty, prompt, params FROM problems WHERE purpose = 'train' ORDER BY id",
    "losses": "SELECT round, step, loss FROM train_metrics ORDER BY 1, 2",
}


@pytest.mark.parametrize(("kind", "params"), [("progress", "{}"), ("alp-gmm", "{ fit_every = 10 }")])
def test_teacher_state_survives_kill_and_resume(tmp_path, kind, params, single_thread, paused):
    """SIGKILL while a teacher-steered TRAIN runs; after resume every teacher record equals an uninterrupted run's."""
    cfg = write_mix(tmp_path, kind, params)
    ref = tmp_path / "ref"
    assert main(["run", str(cfg), "--out", str(ref)]) == 0
    killed = tmp_path / "killed"
    # Round 1's TRAIN half way: slices measured and the teacher updated at least once since the round began.
    paused(["run", str(cfg), "--out", str(killed)], "TRAIN:1:25", env={"OMP_NUM_THREADS": "1"}).stop(signal.SIGKILL)
    assert main(["resume", str(killed)]) == 0
    for name, sql in TEACHER_TABLES.items():
        assert rows(killed, sql) == rows(ref, sql), name


# ------------------------------------------------------------------------------------------- bad configs
@pytest.mark.parametrize(
    ("kind", "params", "names"),
    [
        ("socratic", "{}", "socratic"),
        ("skill-it", "{ graph = { sort = ['addition'] } }", "addition"),
        ("progress", "{ temperature = -1.0 }", "temperature"),
        ("ucb", "{ exploration = 2 }", "exploration"),
        ("no_such_module_t:Teacher", "{}", "no_such_module_t"),
    ],
)
def test_bad_teacher_config_is_one_line_and_exit_2(tmp_path, capsys, kind, params, names):
    out = tmp_path / "run"
    capsys.readouterr()
    assert main(["run", str(write_mix(tmp_path, kind, params)), "--out", str(out)]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0]
    assert not out.exists()


def test_task_and_skills_together_are_refused(tmp_path, capsys):
    cfg = tmp_path / "both.toml"
    cfg.write_text("[task]\nname = 'copy'\n[[skills]]\ntask = 'sorting'\n")
    assert main(["run", str(cfg), "--out", str(tmp_path / "run")]) == 2
    assert "either [task] or [[skills]]" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ user teacher
def readme_teacher() -> str:
    """The teacher the README shows, exactly as printed there."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    start = readme.index("# myteacher.py")
    return readme[start : readme.index("```", start)]


def test_the_readme_teacher_runs_from_a_user_file(tmp_path):
    code = readme_teacher()
    assert len(code.strip().splitlines()) < 30
    (tmp_path / "myteacher.py").write_text(code)
    cfg = write_mix(tmp_path, f"{tmp_path / 'myteacher.py'}:Weakest", "{ explore = 0.0 }")
    out = tmp_path / "run"
    assert main(["run", str(cfg), "--out", str(out)]) == 0
    # With no exploration each proposal (and each block of batches) is one cell: the one measured weakest.
    for r in (1, 2):
        cells = rows(out, f"SELECT DISTINCT task, difficulty FROM problems WHERE round = {r} AND purpose = 'train'")
        assert len(cells) == 1
    # Round 2 practises the cell weakest by the state round 1 ended with (the first such, unmeasured counting 0).
    state = json.loads(rows(out, "SELECT state FROM teacher_state WHERE round = 1 AND phase = 'DECIDE'")[0][0])
    order = (
        [("copy", d) for d in (1, 2, 3)] + [("reversal", d) for d in (1, 2, 3)] + [("sort", d) for d in (1, 2, 3, 4)]
    )
    assert cells == [min(order, key=lambda c: state["accuracy_"].get(f"{c[0]}:{c[1]}", 0.0))]
    assert rows(out, "SELECT COUNT(*) FROM teacher_scores WHERE round = 2")[0][0] > 0


# ---------------------------------------------------------------------------------------------- picking
class Scripted(Teacher):
    """Asks for one fixed cell; counts what it observed."""

    def __init__(self, ask: Ask) -> None:
        self.ask, self.observed_ = ask, []

    def propose(self, n, rng):
        return [self.ask] * n

    def observe(self, outcomes):
        self.observed_.append(len(outcomes))


def examples() -> list[Example]:
    out = [Example(f"C:{i}=", "x", 1, "labelled", 0, "copy") for i in range(10)]
    out += [Example(f"C:{i}{i}=", "x", 2, "labelled", 0, "copy") for i in range(10)]
    out += [Example(f"R:{i}=", "x", 3, "replay", 0, "reversal") for i in range(20)]
    return out


def test_batches_follow_the_teacher_and_keep_the_replay_share():
    ex = examples()
    measured = []
    teacher = Scripted(Ask("copy", 5))  # not in the pool: the nearest difficulty of the skill, 2
    picker = TeacherBatches(
        ex,
        teacher,
        random.Random(0),
        steps=30,
        every=10,
        measure=lambda step: measured.append(step) or [Outcome("copy", 2, 1, 2, "slice")],
    )
    batches = [picker(step, 8) for step in range(30)]
    assert measured == [0, 10, 20] and teacher.observed_ == [1, 1, 1]
    for b in batches:
        assert sum(ex[i].source == "replay" for i in b) == 4  # half the examples are replays
        assert all(ex[i].difficulty == 2 for i in b if ex[i].source != "replay")
    assert picker.counts == {0: {("copy", 2): 40}, 10: {("copy", 2): 40}, 20: {("copy", 2): 40}}
    again = picker.replayer()
    assert [again(step, 8) for step in range(30)] == batches


def test_batches_without_measure_ask_the_teacher_once():
    teacher = Scripted(Ask("copy", 1))
    picker = TeacherBatches(examples(), teacher, random.Random(0), steps=25, every=10)
    for step in range(25):
        picker(step, 4)
    assert list(picker.counts) == [0] and teacher.observed_ == []
    assert picker.counts[0] == {("copy", 1): 50}
