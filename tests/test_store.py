"""The run store: lifecycle, all-or-nothing phases, constraints and the queries the loop relies on."""

from __future__ import annotations

import gc
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from selftaught.errors import SelftaughtError
from selftaught.store import PHASES, SCHEMA_VERSION, Reader, Store
from selftaught.types import Example, Problem, Verdict

CONFIG = {"seed": 7, "task": {"name": "reversed-addition"}, "rounds": 3, "lr": 0.001}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run.db"


@pytest.fixture
def store(path: Path):
    s = Store.create(path, "run-abc", CONFIG, "seed = 7\n")
    yield s
    s.close()


def problem(prompt: str, difficulty: int = 3, target: str | None = "1", seed: int = 0) -> Problem:
    return Problem(task="reversed-addition", difficulty=difficulty, prompt=prompt, target=target, seed=seed)


def example(prompt: str, round_: int, source: str, origin: int | None = None) -> Example:
    return Example(prompt, "x", 2, source, round_ if origin is None else origin, "copy")


# ------------------------------------------------------------------------------------------------- lifecycle
def test_create_then_open_round_trip(store: Store, path: Path) -> None:
    assert store.run_id == "run-abc"
    assert store.config() == CONFIG
    assert store.meta("config_text") == "seed = 7\n"
    assert store.meta("status") == "running"
    assert store.meta("schema_version") == str(SCHEMA_VERSION)
    assert not store.complete
    store.finish("max rounds")
    store.close()
    again = Store.open(path)
    try:
        assert again.run_id == "run-abc"
        assert again.config() == CONFIG
        assert again.meta("config_text") == "seed = 7\n"
        assert again.complete
        assert again.meta("stop_reason") == "max rounds"
        assert again.meta("no such key") is None
    finally:
        again.close()


def test_create_over_an_existing_path_raises(store: Store, path: Path) -> None:
    before = path.read_bytes()
    with pytest.raises(SelftaughtError, match="already exists"):
        Store.create(path, "other", {}, "")
    assert path.read_bytes() == before
    assert store.run_id == "run-abc"


def test_open_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SelftaughtError, match="no run store"):
        Store.open(tmp_path / "run.db")
    with pytest.raises(SelftaughtError, match="no run store"):
        Store.open(tmp_path)  # a directory is not a store


def test_open_a_garbage_file_raises_and_leaves_it_unchanged(path: Path) -> None:
    data = bytes((i * 97 + 13) % 256 for i in range(8192))
    path.write_bytes(data)
    with pytest.raises(SelftaughtError, match="not a readable selftaught run store"):
        Store.open(path)
    assert path.read_bytes() == data
    assert sorted(os.listdir(path.parent)) == ["run.db"]


def test_open_refuses_another_schema_version(store: Store, path: Path) -> None:
    with store.transaction():
        store._db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SelftaughtError, match="schema version 99"):
        Store.open(path)


def test_open_a_foreign_sqlite_file_raises_and_leaves_it_unchanged(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (x TEXT)")
    conn.execute("INSERT INTO notes VALUES ('keep me')")
    conn.commit()
    conn.close()
    data = path.read_bytes()
    with pytest.raises(SelftaughtError, match="not a readable selftaught run store"):
        Store.open(path)
    assert path.read_bytes() == data
    assert sorted(os.listdir(path.parent)) == ["run.db"]


# ---------------------------------------------------------------------------------------------------- phases
def test_start_round_creates_every_phase_not_done(store: Store) -> None:
    store.start_round(1, 4)
    assert store.rounds()[0]["round"] == 1 and store.rounds()[0]["difficulty"] == 4
    assert store.phase_states(1) == {p: {"done": False, "seconds": None, "cpu_seconds": None} for p in PHASES}
    store.start_round(1, 9)  # idempotent: a resumed round keeps its first record
    assert [r["difficulty"] for r in store.rounds()] == [4]


def test_failing_phase_rolls_back_every_row_and_stays_not_done(store: Store) -> None:
    store.start_round(1, 3)
    with store.phase(1, "PROPOSE"):
        store.add_problems(1, "self", [problem("12+3="), problem("4+56=")])
    ids = [pid for pid, _ in store.problems(1, "self")]
    with pytest.raises(RuntimeError, match="crash"):
        with store.phase(1, "ATTEMPT"):
            store.add_attempts([(ids[0], 0, 0, "15"), (ids[1], 0, 0, "60")])
            store.add_train_metrics(1, 0, [1.0, 0.5], [1e-3, 1e-3])
            store.set_teacher_state(1, "ATTEMPT", {"frontier_": 4})
            assert store.count("attempts") == 2  # visible inside the transaction
            raise RuntimeError("crash")
    assert not store.phase_done(1, "ATTEMPT")
    assert store.phase_done(1, "PROPOSE")
    assert store.count("attempts") == 0
    assert store.count("train_metrics") == 0
    assert store.last_teacher_state() is None
    assert store.attempts(1) == {}
    assert store.phase_states(1)["ATTEMPT"] == {"done": False, "seconds": None, "cpu_seconds": None}
    # The store is usable afterwards and the phase can be re-run.
    with store.phase(1, "ATTEMPT"):
        store.add_attempts([(ids[0], 0, 0, "15")])
    assert store.phase_done(1, "ATTEMPT")
    assert store.attempts(1) == {ids[0]: ["15"]}


def test_successful_phase_is_done_and_visible_from_a_second_connection(store: Store, path: Path) -> None:
    store.start_round(1, 3)
    with store.phase(1, "PROPOSE"):
        store.add_problems(1, "self", [problem("12+3=", seed=11), problem("4+56=", target=None, seed=12)])
    other = Store.open(path)
    try:
        assert other.phase_done(1, "PROPOSE")
        assert not other.phase_done(1, "ATTEMPT")
        states = other.phase_states(1)
        assert states["PROPOSE"]["done"] and states["PROPOSE"]["seconds"] >= 0
        assert other.problems(1, "self") == [
            (1, problem("12+3=", seed=11)),
            (2, problem("4+56=", target=None, seed=12)),
        ]
        assert other.query("SELECT round, purpose, idx FROM problems ORDER BY id") == [(1, "self", 0), (1, "self", 1)]
    finally:
        other.close()


def test_a_phase_inside_another_transaction_commits_with_the_outer_one(store: Store) -> None:
    store.start_round(1, 3)
    with pytest.raises(KeyError):
        with store.transaction():
            with store.phase(1, "PROPOSE"):
                store.add_problems(1, "self", [problem("1+1=")])
            raise KeyError("outer fails")
    assert not store.phase_done(1, "PROPOSE")
    assert store.count("problems") == 0


def test_unknown_phase_raises(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown phase"):
        with store.phase(1, "SLEEP"):
            pass


# ----------------------------------------------------------------------------------------------- constraints
def test_duplicate_attempt_is_refused(store: Store) -> None:
    store.add_problems(1, "self", [problem("12+3=")])
    ((pid, _),) = store.problems(1, "self")
    store.add_attempts([(pid, 0, 0, "15"), (pid, 0, 1, "16"), (pid, 1, 0, "15")])
    with pytest.raises(sqlite3.IntegrityError):
        store.add_attempts([(pid, 0, 1, "99")])
    assert store.query("SELECT model, sample, text FROM attempts ORDER BY id") == [
        (0, 0, "15"),
        (0, 1, "16"),
        (1, 0, "15"),
    ]


def test_duplicate_problem_index_and_dangling_attempt_are_refused(store: Store) -> None:
    store.add_problems(1, "eval", [problem("1+1=")])
    with pytest.raises(sqlite3.IntegrityError):
        store.add_problems(1, "eval", [problem("2+2=")])  # (round, purpose, idx) again
    store.add_problems(2, "eval", [problem("2+2=")])  # another round: fine
    with pytest.raises(sqlite3.IntegrityError):
        store.add_attempts([(999, 0, 0, "x")])  # no such problem
    assert store.count("problems") == 2
    assert store.count("attempts") == 0


# ---------------------------------------------------------------------------------------------------- queries
def test_replay_pool_holds_only_examples_first_produced_before_the_round(store: Store) -> None:
    store.add_examples(0, [example("L1", 0, "labelled"), example("L2", 0, "labelled")])
    store.add_examples(1, [example("S1", 1, "self"), example("L1", 1, "replay", origin=0)])
    store.add_examples(2, [example("S2", 2, "self"), example("S1", 2, "replay", origin=1)])
    assert [e.prompt for e in store.replay_pool(0)] == []
    assert [e.prompt for e in store.replay_pool(1)] == ["L1", "L2"]
    pool = store.replay_pool(2)
    assert [(e.prompt, e.source, e.origin_round) for e in pool] == [
        ("L1", "labelled", 0),
        ("L2", "labelled", 0),
        ("S1", "self", 1),
    ]
    assert [e.prompt for e in store.replay_pool(3)] == ["L1", "L2", "S1", "S2"]
    assert [e.prompt for e in store.examples(2)] == ["S2", "S1"]
    assert [e.prompt for e in store.examples(2, fresh_only=True)] == ["S2"]
    assert store.examples(1)[1] == example("L1", 1, "replay", origin=0)


def test_accepted_returns_the_accepted_answers_as_examples(store: Store) -> None:
    store.add_problems(1, "self", [problem("a"), problem("b"), problem("c")])
    ids = [pid for pid, _ in store.problems(1, "self")]
    store.add_verdicts(
        1, [(ids[0], Verdict("A", 1.0), None), (ids[1], Verdict(None, 0.2), None), (ids[2], Verdict("C", 0.9), None)]
    )
    got = store.accepted(1)
    assert [(e.prompt, e.answer, e.source, e.origin_round, e.task) for e in got] == [
        ("a", "A", "self", 1, "reversed-addition"),
        ("c", "C", "self", 1, "reversed-addition"),
    ]


def test_round_summary_counts_verdicts(store: Store) -> None:
    store.start_round(1, 3)
    store.start_round(2, 4)
    store.add_problems(1, "self", [problem(str(i)) for i in range(5)])
    store.add_problems(2, "self", [problem("other")])
    ids = [pid for pid, _ in store.problems(1, "self")]
    store.add_verdicts(
        1,
        [
            (ids[0], Verdict("1", 1.0, {"votes": {"1": 3}}), 1),  # accepted, right
            (ids[1], Verdict("2", 0.8), 0),  # accepted, wrong
            (ids[2], Verdict("3", 0.7), None),  # accepted, no oracle
            (ids[3], Verdict(None, 0.3), 1),  # rejected: does not count towards label accuracy
            (ids[4], Verdict(None, 0.1), None),
        ],
    )
    ((other, _),) = store.problems(2, "self")
    store.add_verdicts(2, [(other, Verdict("9", 1.0), 0)])
    store.add_train_metrics(1, 0, [2.0, 1.0, 0.5], [1e-3] * 3)
    store.add_train_metrics(1, 1, [2.0], [1e-3])  # another model's steps are not counted
    with store.phase(1, "DECIDE"):
        store.end_round(1, "continue")
    s = store.round_summary(1)
    assert (s["round"], s["difficulty"], s["proposed"], s["accepted"]) == (1, 3, 5, 3)
    assert s["label_accuracy"] == pytest.approx(0.5)
    assert s["train_steps"] == 3
    assert s["decision"] == "continue"
    assert s["phases"]["DECIDE"]["done"] and not s["phases"]["TRAIN"]["done"]
    s2 = store.round_summary(2)
    assert (s2["proposed"], s2["accepted"], s2["label_accuracy"]) == (1, 1, 0.0)
    assert [r["round"] for r in store.round_summaries()] == [1, 2]
    assert json.loads(store.query("SELECT evidence FROM verdicts WHERE problem_id = ?", (ids[0],))[0][0]) == {
        "votes": {"1": 3}
    }
    with pytest.raises(KeyError):
        store.round_summary(3)


def test_round_summary_without_oracle_has_no_label_accuracy(store: Store) -> None:
    store.start_round(1, 3)
    store.add_problems(1, "self", [problem("a")])
    ((pid, _),) = store.problems(1, "self")
    store.add_verdicts(1, [(pid, Verdict("A", 1.0), None)])
    s = store.round_summary(1)
    assert (s["proposed"], s["accepted"], s["label_accuracy"], s["train_steps"]) == (1, 1, None, 0)


def test_teacher_state_and_checkpoints_round_trip(store: Store) -> None:
    assert store.last_teacher_state() is None
    store.set_teacher_state(1, "DECIDE", {"frontier_": 5, "hist_": [1, 2]})
    store.set_teacher_state(1, "TRAIN", {"frontier_": 4})
    store.set_teacher_state(0, "DECIDE", {"frontier_": 3})
    # The newest is the latest phase of the latest round, whatever order the rows were written in.
    assert store.last_teacher_state() == {"frontier_": 5, "hist_": [1, 2]}
    store.set_teacher_state(2, "PROPOSE", {"frontier_": 6})
    assert store.last_teacher_state() == {"frontier_": 6}
    store.add_checkpoint(1, 1, "ckpt/r1m1")
    store.add_checkpoint(1, 0, "ckpt/r1m0")
    store.add_checkpoint(1, 0, "ckpt/r1m0b")  # replaced
    assert store.checkpoints(1) == ["ckpt/r1m0b", "ckpt/r1m1"]


def test_count_refuses_unknown_tables(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown table"):
        store.count("meta; DROP TABLE meta")
    assert store.run_id == "run-abc"


def test_skill_results_curriculum_and_scores_round_trip(store: Store) -> None:
    store.add_skill_results(1, 100, "slice", [("copy", 3, 7, 8), ("sorting", 2, 1, 8)])
    store.add_skill_results(1, 0, "attempts", [("copy", 4, 5, 10)])
    assert store.skill_results("slice") == [
        {"round": 1, "step": 100, "kind": "slice", "skill": "copy", "difficulty": 3, "successes": 7, "trials": 8},
        {"round": 1, "step": 100, "kind": "slice", "skill": "sorting", "difficulty": 2, "successes": 1, "trials": 8},
    ]
    assert [r["kind"] for r in store.skill_results()] == ["attempts", "slice", "slice"]
    store.add_curriculum(1, 0, {("copy", 3): 40, ("sorting", 2): 24})
    assert store.curriculum() == [
        {"round": 1, "step": 0, "skill": "copy", "difficulty": 3, "count": 40},
        {"round": 1, "step": 0, "skill": "sorting", "difficulty": 2, "count": 24},
    ]
    store.add_teacher_scores(1, 50, {"copy:3": 0.25})
    assert store.teacher_scores() == [{"round": 1, "step": 50, "key": "copy:3", "value": 0.25}]
    assert store.count("curriculum") == 2


def test_problem_params_and_frontiers(store: Store) -> None:
    store.add_problems(1, "train", [replace(problem("b"), difficulty=5, params=(5.2, 3.0)), problem("c")])
    store.add_problems(-1, "slice", [replace(problem("d"), difficulty=9)])
    assert [p.params for _, p in store.problems(1, "train")] == [(5.2, 3.0), None]
    assert "d" in store.eval_prompts()
    # Frontiers count what was trained on, not what was proposed.
    store.add_examples(0, [Example("x", "1", 3, "labelled", 0, "add"), Example("y", "1", 2, "labelled", 0, "copy")])
    store.add_examples(1, [Example("z", "1", 4, "self", 1, "add"), Example("x", "1", 3, "replay", 0, "add")])
    assert store.frontiers(0) == {"add": 3, "copy": 2}
    assert store.frontiers(1) == {"add": 4, "copy": 2}


# ------------------------------------------------------------------------------------------ one writer, one file
def test_a_phase_done_by_another_connection_is_refused_inside_the_transaction(store: Store, path: Path) -> None:
    """Two writers that both saw CURATE not done: the second is refused and writes nothing (no doubled examples)."""
    store.start_round(0, 2)
    other = Store.open(path)
    try:
        assert not store.phase_done(0, "CURATE") and not other.phase_done(0, "CURATE")  # both decide to run it
        with store.phase(0, "CURATE"):
            store.add_examples(0, [example(f"p{i}", 0, "labelled") for i in range(5)])
        with pytest.raises(SelftaughtError, match="round 0 CURATE is already recorded .*another process"):
            with other.phase(0, "CURATE"):
                other.add_examples(0, [example(f"p{i}", 0, "labelled") for i in range(5)])
        assert other.count("examples") == 5
        assert other.query("SELECT done FROM phases WHERE round = 0 AND phase = 'CURATE'") == [(1,)]
        with other.phase(0, "TRAIN"):  # the refusal left no transaction open
            pass
    finally:
        other.close()


def test_a_rounds_examples_are_numbered_and_cannot_be_written_twice(store: Store) -> None:
    store.add_examples(0, [example("a", 0, "labelled"), example("b", 0, "labelled")])
    store.add_examples(1, [example("c", 1, "self")])
    with pytest.raises(sqlite3.IntegrityError):
        store.add_examples(0, [example("a", 0, "labelled")])
    assert store.query("SELECT round, idx, prompt FROM examples ORDER BY id") == [(0, 0, "a"), (0, 1, "b"), (1, 0, "c")]


def test_open_brings_a_version_3_store_up_to_date(store: Store, path: Path) -> None:
    store.add_examples(0, [example("a", 0, "labelled"), example("b", 0, "labelled")])
    store.add_examples(1, [example("c", 1, "self")])
    with store.transaction():  # the examples table as schema version 3 had it: no index within the round
        store._db.execute(
            "CREATE TABLE examples3 (id INTEGER PRIMARY KEY, round INTEGER NOT NULL, task TEXT NOT NULL, "
            "difficulty INTEGER NOT NULL, prompt TEXT NOT NULL, answer TEXT NOT NULL, source TEXT NOT NULL, "
            "origin_round INTEGER NOT NULL)"
        )
        store._db.execute(
            "INSERT INTO examples3 SELECT id, round, task, difficulty, prompt, answer, source, origin_round "
            "FROM examples"
        )
        store._db.execute("DROP TABLE examples")
        store._db.execute("ALTER TABLE examples3 RENAME TO examples")
        store._db.execute("DROP TABLE relabels")  # version 7's
        for table, column in (("attempts", "reward"), ("attempts", "feedback"), ("problems", "meta")):  # version 4's
            store._db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        store.set_meta(schema_version=3)
    store.close()
    again = Store.open(path)
    try:
        assert again.meta("schema_version") == str(SCHEMA_VERSION)
        assert again.query("SELECT round, idx, prompt FROM examples ORDER BY id") == [
            (0, 0, "a"),
            (0, 1, "b"),
            (1, 0, "c"),
        ]
        assert [e.prompt for e in again.examples(0)] == ["a", "b"]
        with pytest.raises(sqlite3.IntegrityError):
            again.add_examples(1, [example("c", 1, "self")])
    finally:
        again.close()


def _rows_in_the_file_alone(path: Path, tmp: Path) -> int | None:
    """Rows of ``problems`` in a copy of ``path`` made without its -wal and -shm files (None: not even the table)."""
    copy = tmp / "copy" / "run.db"
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(path.read_bytes())
    with sqlite3.connect(copy) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'problems'").fetchall():
            return None
        return conn.execute("SELECT COUNT(*) FROM problems").fetchone()[0]


def test_close_checkpoints_the_log_into_the_file_even_while_another_connection_is_open(
    store: Store, path: Path, tmp_path: Path
) -> None:
    reader = sqlite3.connect(path)  # another process's idle connection: SQLite's own checkpoint-on-close skips
    try:
        assert reader.execute("SELECT COUNT(*) FROM problems").fetchone() == (0,)
        with store.transaction():
            store.add_problems(0, "train", [problem(f"{i}+{i}=") for i in range(200)])
        assert _rows_in_the_file_alone(path, tmp_path) != 200  # committed, but only in run.db-wal so far
        assert store.close() is True
        assert _rows_in_the_file_alone(path, tmp_path) == 200
        assert store.close() is True  # twice is harmless
    finally:
        reader.close()


def test_close_rolls_back_an_open_transaction(store: Store, path: Path) -> None:
    store.start_round(0, 1)
    store._db.execute("BEGIN IMMEDIATE")  # as if a signal arrived between BEGIN and the block that rolls back
    store.add_problems(0, "train", [problem("1+1=")])
    store.close()
    again = Store.open(path)
    try:
        assert again.count("problems") == 0
        with again.transaction():  # and nothing holds the write lock
            again.add_problems(0, "train", [problem("1+1=")])
    finally:
        again.close()


@pytest.fixture
def immutable(path: Path):
    """``chattr +i`` on a file: unwritable even for root (the tests run as root, where chmod 0444 stops nothing)."""
    changed = []

    def make(p: Path) -> None:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(p)]).returncode != 0:
            pytest.skip("chattr +i is not available here")
        changed.append(p)

    yield make
    for p in changed:
        subprocess.run(["chattr", "-i", str(p)], check=True)


def test_a_read_only_store_says_so_in_one_line_and_keeps_what_it_holds(store: Store, path: Path, immutable) -> None:
    store.start_round(0, 2)
    with store.phase(0, "PROPOSE"):
        store.add_problems(0, "train", [problem("1+1=")])
    store.close()
    before = path.read_bytes()
    immutable(path)
    with pytest.raises(SelftaughtError, match=r"^cannot write the run store .*run\.db: attempt to write a readonly"):
        Store.open(path)  # a writer that cannot write is refused as it opens
    with Reader.open(path) as ro:  # reading works
        assert ro.phase_done(0, "PROPOSE")
        assert [p.prompt for _, p in ro.problems(0, "train")] == ["1+1="]
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["run.db"]


@pytest.fixture
def tiny_disk(tmp_path: Path):
    """A 320 KiB tmpfs (root only), unmounted afterwards."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    gc.collect()  # connections a failed test left open
    if subprocess.run(["umount", str(mnt)]).returncode:
        subprocess.run(["umount", "-l", str(mnt)], check=True)  # detached now, freed when the last file closes


def test_a_full_disk_says_so_in_one_line_and_loses_nothing_committed(tiny_disk: Path) -> None:
    db = tiny_disk / "run.db"
    store = Store.create(db, "full", CONFIG, "")
    store.start_round(0, 2)
    with store.phase(0, "PROPOSE"):
        store.add_problems(0, "train", [problem("1+1=")])
    big = [problem(f"{i}:" + "7" * 2000) for i in range(1000)]  # 2 MB: more than the disk holds
    with pytest.raises(SelftaughtError, match=r"^cannot write the run store .*run\.db: database or disk is full"):
        with store.phase(0, "ATTEMPT"):
            store.add_problems(1, "train", big)
    assert store.count("problems") == 1
    assert store.phase_done(0, "PROPOSE") and not store.phase_done(0, "ATTEMPT")
    # The failed transaction's pages filled the disk, so the log cannot be folded in either: said, not hidden.
    with pytest.raises(SelftaughtError, match=r"^cannot fold the write-ahead log into the run store .*run\.db: "):
        store.close()
    with Reader.open(db) as again:  # what was committed is in the log, where a reader sees it
        assert [p.prompt for _, p in again.problems(0, "train")] == ["1+1="]


def test_attempt_scores_and_problem_meta_are_kept(store: Store) -> None:
    store.start_round(1, 3)
    meta = {"tests": ["assert f(1) == 2"], "entry_point": "f"}
    store.add_problems(1, "train", [Problem("code", 1, "p", None, 5, None, meta)])
    ((pid, problem),) = store.problems(1, "train")
    assert problem.meta == meta
    store.add_attempts([(pid, 0, 0, "a"), (pid, 0, 1, "b")])
    store.score_attempts([(pid, 0, 0, 1.0, "", 1), (pid, 0, 1, 0.5, "assert f(1) == 2: got 3 == 2", 0)])
    assert store.attempt_keys(1) == {pid: [(0, 0), (0, 1)]}
    assert store.query("SELECT text, reward, feedback, correct FROM attempts ORDER BY sample") == [
        ("a", 1.0, "", 1),
        ("b", 0.5, "assert f(1) == 2: got 3 == 2", 0),
    ]
