"""Bad input: one line naming the problem, exit code 2, and nothing created or damaged."""

import sqlite3

import pytest

from selftaught.cli import main

from support import one_error_line, run_cli


@pytest.mark.parametrize(
    ("toml", "names"),
    [
        ("[train]\nlrr = 0.1\n", "train.lrr"),  # unknown key
        ("[train]\nlr = 'fast'\n", "train.lr"),  # wrong type
        ("[train]\nlr = -1.0\n", "train.lr"),  # out of range
        ("[task]\nname = 'no-such-task'\n", "no-such-task"),  # unknown task
        ("[task]\nname = 'missing_module_xyz:Task'\n", "missing_module_xyz"),
        ("[student]\npos = 'alibi'\n", "student.pos"),
        ("[train]\nschedule = 'wsd'\nwarmup = 0.5\ndecay = 0.6\n", "warmup"),
        ("[loop\nmax_rounds = 3\n", "TOML"),  # malformed TOML
        ("bogus = 1\n", "bogus"),
        ("[task]\nname = 'copy'\n[verifier]\nfilters = ['vote', 'range']\n", "no range rule"),
        ("[task]\nname = 'copy'\n[loop]\nattempts = 'split'\n", "does not split"),
        ("[loop]\nattempts = 'halves'\n", "loop.attempts"),
    ],
)
def test_bad_config_file(tmp_path, capsys, toml, names):
    cfg = tmp_path / "exp.toml"
    cfg.write_text(toml)
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", str(cfg), "--out", str(out_dir))
    assert code == 2
    assert names in one_error_line(err)
    assert not out_dir.exists()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--preset", "nope"], "nope"),
        (["--set", "loop.max_rounds=many"], "loop.max_rounds"),
        (["--set", "noequals"], "noequals"),
        (["--set", "eval.nothing=1"], "eval.nothing"),
        (["/no/such/config.toml"], "/no/such/config.toml"),
    ],
)
def test_bad_arguments(tmp_path, capsys, args, names):
    out_dir = tmp_path / "run"
    code, _, err = run_cli(capsys, "run", *args, "--out", str(out_dir))
    assert code == 2
    assert names in one_error_line(err)
    assert not out_dir.exists()


def test_unknown_option_is_one_line(capsys):
    code, _, err = run_cli(capsys, "run", "--no-such-option")
    assert code == 2
    assert "--no-such-option" in one_error_line(err)


@pytest.mark.parametrize("command", ["resume", "status", "report"])
def test_missing_run_dir(tmp_path, capsys, command):
    code, _, err = run_cli(capsys, command, str(tmp_path / "nowhere"))
    assert code == 2
    assert "nowhere" in one_error_line(err)


def test_corrupt_store_is_reported_and_left_alone(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    db = run_dir / "run.db"
    db.write_bytes(b"not a database at all" * 100)
    before = db.read_bytes()
    for command in ("resume", "status"):
        code, _, err = run_cli(capsys, command, str(run_dir))
        assert code == 2
        assert "run.db" in one_error_line(err)
    assert db.read_bytes() == before


def test_existing_run_dir_is_not_overwritten(tmp_path, capsys):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "run", "--preset", "smoke", "--out", str(out_dir))
    assert code == 2
    assert "already exists" in one_error_line(err)
    assert (out_dir / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in out_dir.iterdir()) == ["keep.txt"]


def test_corrupt_checkpoint_on_resume(tmp_path, capsys):
    """A damaged checkpoint stops resume with one line; the records already written stay as they were."""
    run_dir = tmp_path / "run"
    args = ["--preset", "smoke", "--set", "loop.max_rounds=1", "--set", "train.labelled_steps=5"]
    assert main(["run", "--out", str(run_dir), *args]) == 0
    with sqlite3.connect(run_dir / "run.db") as conn:  # pretend round 1 never finished
        conn.execute("DELETE FROM meta WHERE key = 'status'")
        conn.execute("INSERT INTO meta VALUES ('status', 'running')")
        conn.execute("UPDATE phases SET done = 0 WHERE round = 1 AND phase IN ('TRAIN', 'EVALUATE', 'DECIDE')")
        conn.execute("UPDATE rounds SET decision = NULL WHERE round = 1")
        conn.execute("DELETE FROM train_metrics WHERE round = 1")
        conn.execute("DELETE FROM eval_results WHERE round = 1")
        conn.execute("DELETE FROM evaluations WHERE round = 1")
        conn.execute("DELETE FROM checkpoints WHERE round = 1")
        counts = conn.execute("SELECT (SELECT COUNT(*) FROM attempts), (SELECT COUNT(*) FROM examples)").fetchone()
    weights = run_dir / "checkpoints" / "round-000" / "model-0" / "model.pt"
    weights.write_bytes(weights.read_bytes()[:100])
    code, _, err = run_cli(capsys, "resume", str(run_dir))
    assert code == 2
    assert "model.pt" in one_error_line(err)
    with sqlite3.connect(run_dir / "run.db") as conn:
        after = conn.execute("SELECT (SELECT COUNT(*) FROM attempts), (SELECT COUNT(*) FROM examples)").fetchone()
    assert after == counts


def test_tasks_and_presets_listed(capsys):
    code, out, _ = run_cli(capsys, "tasks")
    assert code == 0
    for name in ("reversed-addition", "addition", "copy", "reversal", "sorting", "multiplication"):
        assert name in out
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0
    for name in ("smoke", "quickstart", "length-gen"):
        assert name in out
    code, out, _ = run_cli(capsys, "teachers")
    assert code == 0
    for name in ("uniform", "ladder", "progress", "ucb", "alp-gmm", "skill-it"):
        assert name in out


def test_user_task_from_file_runs(tmp_path, capsys):
    """A task class in the user's own file, named as path.py:Class, runs with no change to selftaught."""
    task_file = tmp_path / "mytask.py"
    task_file.write_text(
        """
import random
from selftaught.tasks import Task
from selftaught.types import Problem


class Doubling(Task):
    name = "doubling"
    description = "double a number: D:12=24"

    def sample(self, rng: random.Random, difficulty: int) -> Problem:
        self.validate_difficulty(difficulty)
        x = rng.randint(10 ** (difficulty - 1), 10**difficulty - 1)
        return Problem(task=self.name, difficulty=difficulty, prompt=f"D:{x}=", target=str(2 * x), seed=0)

    def answer(self, problem: Problem) -> str:
        return str(2 * int(problem.prompt[2:-1]))

    def plausible(self, problem: Problem, answer: str) -> bool:
        d = len(problem.prompt) - 3
        return answer.isdigit() and len(answer) in (d, d + 1)

    def max_answer_len(self, difficulty: int) -> int:
        return difficulty + 1
"""
    )
    cfg = tmp_path / "exp.toml"
    cfg.write_text(f'[task]\nname = "{task_file}:Doubling"\n')
    run_dir = tmp_path / "run"
    args = ["--set", "loop.max_rounds=1", "--set", "train.labelled_steps=5", "--set", "train.round_steps=2"]
    code, _, err = run_cli(capsys, "run", str(cfg), "--preset", "smoke", "--out", str(run_dir), *args)
    assert code == 0, err
    with sqlite3.connect(run_dir / "run.db") as conn:
        prompts = [r[0] for r in conn.execute("SELECT prompt FROM problems WHERE round = 1")]
        tasks = {r[0] for r in conn.execute("SELECT DISTINCT task FROM problems")}
    assert tasks == {"doubling"}
    assert prompts and all(p.startswith("D:") and len(p) == 3 + 3 for p in prompts)  # round 1 = difficulty 3
