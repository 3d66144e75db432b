"""The executor seam: the same seed gives the same records on every backend; a Ray actor killed mid-phase is
restarted and its unit re-run, nothing lost or doubled; a bad [exec] is one line, exit 2, nothing created."""

import sqlite3
from pathlib import Path

import pytest

from selftaught.cli import main

# Two ensemble members (so TRAIN has a unit per member beyond model 0), split attempts off, one self-labelled round.
SETS = [
    "--set", "student.ensemble=2",
    "--set", "loop.max_rounds=1",
    "--set", "loop.labelled_problems=200",
    "--set", "loop.problems_per_round=32",
    "--set", "train.labelled_steps=20",
    "--set", "train.round_steps=8",
    "--set", "eval.problems=8",
    "--set", "eval.samples=0",
]  # fmt: skip
TABLES = {
    "attempts": "SELECT problem_id, model, sample, text, reward, feedback, correct FROM attempts",
    "verdicts": "SELECT * FROM verdicts",
    "examples": "SELECT * FROM examples",
    "train_metrics": "SELECT * FROM train_metrics",
    "evaluations": "SELECT * FROM evaluations",
    "problems": "SELECT * FROM problems",
    "eval_results": "SELECT * FROM eval_results",
}

KILLER = '''
import os
from pathlib import Path

from selftaught.students.builtin import GPTStudent

MARKER = Path({marker!r})


class Killer(GPTStudent):
    """Sampling (ATTEMPT) once with the marker present ends the process it runs in, as a dead Ray worker would."""

    def generate(self, prompts, n=1, temperature=0.0, max_new_tokens=32, seed=0):
        if temperature > 0 and MARKER.exists():
            MARKER.unlink()
            MARKER.with_suffix(".killed").write_text(str(os.getpid()))
            os._exit(1)
        return super().generate(prompts, n, temperature, max_new_tokens, seed)
'''


def records(run_dir: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(run_dir / "run.db") as conn:
        return {name: sorted(conn.execute(sql).fetchall(), key=repr) for name, sql in TABLES.items()}


def run(run_dir: Path, *extra: str) -> dict[str, list[tuple]]:
    assert main(["run", "--preset", "smoke", "--out", str(run_dir), *SETS, *extra]) == 0
    return records(run_dir)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> tuple[Path, Path]:
    """The killer student's file and the marker that arms it (absent: it is a plain GPT student)."""
    d = tmp_path_factory.mktemp("plugin")
    marker = d / "kill.marker"
    (d / "killer.py").write_text(KILLER.format(marker=str(marker)))
    return d / "killer.py", marker


@pytest.fixture(scope="module")
def local_records(tmp_path_factory, plugin, one_thread) -> dict[str, list[tuple]]:
    return run(tmp_path_factory.mktemp("local") / "run", "--set", f"student.kind={plugin[0]}:Killer")


def test_process_pool_records_equal_local(tmp_path, plugin, local_records):
    got = run(tmp_path / "run", "--set", f"student.kind={plugin[0]}:Killer", "--set", "exec.backend=process",
              "--set", "exec.workers=2")  # fmt: skip
    assert got["attempts"] and got["train_metrics"]
    assert {m for _, m, *_ in got["attempts"]} == {0, 1}  # both members attempted
    for name in TABLES:
        assert got[name] == local_records[name], name


@pytest.mark.ray
def test_ray_records_equal_local_with_an_actor_killed_during_attempt(tmp_path, plugin, local_records):
    ray = pytest.importorskip("ray")
    path, marker = plugin
    marker.write_text("armed")
    try:
        got = run(tmp_path / "run", "--set", f"student.kind={path}:Killer", "--set", "exec.backend=ray",
                  "--set", "exec.workers=2")  # fmt: skip
    finally:
        marker.unlink(missing_ok=True)
    assert marker.with_suffix(".killed").exists()  # an actor did die during ATTEMPT ...
    assert not ray.is_initialized()  # ... and the loop shut down the cluster it started
    for name in TABLES:  # ... and its unit ran again, once: the records are the local run's
        assert got[name] == local_records[name], name


@pytest.mark.parametrize(
    ("sets", "env", "says"),
    [
        (["exec.backend=spark"], {}, "exec.backend"),
        (["exec.workers=0"], {}, "exec.workers"),
        (["exec.backend=ray"], {"RAY_ADDRESS": "ray://127.0.0.1:1"}, "ray://127.0.0.1:1"),
    ],
)
def test_bad_exec_is_one_line_exit_2_nothing_created(tmp_path, capsys, monkeypatch, sets, env, says):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    out = tmp_path / "runs" / "run"
    args = [a for s in sets for a in ("--set", s)]
    capsys.readouterr()
    assert main(["run", "--preset", "smoke", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert not (tmp_path / "runs").exists()
