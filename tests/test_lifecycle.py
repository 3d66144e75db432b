"""A run's life at its edges: one writer per run directory, a store that is one file when a command ends, runs that
failed at their very start, a kill while the report is written, signals, a full or read-only disk, bad paths."""

from __future__ import annotations

import gc
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from selftaught.cli import main
from selftaught.config import load_experiment
from selftaught.errors import SelftaughtError
from selftaught.run.loop import Loop
from selftaught.store import Store

from support import rows as query

# A run of a few seconds: 50 labelled problems, 4 + 2 training steps, one self-labelled round.
OVERRIDES = [
    "loop.labelled_problems=50",
    "loop.problems_per_round=8",
    "loop.max_rounds=1",
    "train.labelled_steps=4",
    "train.round_steps=2",
    "eval.problems=4",
]
TINY = ["--preset", "smoke", *(arg for o in OVERRIDES for arg in ("--set", o))]
TABLES = ("problems", "attempts", "verdicts", "examples", "train_metrics", "eval_results", "evaluations")


def counts(db: Path) -> dict[str, int]:
    return {t: query(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}


def counts_in_the_file_alone(run_dir: Path, tmp_path: Path) -> dict[str, int]:
    """Counts read from a copy of run.db taken without run.db-wal and run.db-shm."""
    copy = tmp_path / f"copy-{time.monotonic_ns()}" / "run.db"
    copy.parent.mkdir()
    copy.write_bytes((run_dir / "run.db").read_bytes())
    try:
        return counts(copy)
    except sqlite3.Error:
        return {}


def phases_done(run_dir: Path) -> list[tuple[int, str]]:
    return query(run_dir / "run.db", "SELECT round, phase FROM phases WHERE done = 1 ORDER BY round, rowid")


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["run", "--out", str(run_dir), *TINY]) == 0
    return run_dir


# --------------------------------------------------------------------------------------------- one file, one id
def test_a_finished_run_is_one_file(tiny_run, tmp_path):
    alone = counts_in_the_file_alone(tiny_run, tmp_path)
    assert alone == counts(tiny_run / "run.db")
    assert alone["examples"] >= 50 and alone["train_metrics"] >= 4 and alone["eval_results"] > 0
    assert not (tiny_run / "run.db-wal").exists() or (tiny_run / "run.db-wal").stat().st_size == 0
    assert (tiny_run / ".lock").read_text() == ""  # released: no holder named


def test_the_run_id_and_the_directory_share_one_timestamp(tmp_path, monkeypatch):
    """Even on a clock that moves on between calls (here 1.5 s per call), the default directory is named by the run
    id and the store's ``created`` is the id's moment."""
    monkeypatch.chdir(tmp_path)
    exp, text = load_experiment(None, "smoke", OVERRIDES)
    clock = iter(range(1_800_000_000 * 2, 1_800_000_000 * 2 + 10_000, 3))
    real = time.time
    monkeypatch.setattr(time, "time", lambda: next(clock) / 2)
    try:
        loop = Loop.create(None, exp, text)
    finally:
        monkeypatch.setattr(time, "time", real)
    try:
        run_id = loop.store.run_id
        assert loop.run_dir == Path("runs") / run_id
        created = float(loop.store.meta("created"))
        assert time.strftime("%Y%m%d-%H%M%S", time.localtime(created)) in run_id
    finally:
        loop.close()


# --------------------------------------------------------------------------------------------------- the lock
def test_a_second_writer_is_refused_naming_the_holder_and_changes_nothing(tmp_path, paused, capsys):
    run_dir = tmp_path / "run"
    first = paused(["run", "--out", run_dir, *TINY], "CURATE:0")  # holds the lock; round 0's examples not written
    before = {n: (run_dir / n).read_bytes() for n in ("run.db", "run.db-wal") if (run_dir / n).exists()}
    for command in (["resume", str(run_dir)], ["run", "--out", str(run_dir), *TINY]):
        capsys.readouterr()
        assert main(command) == 2
        line = one_line(capsys.readouterr().err)
        holder = f"is in use by pid {first.proc.pid} (selftaught run, since "
        assert line.startswith(f"error: run directory {run_dir} {holder}"), line
        assert {n: (run_dir / n).read_bytes() for n in before} == before
    assert phases_done(run_dir)[-1] == (0, "VERIFY")
    assert first.stop(signal.SIGKILL)[0] == -signal.SIGKILL
    # kill -9 leaves rows in run.db-wal; status reads them and leaves the files as they are; resume folds them in.
    left = {n: (run_dir / n).read_bytes() for n in ("run.db", "run.db-wal")}
    assert main(["status", str(run_dir)]) == 0
    assert {n: (run_dir / n).read_bytes() for n in left} == left
    assert main(["resume", str(run_dir)]) == 0  # the kernel dropped the dead holder's lock
    assert counts_in_the_file_alone(run_dir, tmp_path) == counts(run_dir / "run.db")
    assert query(run_dir / "run.db", "SELECT COUNT(*) FROM examples WHERE round = 0") == [(50,)]


# ------------------------------------------------------------------------------------------------ signals
def test_signals_stop_in_one_line_with_the_store_whole_and_resume_mends_a_missing_report(tmp_path, paused, capsys):
    run_dir = tmp_path / "run"
    resume = f"resume with: selftaught resume {run_dir}\n"
    run = paused(["run", "--out", run_dir, *TINY], "TRAIN:0:2")  # Ctrl-C after round 0's second training step
    assert run.stop(signal.SIGINT) == (130, f"interrupted in round 0 TRAIN; {resume}")
    # Rolled back, checkpointed, unlocked: run.db alone holds what was committed, and no half checkpoint is left.
    assert counts_in_the_file_alone(run_dir, tmp_path) == counts(run_dir / "run.db")
    assert phases_done(run_dir)[-1] == (0, "CURATE")
    assert (run_dir / ".lock").read_text() == ""
    assert not list(run_dir.glob("checkpoints/*"))

    again = paused(["resume", run_dir], "REPORT")  # SIGTERM once every phase is done, before the report
    assert again.stop(signal.SIGTERM) == (143, f"interrupted while writing the report; {resume}")
    assert counts_in_the_file_alone(run_dir, tmp_path) == counts(run_dir / "run.db")
    assert len(phases_done(run_dir)) == 14
    assert not (run_dir / "report" / "report.html").exists()

    capsys.readouterr()
    assert main(["resume", str(run_dir)]) == 0
    said = capsys.readouterr().out
    assert "already complete" in said and "its report was missing: wrote" in said
    assert "</html>" in (run_dir / "report" / "report.html").read_text()
    assert main(["resume", str(run_dir)]) == 0
    assert "missing" not in capsys.readouterr().out


# ---------------------------------------------------------------------------------------- a failed start
def _config_only(run_dir: Path) -> None:
    exp, _ = load_experiment(None, "smoke", OVERRIDES)
    run_dir.mkdir()
    (run_dir / "config.toml").write_text(
        "\n".join(
            [
                'name = "smoke"',
                "[task]",
                'name = "reversed-addition"',
                "[student]",
                "n_layer = 1",
                "n_embd = 32",
                "rope_scale = 1.0",
                "[loop]",
                "labelled_max = 2",
                "labelled_problems = 50",
                "problems_per_round = 8",
                "max_rounds = 0",
                "[train]",
                "labelled_steps = 4",
                "[eval]",
                "problems = 4",
            ]
        )
    )


def _empty_store(run_dir: Path) -> None:
    run_dir.mkdir()
    (run_dir / "run.db").write_bytes(b"")


def _store_without_setup(run_dir: Path) -> None:
    exp, text = load_experiment(None, "smoke", [*OVERRIDES, "loop.max_rounds=0"])
    run_dir.mkdir()
    Store.create(run_dir / "run.db", "smoke-20260101-000000-abcd", exp.model_dump(mode="json"), text).close()


@pytest.mark.parametrize("leave", [_config_only, _empty_store, _store_without_setup])
@pytest.mark.parametrize("command", ["run", "resume"])
def test_a_directory_left_by_a_failed_start_is_taken_over(tmp_path, leave, command):
    """``run --out DIR`` takes it over; ``resume DIR`` starts its run from the config it holds."""
    run_dir = tmp_path / "run"
    leave(run_dir)
    if command == "run":
        exp, text = load_experiment(None, "smoke", [*OVERRIDES, "seed=5"])
        loop = Loop.create(run_dir, exp, text)
    elif leave is _empty_store:  # nothing to start from: said in one line, the directory left as it was
        with pytest.raises(SelftaughtError, match="holds no run: no store and no config.toml"):
            Loop.resume(run_dir)
        assert sorted(os.listdir(run_dir)) == ["run.db"]
        return
    else:
        loop = Loop.resume(run_dir)
    try:
        assert loop.store.meta("setup_done") == "1" and loop.current_round() == 0
        assert loop.exp.seed == (5 if command == "run" else 0)
        assert loop.exp.loop.labelled_problems == 50 and loop.exp.loop.max_rounds == (0 if command == "resume" else 1)
        if leave is _store_without_setup and command == "resume":
            assert loop.store.run_id == "smoke-20260101-000000-abcd"
    finally:
        loop.close()


def test_resume_finishes_a_run_whose_start_failed(tmp_path):
    run_dir = tmp_path / "run"
    _config_only(run_dir)
    assert main(["resume", str(run_dir)]) == 0
    assert counts(run_dir / "run.db")["examples"] == 50
    assert len(phases_done(run_dir)) == 7 and (run_dir / "report" / "report.html").is_file()


def test_run_refuses_a_directory_with_a_run_in_it(tiny_run, capsys):
    before = counts(tiny_run / "run.db")
    assert main(["run", "--out", str(tiny_run), *TINY]) == 2
    assert "already exists and is not empty" in one_line(capsys.readouterr().err)
    assert counts(tiny_run / "run.db") == before


# ------------------------------------------------------------------------------------------ full, read-only
@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 2 MiB tmpfs (root only): room for the store, not for a 3 MB checkpoint. Unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    gc.collect()  # connections a failed test left open
    if subprocess.run(["umount", str(mnt)]).returncode:
        subprocess.run(["umount", "-l", str(mnt)], check=True)  # detached now, freed when the last file closes


def test_a_full_disk_at_the_checkpoint_says_so_and_loses_nothing(tiny_disk, tmp_path, capsys):
    run_dir = tiny_disk / "run"
    args = ["run", "--out", str(run_dir), *TINY, "--set", "student.n_embd=256"]  # weights: about 3 MB
    assert main(args) == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"error: cannot write {run_dir}/checkpoints/round-000.tmp/model-0: No space left on device"
    assert not (run_dir / "checkpoints" / "round-000.tmp").exists()  # the partial checkpoint is gone
    assert phases_done(run_dir) == [(0, p) for p in ("PROPOSE", "ATTEMPT", "VERIFY", "CURATE")]
    assert counts_in_the_file_alone(run_dir, tmp_path) == counts(run_dir / "run.db")
    assert counts(run_dir / "run.db")["examples"] == 50


@pytest.fixture
def immutable():
    """``chattr +i`` on a file: unwritable even for root (tests run as root, where chmod 0444 stops nothing)."""
    changed = []

    def make(p: Path) -> None:
        if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here")
        changed.append(p)

    yield make
    for p in changed:
        subprocess.run(["chattr", "-i", str(p)], check=True)


def test_a_read_only_store_says_so_in_one_line(tmp_path, immutable, capsys):
    run_dir = tmp_path / "run"
    exp, text = load_experiment(None, "smoke", OVERRIDES)
    Loop.create(run_dir, exp, text).close()  # set up, no round yet
    before = (run_dir / "run.db").read_bytes()
    immutable(run_dir / "run.db")
    assert main(["resume", str(run_dir)]) == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"error: cannot write the run store {run_dir}/run.db: attempt to write a readonly database"
    assert (run_dir / "run.db").read_bytes() == before
    assert (run_dir / ".lock").read_text() == ""


# ------------------------------------------------------------------------------------------------ bad paths
def test_bad_paths_are_one_line_and_create_nothing(tmp_path, tiny_run, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a run")
    cases = [
        (["run", "--out", str(a_file), *TINY], f"{a_file} is a file, not a run directory"),
        (["run", "--out", str(a_file / "sub"), *TINY], f"{a_file} is a file, not a directory"),
        (["resume", str(a_file)], f"{a_file} is a file, not a run directory"),
        (["status", str(a_file)], f"{a_file} is a file, not a run directory"),
        (["report", str(a_file)], f"{a_file} is a file, not a run directory"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2, argv
        line = one_line(capsys.readouterr().err)
        assert message in line, (argv, line)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    assert a_file.read_text() == "not a run"
