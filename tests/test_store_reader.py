"""The store's Reader: every query and no write; it sees only committed transactions while a writer runs, makes no
file beside a store (a finished one is one file), reads on media it cannot write, and upgrades an old store in
memory. And the writer's close: a finished store is one file, and a log the disk refuses to fold in is said."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

import selftaught.store.writer as writer_module
from selftaught.errors import SelftaughtError
from selftaught.store import PHASES, SCHEMA_VERSION, Reader, Store
from selftaught.store.connection import fold_log
from selftaught.types import Example, Problem, Verdict

from support import FullAtCheckpoint

CONFIG = {"seed": 3, "task": {"name": "copy"}}


def problem(prompt: str) -> Problem:
    return Problem(task="copy", difficulty=2, prompt=prompt, target=prompt, seed=0)


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def header_mode(db: Path) -> int:
    """1: rollback journal, 2: WAL (the file header's write version)."""
    return db.read_bytes()[18]


def fill(store: Store) -> None:
    """Round 0 with a problem, an attempt, a verdict and an example, each phase in its own transaction."""
    store.start_round(0, 2)
    with store.phase(0, "PROPOSE"):
        store.add_problems(0, "train", [problem("ab"), problem("cd")])
    ids = [pid for pid, _ in store.problems(0, "train")]
    with store.phase(0, "ATTEMPT"):
        store.add_attempts([(ids[0], 0, 0, "ab"), (ids[1], 0, 0, "xx")])
    with store.phase(0, "VERIFY"):
        store.add_verdicts(0, [(ids[0], Verdict("ab", 1.0), 1), (ids[1], Verdict(None, 0.0), 0)])
    with store.phase(0, "CURATE"):
        store.add_examples(0, [Example("ab", "ab", 2, "self", 0, "copy")])


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """A closed store with one round in it, alone in its directory."""
    db = tmp_path / "run" / "run.db"
    db.parent.mkdir()
    store = Store.create(db, "run-r", CONFIG, "seed = 3\n")
    fill(store)
    store.finish("max rounds")
    assert store.close() is True
    return db


@pytest.fixture
def immutable():
    """``chattr +i`` on files and directories: unwritable even for root. Undone afterwards."""
    changed: list[Path] = []

    def make(*paths: Path) -> None:
        for p in paths:
            if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(p)]).returncode != 0:
                pytest.skip("chattr +i is not available here")
            changed.append(p)

    yield make
    for p in reversed(changed):
        subprocess.run(["chattr", "-i", str(p)], check=True)


def old_style(db: Path) -> None:
    """Make ``db`` a store as closed before finished stores left WAL mode: WAL in its header, no file beside it."""
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    assert header_mode(db) == 2 and listing(db.parent) == ["run.db"]


# ------------------------------------------------------------------------------------------------ what it offers
def test_a_reader_offers_every_query_and_no_write(finished: Path) -> None:
    writes = {n for n in dir(Store) if n.startswith(("add_", "set_", "score_", "update_"))}
    writes |= {"create", "transaction", "phase", "start_round", "end_round", "finish"}
    assert len(writes) > 25 and not {n for n in writes if hasattr(Reader, n)}
    with Reader.open(finished) as reader:
        assert reader.run_id == "run-r" and reader.complete and reader.config() == CONFIG
        assert [p.prompt for _, p in reader.problems(0, "train")] == ["ab", "cd"]
        assert reader.phase_states(0)["CURATE"]["done"] and not reader.phase_states(0)["TRAIN"]["done"]
        assert [e.prompt for e in reader.examples(0)] == ["ab"]
        assert reader.round_summary(0)["accepted"] == 1
        assert reader.count("attempts") == 2
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.query("DELETE FROM attempts")  # not even raw SQL writes
    reader = Reader.open(finished)
    with pytest.raises(ValueError, match="cannot checkpoint"):
        reader.close(checkpoint=True)
    reader.close()
    reader.close()  # twice is harmless


def test_a_reader_refuses_what_is_not_a_store_and_leaves_it(tmp_path: Path) -> None:
    with pytest.raises(SelftaughtError, match="no run store"):
        Reader.open(tmp_path / "run.db")
    junk = tmp_path / "run.db"
    junk.write_bytes(b"not a database, not at all" * 100)
    with pytest.raises(SelftaughtError, match=r"run\.db is not a run store: file is not a database"):
        Reader.open(junk)
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (x TEXT)")
    conn.close()
    with pytest.raises(SelftaughtError, match="not a run store: no such table: meta"):
        Reader.open(foreign)
    assert listing(tmp_path) == ["other.db", "run.db"]


# ------------------------------------------------------------------------------------------------ one file
def test_a_finished_store_is_one_file_and_a_reader_keeps_it_so(finished: Path) -> None:
    assert listing(finished.parent) == ["run.db"]
    assert header_mode(finished) == 1  # a rollback journal: opened read-only, SQLite makes no file
    before = finished.read_bytes()
    with Reader.open(finished) as reader:
        assert reader.count("problems") == 2
        assert listing(finished.parent) == ["run.db"]
    assert listing(finished.parent) == ["run.db"] and finished.read_bytes() == before


def test_a_reader_makes_no_file_beside_a_store_left_in_wal_mode(finished: Path) -> None:
    old_style(finished)
    before = finished.read_bytes()
    with Reader.open(finished) as reader:
        assert reader.round_summary(0)["proposed"] == 2
    assert listing(finished.parent) == ["run.db"] and finished.read_bytes() == before


def test_a_writer_that_reopens_a_finished_store_returns_it_to_one_file(finished: Path) -> None:
    store = Store.open(finished)
    assert header_mode(finished) == 2  # WAL while it writes
    with store.phase(0, "TRAIN"):
        store.add_train_metrics(0, 0, [1.0], [0.1])
    assert store.close() is True
    assert listing(finished.parent) == ["run.db"] and header_mode(finished) == 1


# ------------------------------------------------------------------------------------------- read-only media
@pytest.mark.parametrize("wal", [False, True], ids=["finished", "left-in-wal-mode"])
def test_a_reader_reads_a_store_on_media_it_cannot_write(finished: Path, immutable, wal: bool) -> None:
    if wal:
        old_style(finished)
    immutable(finished, finished.parent)
    with pytest.raises(OSError):
        (finished.parent / "probe").write_text("x")  # the directory really is unwritable
    with Reader.open(finished) as reader:
        assert reader.complete and reader.count("examples") == 1
        assert reader.phase_done(0, "VERIFY")
    assert listing(finished.parent) == ["run.db"]


def test_a_log_that_cannot_be_read_on_read_only_media_is_said_in_one_line(tmp_path: Path, immutable) -> None:
    """A killed writer's log copied without its index, onto media that cannot be written: SQLite cannot rebuild the
    index there, so the committed rows in the log are out of reach; said, naming the log."""
    live = tmp_path / "live" / "run.db"
    live.parent.mkdir()
    store = Store.create(live, "run-k", CONFIG, "")
    fill(store)
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("run.db", "run.db-wal"):  # as a kill -9 leaves them, less the index
        shutil.copyfile(live.parent / name, copy / name)
    store.close()
    immutable(copy / "run.db", copy / "run.db-wal", copy)
    with pytest.raises(SelftaughtError) as caught:
        Reader.open(copy / "run.db")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot read the run store {copy / 'run.db'}: its write-ahead log run.db-wal is not")
    assert listing(copy) == ["run.db", "run.db-wal"]


# ------------------------------------------------------------------------------------------- beside a writer
def test_a_reader_sees_only_committed_transactions_and_never_blocks_the_writer(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    store = Store.create(db, "run-w", CONFIG, "")
    try:
        fill(store)
        with store.phase(0, "TRAIN"):
            store.add_train_metrics(0, 0, [2.0, 1.0], [0.1, 0.1])
            with Reader.open(db) as reader:  # opened while the writer holds its write transaction
                assert not reader.phase_done(0, "TRAIN") and reader.train_metrics() == []
                assert reader.phase_done(0, "CURATE") and reader.count("examples") == 1
                store.add_train_metrics(0, 1, [3.0], [0.1])  # the writer goes on while the reader reads
            reader = Reader.open(db)
        try:
            assert reader.phase_done(0, "TRAIN")  # the same reader, after the commit
            assert [m["loss"] for m in reader.train_metrics()] == [2.0, 1.0]
            assert {p: s["done"] for p, s in reader.phase_states(0).items()} == {
                p: p in ("PROPOSE", "ATTEMPT", "VERIFY", "CURATE", "TRAIN") for p in PHASES
            }
        finally:
            reader.close()
    finally:
        store.close()
    assert listing(tmp_path) == ["run.db"]


# ------------------------------------------------------------------------------------------------ old stores
def test_a_reader_upgrades_an_old_store_in_memory_and_leaves_the_file(finished: Path) -> None:
    with sqlite3.connect(finished) as conn:  # schema version 6: no relabels, no replay weight on examples
        conn.execute("DROP TABLE relabels")
        conn.execute("ALTER TABLE examples DROP COLUMN relabel_id")
        conn.execute("ALTER TABLE examples DROP COLUMN weight")
        conn.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    conn.close()
    before = finished.read_bytes()
    with Reader.open(finished) as reader:
        assert reader.meta("schema_version") == str(SCHEMA_VERSION)
        assert [(e.prompt, e.weight, e.relabel) for e in reader.examples(0)] == [("ab", 1.0, None)]
        assert reader.hindsight_counts() == []
    assert finished.read_bytes() == before and listing(finished.parent) == ["run.db"]
    store = Store.open(finished)  # the writer upgrades the file itself
    store.close()
    with Reader.open(finished) as reader:
        assert reader.query("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


# ------------------------------------------------------------------------------------------ a log not folded in
def refuse_checkpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every writer's close meets a disk that refuses the checkpoint."""
    monkeypatch.setattr(writer_module, "fold_log", lambda db, path: fold_log(FullAtCheckpoint(db), path))


def test_a_log_the_disk_will_not_fold_in_is_said_and_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "run.db"
    store = Store.create(db, "run-f", CONFIG, "")
    fill(store)
    store.finish("max rounds")
    # Another connection stays open, so SQLite's own checkpoint as the last one closes does not fold the log in
    # behind the simulated refusal (on a full disk it would fail too).
    other = sqlite3.connect(db)
    try:
        assert other.execute("SELECT COUNT(*) FROM examples").fetchone() == (1,)
        refuse_checkpoints(monkeypatch)
        with pytest.raises(SelftaughtError) as caught:
            store.close()
        assert str(caught.value) == (
            f"cannot fold the write-ahead log into the run store {db}: database or disk is full; what the run "
            "recorded is kept in run.db-wal, and the next 'selftaught resume' folds it in"
        )
        assert store.close() is True  # closed all the same; twice is harmless
        assert (tmp_path / "run.db-wal").stat().st_size > 0
        with Reader.open(db) as reader:  # nothing committed is lost: it is in the log
            assert reader.complete and reader.count("examples") == 1
    finally:
        other.close()
    monkeypatch.undo()
    Store.open(db).close()  # the next writer with room folds it in
    assert listing(tmp_path) == ["run.db"]
    with Reader.open(db) as reader:
        assert reader.complete and reader.count("examples") == 1


def test_an_empty_log_the_disk_will_not_fold_is_no_error(tmp_path: Path, monkeypatch) -> None:
    """A store with nothing in its log (a writer that only read) closes quietly, and says it is not one file."""
    db = tmp_path / "run.db"
    Store.create(db, "run-e", CONFIG, "").close()
    store = Store.open(db)
    store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    refuse_checkpoints(monkeypatch)
    assert store.close() is False
