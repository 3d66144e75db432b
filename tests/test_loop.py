"""End-to-end runs of the loop, checked through the store, `status --json` and the files a run leaves."""

import json
import signal
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.store import PHASES

from support import rows as db_rows

SMOKE_SET = ["--set", "train.labelled_steps=150", "--set", "train.round_steps=40"]


def status_json(run_dir: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "smoke"
    assert main(["run", "--preset", "smoke", "--out", str(run_dir), *SMOKE_SET]) == 0
    return run_dir


def test_smoke_run_status_json(smoke_run, capsys):
    st = status_json(smoke_run, capsys)
    assert st["complete"] is True
    assert st["run_id"].startswith("smoke-")
    assert "round budget spent" in st["stop_reason"]
    assert [r["round"] for r in st["rounds"]] == [0, 1, 2]
    assert [r["difficulty"] for r in st["rounds"]] == [2, 3, 4]
    for r in st["rounds"]:
        assert r["phases"] == {p: True for p in PHASES}
        assert r["train_steps"] == (150 if r["round"] == 0 else 40)
        # evaluated 1..frontier+ahead (smoke: ahead = 1)
        assert sorted(int(d) for d in r["accuracy"]) == list(range(1, r["difficulty"] + 2))
        assert all(0.0 <= a <= 1.0 for a in r["accuracy"].values())
    assert st["rounds"][0]["proposed"] == 500 and st["rounds"][0]["accepted"] == 500
    assert st["rounds"][1]["proposed"] == 64


def test_smoke_run_records(smoke_run):
    # round 0: labelled, no attempts; later rounds: 2 samples per problem, one verdict per problem
    assert db_rows(
        smoke_run, "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id WHERE p.round = 0"
    ) == [(0,)]
    assert db_rows(
        smoke_run, "SELECT COUNT(*) FROM attempts a JOIN problems p ON p.id = a.problem_id WHERE p.round = 1"
    ) == [(128,)]
    per_round = dict(db_rows(smoke_run, "SELECT round, COUNT(*) FROM verdicts GROUP BY round"))
    assert per_round == {0: 500, 1: 64, 2: 64}
    # every accepted verdict became exactly one fresh example of its round, with provenance
    for r, source in ((0, "labelled"), (1, "self"), (2, "self")):
        accepted = db_rows(smoke_run, f"SELECT COUNT(*) FROM verdicts WHERE round = {r} AND accepted = 1")[0][0]
        fresh = db_rows(
            smoke_run, f"SELECT COUNT(*) FROM examples WHERE round = {r} AND origin_round = {r} AND source = '{source}'"
        )[0][0]
        assert fresh == accepted
    # verdict evidence holds the votes
    ev = json.loads(db_rows(smoke_run, "SELECT evidence FROM verdicts WHERE round = 1 LIMIT 1")[0][0])
    assert ev["vote"]["n"] == 2 and "votes" in ev["vote"] and "length" in ev
    # held-out problems never appear among training problems when the space is large enough (difficulty >= 2)
    overlap = db_rows(
        smoke_run,
        "SELECT COUNT(*) FROM problems t JOIN problems e ON e.prompt = t.prompt "
        "WHERE t.purpose = 'train' AND e.purpose = 'eval' AND t.difficulty >= 3",
    )
    assert overlap == [(0,)]
    # checkpoints exist under their final names, no temporary left behind
    ckpts = sorted(p.name for p in (smoke_run / "checkpoints").iterdir())
    assert ckpts == ["round-000", "round-001", "round-002"]
    assert (smoke_run / "checkpoints" / "round-002" / "model-0" / "model.pt").is_file()


def test_report_written(smoke_run, capsys):
    assert main(["report", str(smoke_run)]) == 0
    html = (smoke_run / "report" / "report.html").read_text()
    for png in ("accuracy_heatmap.png", "training_loss.png", "accepted_vs_proposed.png"):
        assert (smoke_run / "report" / png).stat().st_size > 1000
        assert png in html


def test_resume_of_complete_run_changes_nothing(smoke_run, capsys):
    before = db_rows(smoke_run, "SELECT COUNT(*) FROM attempts")
    assert main(["resume", str(smoke_run)]) == 0
    assert "already complete" in capsys.readouterr().out
    assert db_rows(smoke_run, "SELECT COUNT(*) FROM attempts") == before


TABLES = ("problems", "attempts", "verdicts", "examples", "train_metrics", "eval_results", "evaluations")


def _fingerprint(run_dir: Path) -> dict:
    out = {t: db_rows(run_dir, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}
    out["evaluations_rows"] = db_rows(run_dir, "SELECT round, difficulty, correct, n FROM evaluations ORDER BY 1, 2")
    out["examples_rows"] = db_rows(run_dir, "SELECT round, prompt, answer, source FROM examples ORDER BY id")
    out["attempts_rows"] = db_rows(run_dir, "SELECT problem_id, model, sample, text FROM attempts ORDER BY id")
    out["losses"] = db_rows(run_dir, "SELECT round, step, loss FROM train_metrics ORDER BY round, step")
    return out


@pytest.mark.parametrize(("point", "done"), [("TRAIN:1:50", (1, "CURATE")), ("VERIFY:1", (1, "ATTEMPT"))])
def test_kill_and_resume_matches_uninterrupted(tmp_path, point, done, single_thread, paused):
    """SIGKILL a run at an exact point (mid-TRAIN, or as VERIFY starts), resume it, and compare every record with
    an uninterrupted run of the same seed."""
    args = ["--preset", "smoke", *SMOKE_SET, "--set", "train.round_steps=150", "--set", "verifier.samples=3"]
    ref = tmp_path / "ref"
    assert main(["run", "--out", str(ref), *args]) == 0

    killed = tmp_path / "killed"
    # One thread, as in this process, so both halves of the killed run compute exactly as the reference did.
    run = paused(["run", "--out", killed, *args], point, env={"OMP_NUM_THREADS": "1"})
    assert run.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    last = db_rows(killed, "SELECT round, phase FROM phases WHERE done = 1 ORDER BY round, rowid")[-1]
    assert last == done  # killed where it was meant to be, whatever the machine's speed
    assert not db_rows(killed, "SELECT 1 FROM meta WHERE key = 'status' AND value = 'complete'")

    assert main(["resume", str(killed)]) == 0
    assert _fingerprint(killed) == _fingerprint(ref)
    assert not list((killed / "checkpoints").glob("*.tmp"))


def test_phase_seconds_cover_the_phase_work(smoke_run, capsys):
    """Phase times include the work done before the phase's writes (the wall-time budget sums them)."""
    train = db_rows(smoke_run, "SELECT seconds, started, finished FROM phases WHERE round = 0 AND phase = 'TRAIN'")
    seconds, started, finished = train[0]
    # The checkpoint is written by TRAIN's work, before its records: the phase's time span must hold that moment.
    saved = (smoke_run / "checkpoints" / "round-000" / "model-0" / "model.pt").stat().st_mtime
    assert started < saved <= finished
    assert abs(seconds - (finished - started)) < 1e-6
    st = status_json(smoke_run, capsys)
    assert st["elapsed_seconds"] >= seconds


EASY_STUDENT = '''
from pathlib import Path
from selftaught.students.base import Student
from selftaught.tasks import ReversedAddition
from selftaught.types import Problem, TrainStats

TASK = ReversedAddition()


class EasyOnly(Student):
    """Adds numbers of up to 3 digits exactly and answers every longer problem wrongly (all nines)."""

    def __init__(self, init_seed=0, **settings):  # settings: batch_size, optim, device, gen_batch
        pass

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0):
        out = []
        for prompt in prompts:
            digits = len(prompt.split("+")[0])
            p = Problem(TASK.name, digits, prompt, None, 0)
            out.append([TASK.answer(p) if digits <= 3 else "9" * digits] * n)
        return out

    def fit(self, examples, schedule, steps, seed=0, callbacks=()):
        return TrainStats(steps=steps, tokens=0, seconds=0.0, final_loss=0.0, losses=[0.0] * steps, lrs=[0.0] * steps)

    def save(self, directory):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / "easy.txt").write_text("easy")

    @classmethod
    def load(cls, directory):
        return cls()

    def load_weights(self, directory):
        pass
'''


@pytest.mark.parametrize(("attempts", "labels_expected"), [("split", True), ("direct", False)])
def test_split_attempts_label_harder_problems_from_the_answers_to_their_parts(tmp_path, attempts, labels_expected):
    """A student that only knows easy problems labels harder ones right through their parts, and wrong directly."""
    student = tmp_path / "easy_student.py"
    student.write_text(EASY_STUDENT)
    run_dir = tmp_path / "run"
    args = ["--preset", "smoke", "--set", f'student.kind="{student}:EasyOnly"', "--set", "loop.labelled_max=3"]
    args += ["--set", "loop.max_rounds=1", "--set", f'loop.attempts="{attempts}"']
    assert main(["run", "--out", str(run_dir), *args]) == 0
    # Round 1 proposes 4-digit problems, which this student gets wrong when asked directly; split into parts of at
    # most 3 digits, it labels exactly those whose low part carries nothing across the cut, and labels them right.
    # Asked directly, its confident wrong answers pass the vote and the length filter.
    accepted = db_rows(run_dir, "SELECT correct FROM verdicts WHERE round = 1 AND accepted = 1")
    assert len(accepted) > 10
    assert {c for (c,) in accepted} == ({1} if labels_expected else {0})
    total, empty = db_rows(run_dir, "SELECT COUNT(*), SUM(text = '') FROM attempts")[0]
    assert total == 64 * 2  # problems_per_round x samples
    assert (0 < empty < total) if labels_expected else empty == 0
