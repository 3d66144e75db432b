"""The commands that only read a run (status, report, export, compare) go through the store's Reader: they work on
read-only media and leave a finished run as they found it, one file. ``resume`` of a directory that holds no run
leaves it as it was (no lock file). A run whose log cannot be folded into run.db at its end says so and is not
reported complete."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

import selftaught.store.writer as writer_module
from selftaught.cli import main
from selftaught.store.connection import fold_log

from support import FullAtCheckpoint

TINY = [
    "--preset",
    "smoke",
    *("--set", "loop.labelled_problems=50"),
    *("--set", "loop.problems_per_round=8"),
    *("--set", "loop.max_rounds=1"),
    *("--set", "train.labelled_steps=4"),
    *("--set", "train.round_steps=2"),
    *("--set", "eval.problems=4"),
]


def tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def status_json(run_dir: Path, capsys) -> dict:
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["run", "--out", str(run_dir), *TINY]) == 0
    return run_dir


@pytest.fixture
def copy(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished run, to make read-only."""
    return Path(shutil.copytree(finished, tmp_path / "copy"))


@pytest.fixture
def immutable():
    """``chattr +i`` on every file and directory under a folder: unwritable even for root. Undone afterwards."""
    changed: list[Path] = []

    def make(folder: Path) -> None:
        for p in [*sorted(folder.rglob("*"), reverse=True), folder]:
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(p)]).returncode != 0:
                pytest.skip("chattr +i is not available here")
            changed.append(p)

    yield make
    for p in reversed(changed):
        subprocess.run(["chattr", "-i", str(p)], check=True)


# ------------------------------------------------------------------------------------------- read-only media
def test_a_finished_run_is_one_file(finished: Path) -> None:
    assert sorted(p.name for p in finished.iterdir() if p.is_file()) == [
        ".lock",
        "config.given.toml",
        "config.toml",
        "run.db",
    ]


def _status_on_read_only(finished: Path, copy: Path, capsys) -> None:
    """``status --json`` on ``copy`` (made read-only by the caller) says what it says on the original, and the copy
    is left exactly as it was."""
    before = tree(copy)
    with pytest.raises(OSError):
        (copy / "probe").write_text("x")
    st = status_json(copy, capsys)
    assert st == status_json(finished, capsys)
    assert st["complete"] and st["stop_reason"] and [r["round"] for r in st["rounds"]] == [0, 1]
    assert st["rounds"][0]["proposed"] == 50 and all(st["rounds"][1]["phases"].values())
    assert st["rounds"][1]["accuracy"]
    assert tree(copy) == before


def test_status_reads_a_run_on_read_only_media_chmod(finished: Path, copy: Path, capsys) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions (the chattr test covers root)")
    subprocess.run(["chmod", "-R", "a-w", str(copy)], check=True)
    try:
        _status_on_read_only(finished, copy, capsys)
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)


def test_status_reads_a_run_on_read_only_media_chattr(finished: Path, copy: Path, immutable, capsys) -> None:
    immutable(copy)
    _status_on_read_only(finished, copy, capsys)


def test_status_reads_a_run_left_in_wal_mode_on_read_only_media(finished: Path, copy: Path, immutable, capsys):
    """A run closed before finished stores left WAL mode: no log beside it, so it is read as it is."""
    conn = sqlite3.connect(copy / "run.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    assert (copy / "run.db").read_bytes()[18] == 2 and not (copy / "run.db-wal").exists()
    immutable(copy)
    _status_on_read_only(finished, copy, capsys)


# --------------------------------------------------------------------------------------------- no file left
def test_report_export_and_compare_leave_a_finished_run_one_file(finished: Path, copy: Path, tmp_path: Path, capsys):
    names = set(tree(copy))
    assert main(["report", str(copy)]) == 0
    assert set(tree(copy)) == names  # the report's files rewritten, nothing beside run.db
    before = tree(copy)
    assert main(["export", str(copy), "--tensorboard", str(tmp_path / "tb")]) == 0
    assert tree(copy) == before
    assert any((tmp_path / "tb").rglob("events.out.tfevents*"))
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    shutil.move(copy, sweep / "run")
    point = {"point": 0, "settings": {}, "runs": [{"seed": 0, "dir": "run", "status": "complete"}]}
    (sweep / "sweep.json").write_text(json.dumps({"sweep": "s", "points": [point]}))
    capsys.readouterr()
    assert main(["compare", str(sweep), "--json", "--no-plots"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["points"][0]["complete"] == 1 and result["points"][0]["steps"]["median"] > 0
    assert tree(sweep / "run") == before


# ------------------------------------------------------------------------------------------------ not a run
@pytest.mark.parametrize("holds", [[], ["notes.txt"], ["run.db"]], ids=["empty", "notes", "empty-store"])
def test_resume_of_a_directory_that_holds_no_run_leaves_it_as_it_was(tmp_path: Path, holds: list[str], capsys):
    folder = tmp_path / "dir"
    folder.mkdir()
    for name in holds:
        (folder / name).write_text("")
    capsys.readouterr()
    assert main(["resume", str(folder)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert sorted(os.listdir(folder)) == sorted(holds)


# ------------------------------------------------------------------------------------- a log not folded in
def test_a_run_whose_log_cannot_be_folded_in_says_so_and_is_not_called_complete(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(writer_module, "fold_log", lambda db, path: fold_log(FullAtCheckpoint(db), path))
    run_dir = tmp_path / "run"
    capsys.readouterr()
    assert main(["run", "--out", str(run_dir), *TINY]) == 2
    said = capsys.readouterr()
    assert "run complete" not in said.out
    assert said.err.strip() == (
        f"error: cannot fold the write-ahead log into the run store {run_dir / 'run.db'}: database or disk is full; "
        "what the run recorded is kept in run.db-wal, and the next 'selftaught resume' folds it in"
    )
    assert (run_dir / ".lock").read_text() == ""  # the lock is released all the same
    monkeypatch.undo()
    capsys.readouterr()
    assert main(["resume", str(run_dir)]) == 0
    assert "already complete" in capsys.readouterr().out
