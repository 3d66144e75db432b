"""Sweeps: expansion, the index, running (local and Ray), resuming, compare's numbers, and bad input."""

import json
import os
import shutil
from pathlib import Path

import pytest

import selftaught.experiments.sweep as sweep_mod
from selftaught.cli import main
from selftaught.config import load_experiment
from selftaught.errors import SelftaughtError
from selftaught.experiments.sweep import load_sweep, run_sweep
from selftaught.run.loop import LoopCallback

from support import rows as db_rows
from support import run_cli

# The set is an inline table, so the keys each test appends stay at the top level.
TINY = """
preset = "smoke"
report = false
set = { "train.labelled_steps" = 8, "train.round_steps" = 4, "loop.max_rounds" = 1, "loop.labelled_problems" = 64, \
"loop.problems_per_round" = 16, "eval.problems" = 6 }
"""


SETS = [
    "train.labelled_steps=8",
    "train.round_steps=4",
    "loop.max_rounds=1",
    "loop.labelled_problems=64",
    "loop.problems_per_round=16",
    "eval.problems=6",
]


def write_sweep(folder: Path, body: str, name: str = "s.toml") -> Path:
    path = folder / name
    path.write_text(TINY + body)
    return path


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory):
    """2 settings x 2 seeds, run once through the CLI with the local backend."""
    folder = tmp_path_factory.mktemp("sweep")
    path = write_sweep(folder, 'seeds = [0, 1]\n[grid]\n"train.lr" = [0.003, 0.01]\n')
    out = folder / "out"
    assert main(["sweep", str(path), "--out", str(out)]) == 0
    return path, out


RUN_DIRS = ["train.lr=0.003,seed=0", "train.lr=0.003,seed=1", "train.lr=0.01,seed=0", "train.lr=0.01,seed=1"]


def test_sweep_index_and_runs(grid_sweep):
    _, out = grid_sweep
    index = json.loads((out / "sweep.json").read_text())
    assert [p["settings"] for p in index["points"]] == [{"train.lr": 0.003}, {"train.lr": 0.01}]
    assert index["spec"]["seeds"] == [0, 1]
    runs = [r for p in index["points"] for r in p["runs"]]
    assert [r["dir"] for r in runs] == RUN_DIRS
    assert [r["seed"] for r in runs] == [0, 1, 0, 1]
    assert all(r["status"] == "complete" for r in runs)
    for r, lr in zip(runs, [0.003, 0.003, 0.01, 0.01]):
        # Each run is an ordinary run directory whose stored experiment has the point's settings.
        (config,) = db_rows(out / r["dir"], "SELECT value FROM meta WHERE key = 'config'")[0:1]
        config = json.loads(config[0])
        assert (config["train"]["lr"], config["seed"], config["name"]) == (lr, r["seed"], "s")
        assert config["train"]["labelled_steps"] == 8
        assert db_rows(out / r["dir"], "SELECT value FROM meta WHERE key = 'status'") == [("complete",)]
        assert (out / r["dir"] / "config.toml").is_file()
        assert r["run_id"] == db_rows(out / r["dir"], "SELECT value FROM meta WHERE key = 'run_id'")[0][0]
        # The same experiment as `selftaught run --preset smoke --set ...` with the point's settings would run.
        sets = [*SETS, f"train.lr={lr}", f"seed={r['seed']}", "name='s'"]
        assert config == load_experiment(None, "smoke", sets)[0].model_dump(mode="json")


def expected_summary(run_dir: Path) -> dict:
    """Final accuracy, reach, steps and wall time computed straight from a run's tables."""
    (last,) = db_rows(run_dir, "SELECT MAX(round) FROM evaluations")[0]
    frontier = db_rows(run_dir, f"SELECT task, MAX(difficulty) FROM examples WHERE round <= {last} GROUP BY task")
    finals = [
        db_rows(run_dir, f"SELECT accuracy FROM evaluations WHERE round = {last} AND task = '{t}' AND difficulty = {d}")
        for t, d in frontier
    ]
    final = sum(f[0][0] for f in finals) / len(finals)
    cells = db_rows(run_dir, f"SELECT difficulty, accuracy FROM evaluations WHERE round = {last} ORDER BY difficulty")
    reach = cells[0][0] - 1
    for d, a in cells:
        if a < 0.9:
            break
        reach = d
    (steps,) = db_rows(run_dir, "SELECT COUNT(*) FROM train_metrics WHERE model = 0")[0]
    (wall,) = db_rows(run_dir, "SELECT SUM(seconds) FROM phases WHERE done = 1")[0]
    return {"final_accuracy": final, "reach": reach, "steps": steps, "seconds": wall}


def test_compare_matches_the_stores(grid_sweep, capsys):
    _, out = grid_sweep
    code, text, err = run_cli(capsys, "compare", str(out), "--json")
    assert code == 0, err
    result = json.loads(text)
    assert [p["name"] for p in result["points"]] == ["train.lr=0.003", "train.lr=0.01"]
    for point, dirs in zip(result["points"], [RUN_DIRS[:2], RUN_DIRS[2:]]):
        assert (point["runs"], point["measured"], point["complete"]) == (2, 2, 2)
        expected = [expected_summary(out / d) for d in dirs]
        for key in ("final_accuracy", "reach", "steps", "seconds"):
            values = [e[key] for e in expected]
            assert point[key]["values"] == pytest.approx(values)
            assert point[key]["min"] == pytest.approx(min(values))
            assert point[key]["max"] == pytest.approx(max(values))
            assert point[key]["median"] == pytest.approx(sum(values) / 2)
    for name in ("final_accuracy.png", "reach.png"):
        assert (out / "compare" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "compare" / "compare.json").read_text())["points"] == result["points"]
    # The table prints one row per point with the steps read from the stores.
    code, text, _ = run_cli(capsys, "compare", str(out), "--no-plots")
    assert code == 0
    rows = [line for line in text.splitlines() if line.startswith("train.lr=")]
    assert len(rows) == 2 and all(f" {expected_summary(out / RUN_DIRS[0])['steps']} " in r for r in rows)


class _StopAt(LoopCallback):
    """Interrupts a run as round 1's ATTEMPT starts, as Ctrl-C would."""

    def on_phase_start(self, round_: int, phase: str) -> None:
        if (round_, phase) == (1, "ATTEMPT"):
            raise KeyboardInterrupt


def test_resume_reruns_only_what_is_missing(grid_sweep, capsys, monkeypatch):
    path, out = grid_sweep
    deleted, interrupted = RUN_DIRS[1], RUN_DIRS[2]
    run_ids = {d: db_rows(out / d, "SELECT value FROM meta WHERE key = 'run_id'")[0][0] for d in RUN_DIRS}
    shutil.rmtree(out / deleted)
    shutil.rmtree(out / interrupted)
    # Re-make the interrupted run: the sweep stops inside it, after round 0.
    real = sweep_mod.build_trackers
    monkeypatch.setattr(sweep_mod, "build_trackers", lambda exp: [_StopAt()] if exp.train.lr == 0.01 else real(exp))
    sweep = load_sweep(path, out)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep)
    monkeypatch.setattr(sweep_mod, "build_trackers", real)
    index = json.loads((out / "sweep.json").read_text())
    status = {r["dir"]: r["status"] for p in index["points"] for r in p["runs"]}
    assert status[interrupted] == "interrupted" and status[deleted] == "complete"
    assert db_rows(out / interrupted, "SELECT value FROM meta WHERE key = 'status'") != [("complete",)]
    assert db_rows(out / interrupted, "SELECT phase FROM phases WHERE round = 1 AND done = 1") == [("PROPOSE",)]
    round0 = db_rows(out / interrupted, "SELECT phase, finished FROM phases WHERE round = 0 ORDER BY phase")
    interrupted_id = db_rows(out / interrupted, "SELECT value FROM meta WHERE key = 'run_id'")[0][0]
    mtimes = {d: (out / d / "run.db").stat().st_mtime_ns for d in RUN_DIRS if d != interrupted}

    code, text, err = run_cli(capsys, "sweep", str(path), "--out", str(out))
    assert code == 0, err
    # Only the interrupted run ran again, and it resumed: same run id, round 0 as it was, now complete.
    assert {d: (out / d / "run.db").stat().st_mtime_ns for d in mtimes} == mtimes
    assert db_rows(out / interrupted, "SELECT value FROM meta WHERE key = 'run_id'")[0][0] == interrupted_id
    assert db_rows(out / interrupted, "SELECT phase, finished FROM phases WHERE round = 0 ORDER BY phase") == round0
    assert db_rows(out / interrupted, "SELECT value FROM meta WHERE key = 'status'") == [("complete",)]
    assert text.count("already complete") == 3
    # The runs nobody touched kept their ids; the deleted one was made anew.
    for d in (RUN_DIRS[0], RUN_DIRS[3]):
        assert db_rows(out / d, "SELECT value FROM meta WHERE key = 'run_id'")[0][0] == run_ids[d]
    index = json.loads((out / "sweep.json").read_text())
    assert all(r["status"] == "complete" for p in index["points"] for r in p["runs"])


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path, monkeypatch):
    path = write_sweep(tmp_path, "seeds = [3, 4]\n")
    done = []

    def fake_run_point(run_dir, config, text, report=True):
        if config["seed"] == 3:
            raise RuntimeError("boom\nsecond line")
        done.append(run_dir)
        return {"status": "complete", "run_id": "x", "stop_reason": "r", "seconds": 0.0}

    monkeypatch.setattr(sweep_mod, "run_point", fake_run_point)
    index = run_sweep(load_sweep(path, tmp_path / "out"))
    (point,) = index["points"]
    assert point["settings"] == {}
    assert [(r["dir"], r["status"]) for r in point["runs"]] == [("seed=3", "failed"), ("seed=4", "complete")]
    assert point["runs"][0]["error"] == "RuntimeError: boom"
    assert done == [str(tmp_path / "out" / "seed=4")]


def test_random_draws_are_crossed_with_the_grid(tmp_path):
    body = """
seeds = [0]
[grid]
"train.batch_size" = [16, 32]
[random]
draws = 3
seed = 7
"train.lr" = { low = 1e-4, high = 1e-2, log = true }
"train.round_steps" = { low = 2, high = 6 }
"train.warm_start" = ["continue", "re-warm"]
"""
    sweep = load_sweep(write_sweep(tmp_path, body), tmp_path / "out")
    assert len(sweep.points) == 6 and len(sweep.runs) == 6
    assert not (tmp_path / "out").exists()  # loading creates nothing
    draws = [{k: v for k, v in p.items() if k != "train.batch_size"} for p in sweep.points]
    assert draws[:3] == draws[3:]  # the same draws for each grid value
    for p, run in zip(sweep.points, sweep.runs):
        assert 1e-4 <= p["train.lr"] <= 1e-2 and run.exp.train.lr == p["train.lr"]
        assert isinstance(p["train.round_steps"], int) and 2 <= p["train.round_steps"] <= 6
        assert run.exp.train.warm_start == p["train.warm_start"]
    assert load_sweep(write_sweep(tmp_path, body), tmp_path / "out").points == sweep.points  # seeded
    assert len({r.dir for r in sweep.runs}) == 6


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ('[grid]\n"train.lrr" = [0.1, 0.2]\n', "train.lrr"),  # a key that does not exist
        ('[grid]\n"train.lr" = [0.1, -1.0]\n', "train.lr"),  # a bad value at one point
        ("[grid]\n", "empty"),
        ('[grid]\n"train.lr" = []\n', "train.lr"),
        ('[grid]\n"train.lr" = 0.1\n', "train.lr"),
        ("seeds = []\n", "seeds"),
        ("seeds = [1, 1]\n", "seeds"),
        ("seeds = [-1]\n", "seeds"),
        ('seeds = ["a"]\n', "seeds"),
        ('[grid]\n"seed" = [1, 2]\n', "seeds"),
        ('[random]\ndraws = 0\n"train.lr" = [0.1]\n', "draws"),
        ('[random]\ndraws = 2\n"train.lr" = { low = 0.1, high = 0.01 }\n', "train.lr"),
        ('[random]\ndraws = 2\n"train.lr" = { low = 0.0, high = 0.1, log = true }\n', "log"),
        ('[grid]\n"task.name" = ["no-such-task"]\n', "no-such-task"),
        ("bogus = 1\n", "bogus"),
        ('base = "missing.toml"\n', "missing.toml"),
    ],
)
def test_bad_sweeps_are_one_line_and_create_nothing(tmp_path, capsys, body, names):
    path = write_sweep(tmp_path, body)
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "sweep", str(path), "--out", str(out))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
    assert names in lines[0]
    assert not out.exists()


def test_bad_places_and_backends(tmp_path, capsys):
    path = write_sweep(tmp_path, "seeds = [0]\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    cases = [
        (["--out", str(other)], "not a sweep"),
        (["--out", str(tmp_path / "s.toml" / "x")], "not a directory"),
        (["--out", str(tmp_path / "o"), "--backend", "slurm"], "--backend"),
    ]
    for args, names in cases:
        code, _, err = run_cli(capsys, "sweep", str(path), *args)
        assert code == 2 and names in err and len(err.strip().splitlines()) == 1, err
    assert os.listdir(other) == ["notes.txt"] and not (tmp_path / "o").exists()
    code, _, err = run_cli(capsys, "sweep", str(tmp_path / "nope.toml"))
    assert code == 2 and "does not exist" in err
    code, _, err = run_cli(capsys, "compare", str(other))
    assert code == 2 and "sweep.json" in err


def test_a_changed_sweep_is_refused_in_an_old_directory(grid_sweep, tmp_path, capsys):
    path, out = grid_sweep
    changed = write_sweep(tmp_path, 'seeds = [0, 1]\n[grid]\n"train.lr" = [0.003, 0.01]\n', name="s.toml")
    changed.write_text(changed.read_text().replace('"train.round_steps" = 4', '"train.round_steps" = 3'))
    code, _, err = run_cli(capsys, "sweep", str(changed), "--out", str(out))
    assert code == 2 and "another config" in err


def test_unreachable_ray_address(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    path = write_sweep(tmp_path, "seeds = [0]\n")
    code, _, err = run_cli(capsys, "sweep", str(path), "--out", str(tmp_path / "out"), "--backend", "ray")
    assert code == 2 and "RAY_ADDRESS=127.0.0.1:1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.ray
def test_ray_sweep_on_a_local_cluster(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    path = write_sweep(tmp_path, 'seeds = [0, 1]\n[grid]\n"train.lr" = [0.01]\n')
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        index = run_sweep(load_sweep(path, tmp_path / "out"), backend="ray")
    finally:
        ray.shutdown()
    (point,) = index["points"]
    assert [(r["dir"], r["status"]) for r in point["runs"]] == [
        ("train.lr=0.01,seed=0", "complete"),
        ("train.lr=0.01,seed=1", "complete"),
    ]
    for r in point["runs"]:
        run_dir = tmp_path / "out" / r["dir"]
        assert db_rows(run_dir, "SELECT value FROM meta WHERE key = 'status'") == [("complete",)]
        config = json.loads(db_rows(run_dir, "SELECT value FROM meta WHERE key = 'config'")[0][0])
        assert (config["seed"], config["train"]["lr"]) == (r["seed"], 0.01)


def test_load_sweep_refuses_a_missing_preset(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('preset = "nope"\nseeds = [0]\n')
    with pytest.raises(SelftaughtError, match="nope"):
        load_sweep(path, tmp_path / "out")


def test_base_file_is_relative_to_the_sweep_file(tmp_path, monkeypatch):
    (tmp_path / "exps").mkdir()
    (tmp_path / "exps" / "exp.toml").write_text('[task]\nname = "copy"\n[train]\nbatch_size = 24\n')
    path = tmp_path / "exps" / "sweep.toml"
    path.write_text(
        'base = "exp.toml"\nseeds = [5]\nset = { "train.lr" = 0.002 }\n[grid]\n"loop.max_rounds" = [1, 2]\n'
    )
    monkeypatch.chdir(tmp_path)  # not the sweep file's folder
    sweep = load_sweep(Path("exps/sweep.toml"))
    assert sweep.out == Path("sweeps") / "sweep" and not sweep.out.exists()
    assert [r.dir for r in sweep.runs] == ["loop.max_rounds=1,seed=5", "loop.max_rounds=2,seed=5"]
    for run, rounds in zip(sweep.runs, [1, 2]):
        e = run.exp
        assert (e.task.name, e.train.batch_size, e.train.lr, e.loop.max_rounds, e.seed) == (
            "copy",
            24,
            0.002,
            rounds,
            5,
        )
        assert e.name == "sweep"
