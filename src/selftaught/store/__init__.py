"""The run store: one SQLite file (``run.db``, WAL mode) per run. The only module that speaks SQL.

Exact resume rests on one rule: a phase writes all its outputs and marks itself done in the same transaction
(``with store.phase(round, name):``), after checking inside it that the phase is not done already. A crash inside the
block rolls everything back, so a phase is either wholly recorded or not at all, and re-running it writes each record
once. Rows that must be unique say so in the schema.

One process writes a run (the loop holds the directory's lock, ``lock.py``); ``close`` checkpoints the write-ahead log
into ``run.db``, so a closed store is that one file. A write the disk refuses (read-only, full, I/O error) raises
``SelftaughtError`` naming the file; the transaction it was part of is rolled back.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selftaught.errors import SelftaughtError
from selftaught.types import Example, Problem, Verdict

SCHEMA_VERSION = 7  # 4: examples' index; 5: attempts' rewards, problems' meta; 6: rewards learning, control, refine;
# 7: hindsight relabels, examples' replay weight and relabel
# Added in schema 6: per-step series of a training method (GRPO's reward, KL, clip share, ...), rollouts generated
# inside TRAIN, the B-STaR control grid, refine turns and the experience memory.
_V6_TABLES = """
CREATE TABLE IF NOT EXISTS train_series (
    round INTEGER NOT NULL, model INTEGER NOT NULL, step INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
    PRIMARY KEY (round, model, step, name));
CREATE TABLE IF NOT EXISTS rollouts (
    round INTEGER NOT NULL, step INTEGER NOT NULL, problem_id INTEGER NOT NULL REFERENCES problems(id),
    sample INTEGER NOT NULL, text TEXT NOT NULL, reward REAL, feedback TEXT, correct INTEGER,
    PRIMARY KEY (round, step, problem_id, sample));
CREATE TABLE IF NOT EXISTS control (
    round INTEGER NOT NULL, temperature REAL NOT NULL, threshold REAL NOT NULL, samples INTEGER NOT NULL,
    score REAL NOT NULL, kept INTEGER NOT NULL, unique_correct INTEGER NOT NULL, chosen INTEGER NOT NULL,
    PRIMARY KEY (round, temperature, threshold, samples));
CREATE TABLE IF NOT EXISTS refine_steps (
    problem_id INTEGER NOT NULL REFERENCES problems(id), model INTEGER NOT NULL, sample INTEGER NOT NULL,
    turn INTEGER NOT NULL, prompt TEXT NOT NULL, text TEXT NOT NULL, reward REAL, feedback TEXT,
    PRIMARY KEY (problem_id, model, sample, turn));
CREATE TABLE IF NOT EXISTS refine_turns (
    round INTEGER NOT NULL, model INTEGER NOT NULL, turn INTEGER NOT NULL, tried INTEGER NOT NULL,
    fixed INTEGER NOT NULL, PRIMARY KEY (round, model, turn));
CREATE TABLE IF NOT EXISTS memory (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, problem_id INTEGER NOT NULL REFERENCES problems(id),
    features TEXT NOT NULL, failed TEXT NOT NULL, feedback TEXT NOT NULL, fixed TEXT NOT NULL,
    value REAL NOT NULL, uses INTEGER NOT NULL DEFAULT 0);
"""
# Added in schema 7: every hindsight relabel tried (a failed attempt re-posed as the problem it solves), and on each
# example its replay weight and the relabel it came from.
_V7_TABLES = """
CREATE TABLE IF NOT EXISTS relabels (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    task TEXT NOT NULL, from_difficulty INTEGER NOT NULL, difficulty INTEGER, prompt TEXT, answer TEXT, meta TEXT,
    kept INTEGER NOT NULL, reason TEXT NOT NULL, UNIQUE (round, attempt_id));
CREATE INDEX IF NOT EXISTS relabels_round ON relabels (round, kept);
"""
MIGRATIONS = {
    # 3 -> 4: number each round's examples in the order they were written.
    3: (
        "ALTER TABLE examples ADD COLUMN idx INTEGER",
        "UPDATE examples SET idx = n.i FROM "
        "(SELECT id, ROW_NUMBER() OVER (PARTITION BY round ORDER BY id) - 1 AS i FROM examples) AS n "
        "WHERE n.id = examples.id",
        "CREATE UNIQUE INDEX IF NOT EXISTS examples_order ON examples (round, idx)",
    ),
    # 4 -> 5: every attempt's reward and feedback from the verifier; a problem's task data (tests, entry point).
    4: (
        "ALTER TABLE attempts ADD COLUMN reward REAL",
        "ALTER TABLE attempts ADD COLUMN feedback TEXT",
        "ALTER TABLE problems ADD COLUMN meta TEXT",
        "CREATE TABLE IF NOT EXISTS pass_at_k (round INTEGER NOT NULL, task TEXT NOT NULL, difficulty INTEGER NOT "
        "NULL, k INTEGER NOT NULL, n INTEGER NOT NULL, problems INTEGER NOT NULL, value REAL NOT NULL, "
        "PRIMARY KEY (round, task, difficulty, k))",
    ),
    # 5 -> 6: learning from rewards (per-step series, rollouts), B-STaR control, refine turns and memory.
    5: tuple(stmt for stmt in _V6_TABLES.split(";") if stmt.strip()),
    # 6 -> 7: hindsight relabels; examples' replay weight (1 for what came before) and relabel.
    6: (
        *(stmt for stmt in _V7_TABLES.split(";") if stmt.strip()),
        "ALTER TABLE examples ADD COLUMN weight REAL NOT NULL DEFAULT 1.0",
        "ALTER TABLE examples ADD COLUMN relabel_id INTEGER REFERENCES relabels(id)",
    ),
}
# The disk, not the program, refused a write: said in one line, naming the file.
_WRITE_ERRORS = {
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_BUSY,
}
PHASES = ("PROPOSE", "ATTEMPT", "VERIFY", "CURATE", "TRAIN", "EVALUATE", "DECIDE")

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY, difficulty INTEGER, started REAL NOT NULL, finished REAL, decision TEXT,
    budget INTEGER);
CREATE TABLE IF NOT EXISTS phases (
    round INTEGER NOT NULL, phase TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    started REAL, finished REAL, seconds REAL, cpu_seconds REAL, PRIMARY KEY (round, phase));
CREATE TABLE IF NOT EXISTS problems (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, purpose TEXT NOT NULL, idx INTEGER NOT NULL,
    task TEXT NOT NULL, difficulty INTEGER NOT NULL, prompt TEXT NOT NULL, target TEXT, seed INTEGER NOT NULL,
    params TEXT, meta TEXT, UNIQUE (round, purpose, idx));
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY, problem_id INTEGER NOT NULL REFERENCES problems(id), model INTEGER NOT NULL,
    sample INTEGER NOT NULL, text TEXT NOT NULL, correct INTEGER, reward REAL, feedback TEXT,
    UNIQUE (problem_id, model, sample));
CREATE TABLE IF NOT EXISTS verdicts (
    problem_id INTEGER PRIMARY KEY REFERENCES problems(id), round INTEGER NOT NULL, accepted INTEGER NOT NULL,
    answer TEXT, score REAL NOT NULL, evidence TEXT NOT NULL, correct INTEGER);
CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, task TEXT NOT NULL, difficulty INTEGER NOT NULL,
    prompt TEXT NOT NULL, answer TEXT NOT NULL, source TEXT NOT NULL, origin_round INTEGER NOT NULL,
    idx INTEGER NOT NULL, weight REAL NOT NULL DEFAULT 1.0, relabel_id INTEGER REFERENCES relabels(id));
CREATE UNIQUE INDEX IF NOT EXISTS examples_order ON examples (round, idx);
CREATE TABLE IF NOT EXISTS train_metrics (
    round INTEGER NOT NULL, model INTEGER NOT NULL, step INTEGER NOT NULL, loss REAL NOT NULL, lr REAL NOT NULL,
    grad_norm REAL, grad_l1 REAL, PRIMARY KEY (round, model, step));
CREATE TABLE IF NOT EXISTS eval_results (
    round INTEGER NOT NULL, problem_id INTEGER NOT NULL REFERENCES problems(id), answer TEXT NOT NULL,
    correct INTEGER NOT NULL, PRIMARY KEY (round, problem_id));
CREATE TABLE IF NOT EXISTS evaluations (
    round INTEGER NOT NULL, task TEXT NOT NULL, difficulty INTEGER NOT NULL, n INTEGER NOT NULL,
    correct INTEGER NOT NULL, accuracy REAL NOT NULL, ci_low REAL NOT NULL, ci_high REAL NOT NULL,
    PRIMARY KEY (round, task, difficulty));
CREATE TABLE IF NOT EXISTS checkpoints (
    round INTEGER NOT NULL, model INTEGER NOT NULL, path TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (round, model));
CREATE TABLE IF NOT EXISTS teacher_state (
    round INTEGER NOT NULL, phase TEXT NOT NULL, state TEXT NOT NULL, PRIMARY KEY (round, phase));
CREATE TABLE IF NOT EXISTS skill_results (
    round INTEGER NOT NULL, step INTEGER NOT NULL, kind TEXT NOT NULL, task TEXT NOT NULL,
    difficulty INTEGER NOT NULL, successes INTEGER NOT NULL, trials INTEGER NOT NULL,
    PRIMARY KEY (round, step, kind, task, difficulty));
CREATE TABLE IF NOT EXISTS curriculum (
    round INTEGER NOT NULL, step INTEGER NOT NULL, task TEXT NOT NULL, difficulty INTEGER NOT NULL,
    count INTEGER NOT NULL, PRIMARY KEY (round, step, task, difficulty));
CREATE TABLE IF NOT EXISTS teacher_scores (
    round INTEGER NOT NULL, step INTEGER NOT NULL, key TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (round, step, key));
CREATE TABLE IF NOT EXISTS stop_decisions (
    round INTEGER NOT NULL, step INTEGER NOT NULL, budget INTEGER NOT NULL, value REAL NOT NULL,
    current REAL NOT NULL, mean REAL, low REAL, high REAL, stop INTEGER NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (round, step));
CREATE TABLE IF NOT EXISTS results_reached (
    task TEXT NOT NULL, difficulty INTEGER NOT NULL, target REAL NOT NULL, round INTEGER NOT NULL,
    steps INTEGER NOT NULL, seconds REAL NOT NULL, cpu_seconds REAL NOT NULL, accuracy REAL NOT NULL,
    PRIMARY KEY (task, difficulty, target));
CREATE TABLE IF NOT EXISTS pass_at_k (
    round INTEGER NOT NULL, task TEXT NOT NULL, difficulty INTEGER NOT NULL, k INTEGER NOT NULL, n INTEGER NOT NULL,
    problems INTEGER NOT NULL, value REAL NOT NULL, PRIMARY KEY (round, task, difficulty, k));
"""
    + _V6_TABLES
    + _V7_TABLES
    + """CREATE INDEX IF NOT EXISTS problems_round ON problems (round, purpose);
CREATE INDEX IF NOT EXISTS examples_round ON examples (round);
"""
)


log = logging.getLogger(__name__)


def _params_json(params: tuple[float, ...] | None) -> str | None:
    return json.dumps([float(x) for x in params]) if params is not None else None


class Store:
    """A run's database. Open an existing one with ``Store.open``, make a new one with ``Store.create``."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self._db = conn
        self._in_tx = False

    # ----------------------------------------------------------------------------------------------- lifecycle
    @classmethod
    def create(
        cls, path: Path, run_id: str, config: dict[str, Any], config_text: str, created: float | None = None
    ) -> Store:
        """A new store at ``path``; ``created`` (``time.time()``, default now) is when the run began."""
        if path.exists():
            raise SelftaughtError(f"{path} already exists; use 'selftaught resume' to continue that run")
        store = cls(path, cls._connect(path))
        with store.transaction():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    store._db.execute(stmt)
            store.set_meta(
                schema_version=SCHEMA_VERSION,
                run_id=run_id,
                created=time.time() if created is None else created,
                config=json.dumps(config),
                config_text=config_text,
                status="running",
                stop_reason="",
            )
        return store

    @classmethod
    def open(cls, path: Path) -> Store:
        if not path.is_file():
            raise SelftaughtError(f"no run store at {path}")
        # Check read-only first, so a file that is not a run store is never modified (no WAL switch, no -wal file).
        try:
            probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                version = probe.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            finally:
                probe.close()
        except sqlite3.DatabaseError as e:
            raise SelftaughtError(f"{path} is not a readable selftaught run store ({e})") from None
        found = version and int(version[0])
        if found != SCHEMA_VERSION and found not in MIGRATIONS:
            raise SelftaughtError(f"{path} has schema version {version and version[0]}, expected {SCHEMA_VERSION}")
        store = cls(path, cls._connect(path))
        while found != SCHEMA_VERSION:  # bring an older store up to date, one version per transaction
            with store.transaction():
                for stmt in MIGRATIONS[found]:
                    store._db.execute(stmt)
                found += 1
                store.set_meta(schema_version=found)
        return store

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a phase is exactly one transaction.
        conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.OperationalError as e:
            conn.close()
            raise _write_error(path, e) if _is_write_error(e) else e from None
        return conn

    def close(self, checkpoint: bool = True) -> bool:
        """Roll back an unfinished transaction, checkpoint the write-ahead log into ``run.db`` and close.

        Returns whether the log was emptied into the database, i.e. ``run.db`` alone holds every committed row.
        It is not when another connection is still reading (after waiting for it) or the file cannot be written;
        the rows are then still safe in ``run.db-wal``, and the next close that can checkpoint moves them.
        Without ``checkpoint`` (a reader while another process writes) the log is left to its writer.
        """
        if self._db is None:
            return True
        emptied = False
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            if checkpoint:
                busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                emptied = busy == 0
        except sqlite3.Error as e:
            log.info("could not checkpoint %s: %s", self.path, e)
        finally:
            self._db.close()
            self._db = None
            self._in_tx = False
        return emptied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite write transaction (``BEGIN IMMEDIATE``: the write lock is taken at the start, so nothing read
        inside it can change before it commits). Any exception rolls it back; a write the disk refuses becomes a
        ``SelftaughtError`` naming the file."""
        if self._in_tx:  # nested: the outer transaction commits
            yield
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise _write_error(self.path, e) if _is_write_error(e) else e from None
        self._in_tx = True
        try:
            yield
        except BaseException as e:
            self._rollback()
            if isinstance(e, sqlite3.OperationalError) and _is_write_error(e):
                raise _write_error(self.path, e) from None
            raise
        else:
            try:
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as e:
                self._rollback()
                raise _write_error(self.path, e) if _is_write_error(e) else e from None
        finally:
            self._in_tx = False

    def _rollback(self) -> None:
        # SQLite may have rolled back already (a full disk does): then there is nothing to undo.
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    # ---------------------------------------------------------------------------------------------------- meta
    def set_meta(self, **items: Any) -> None:
        for k, v in items.items():
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (k, str(v)))

    def meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    @property
    def run_id(self) -> str:
        return self.meta("run_id") or ""

    def config(self) -> dict[str, Any]:
        return json.loads(self.meta("config") or "{}")

    def finish(self, reason: str) -> None:
        with self.transaction():
            self.set_meta(status="complete", stop_reason=reason)

    @property
    def complete(self) -> bool:
        return self.meta("status") == "complete"

    # -------------------------------------------------------------------------------------------------- phases
    def start_round(self, round_: int, difficulty: int | None) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO rounds (round, difficulty, started) VALUES (?, ?, ?)",
                (round_, difficulty, time.time()),
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO phases (round, phase, done) VALUES (?, ?, 0)", [(round_, p) for p in PHASES]
            )

    def phase_done(self, round_: int, phase: str) -> bool:
        row = self._db.execute("SELECT done FROM phases WHERE round = ? AND phase = ?", (round_, phase)).fetchone()
        return bool(row and row[0])

    @contextmanager
    def phase(
        self, round_: int, phase: str, started: float | None = None, cpu_started: float | None = None
    ) -> Iterator[None]:
        """Run a phase's writes in one transaction that also marks the phase done.

        ``started`` is when the phase's work began (``time.time()``) and ``cpu_started`` the process's CPU time then
        (``time.process_time()``); the work usually happens before its writes, so without them only the writing
        would be timed.
        """
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        started = time.time() if started is None else started
        cpu_started = time.process_time() if cpu_started is None else cpu_started
        with self.transaction():
            # Checked inside the transaction, which holds the write lock: no other writer can mark it in between.
            if self.phase_done(round_, phase):
                raise SelftaughtError(
                    f"round {round_} {phase} is already recorded in {self.path}: another process is writing this run"
                )
            yield
            finished = time.time()
            marked = self._db.execute(
                "UPDATE phases SET done = 1, started = ?, finished = ?, seconds = ?, cpu_seconds = ? "
                "WHERE round = ? AND phase = ? AND done = 0",
                (started, finished, finished - started, time.process_time() - cpu_started, round_, phase),
            ).rowcount
            if marked != 1:
                raise RuntimeError(f"round {round_} was never started, so {phase} cannot be marked done")

    def set_round_difficulty(self, round_: int, difficulty: int) -> None:
        self._db.execute("UPDATE rounds SET difficulty = ? WHERE round = ?", (difficulty, round_))

    def elapsed_seconds(self) -> float:
        """Time spent in completed phases over the whole run (so a resumed run keeps its clock)."""
        return self.elapsed()[0]

    def elapsed(self) -> tuple[float, float]:
        """(wall, CPU) seconds spent in completed phases over the whole run."""
        wall, cpu = self._db.execute(
            "SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(cpu_seconds), 0) FROM phases WHERE done = 1"
        ).fetchone()
        return float(wall), float(cpu)

    def set_round_budget(self, round_: int, budget: int) -> None:
        self._db.execute("UPDATE rounds SET budget = ? WHERE round = ?", (budget, round_))

    def round_budgets(self) -> dict[int, int]:
        """The training-step budget each trained round was given (the planner may add saved steps)."""
        return dict(self._db.execute("SELECT round, budget FROM rounds WHERE budget IS NOT NULL").fetchall())

    def end_round(self, round_: int, decision: str) -> None:
        """Called inside the DECIDE phase's transaction."""
        self._db.execute(
            "UPDATE rounds SET finished = ?, decision = ? WHERE round = ?", (time.time(), decision, round_)
        )

    def rounds(self) -> list[dict[str, Any]]:
        keys = ("round", "difficulty", "started", "finished", "decision", "budget")
        rows = self._db.execute(f"SELECT {', '.join(keys)} FROM rounds ORDER BY round")
        return [dict(zip(keys, r)) for r in rows]

    def phase_states(self, round_: int) -> dict[str, dict[str, Any]]:
        rows = self._db.execute("SELECT phase, done, seconds, cpu_seconds FROM phases WHERE round = ?", (round_,))
        return {p: {"done": bool(d), "seconds": s, "cpu_seconds": c} for p, d, s, c in rows}

    # ------------------------------------------------------------------------------------------------ problems
    def add_problems(self, round_: int, purpose: str, problems: Iterable[Problem]) -> None:
        self._db.executemany(
            "INSERT INTO problems (round, purpose, idx, task, difficulty, prompt, target, seed, params, meta) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    round_,
                    purpose,
                    i,
                    p.task,
                    p.difficulty,
                    p.prompt,
                    p.target,
                    p.seed,
                    _params_json(p.params),
                    None if p.meta is None else json.dumps(p.meta),
                )
                for i, p in enumerate(problems)
            ],
        )

    def problems(self, round_: int, purpose: str) -> list[tuple[int, Problem]]:
        return self._problems("WHERE round = ? AND purpose = ? ORDER BY idx", (round_, purpose))

    def _problems(self, where: str, args: tuple) -> list[tuple[int, Problem]]:
        rows = self._db.execute(
            f"SELECT id, task, difficulty, prompt, target, seed, params, meta FROM problems {where}", args
        )
        return [
            (
                i,
                Problem(
                    task,
                    d,
                    prompt,
                    target,
                    seed,
                    tuple(json.loads(params)) if params else None,
                    json.loads(meta) if meta else None,
                ),
            )
            for i, task, d, prompt, target, seed, params, meta in rows
        ]

    def eval_prompts(self) -> set[str]:
        """Every held-out prompt (evaluation and slice), which training steers clear of."""
        return {r[0] for r in self._db.execute("SELECT prompt FROM problems WHERE purpose IN ('eval', 'slice')")}

    def eval_difficulties(self) -> set[tuple[str, int]]:
        rows = self._db.execute("SELECT DISTINCT task, difficulty FROM problems WHERE purpose = 'eval'")
        return {(t, d) for t, d in rows}

    def eval_problems(self, purpose: str = "eval") -> list[tuple[int, Problem]]:
        """The held-out problems drawn at set-up: ``eval`` (after each round) or ``slice`` (during training)."""
        return self._problems("WHERE purpose = ? ORDER BY id", (purpose,))

    # ------------------------------------------------------------------------------------------------ attempts
    def add_attempts(self, rows: Iterable[tuple[int, int, int, str]]) -> None:
        """Rows of (problem_id, model, sample, text); VERIFY adds each one's score (``score_attempts``)."""
        self._db.executemany("INSERT INTO attempts (problem_id, model, sample, text) VALUES (?, ?, ?, ?)", list(rows))

    def score_attempts(self, rows: Iterable[tuple[int, int, int, float | None, str, int | None]]) -> None:
        """Rows of (problem_id, model, sample, reward-or-None, feedback, correct-or-None): the verifier's score of
        each attempt and, for the record only, whether the task's oracle finds it right."""
        self._db.executemany(
            "UPDATE attempts SET reward = ?, feedback = ?, correct = ? "
            "WHERE problem_id = ? AND model = ? AND sample = ?",
            [(reward, feedback, correct, pid, m, s) for pid, m, s, reward, feedback, correct in rows],
        )

    def attempt_keys(self, round_: int) -> dict[int, list[tuple[int, int]]]:
        """Per problem, the (model, sample) of each attempt, in the order ``attempts`` lists their texts."""
        out: dict[int, list[tuple[int, int]]] = {}
        rows = self._db.execute(
            "SELECT a.problem_id, a.model, a.sample FROM attempts a JOIN problems p ON p.id = a.problem_id "
            "WHERE p.round = ? ORDER BY a.problem_id, a.model, a.sample",
            (round_,),
        )
        for pid, m, s in rows:
            out.setdefault(pid, []).append((m, s))
        return out

    def attempts(self, round_: int) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        rows = self._db.execute(
            "SELECT a.problem_id, a.text FROM attempts a JOIN problems p ON p.id = a.problem_id "
            "WHERE p.round = ? ORDER BY a.problem_id, a.model, a.sample",
            (round_,),
        )
        for pid, text in rows:
            out.setdefault(pid, []).append(text)
        return out

    # ------------------------------------------------------------------------------------------------ verdicts
    def add_verdicts(self, round_: int, rows: Iterable[tuple[int, Verdict, int | None]]) -> None:
        """Rows of (problem_id, verdict, correct-or-None), ``correct`` from an oracle when the task has one."""
        self._db.executemany(
            "INSERT INTO verdicts (problem_id, round, accepted, answer, score, evidence, correct) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(pid, round_, int(v.accepted), v.answer, float(v.score), json.dumps(v.evidence), c) for pid, v, c in rows],
        )

    def accepted(self, round_: int, source: str = "self") -> list[Example]:
        """Accepted answers of ``round_`` as fresh examples of that round, labelled with ``source``."""
        return self._examples(
            "SELECT p.task, p.difficulty, p.prompt, v.answer, ?, v.round, "
            "CASE WHEN v.score > 0 THEN 1.0 / v.score ELSE 1.0 END, NULL FROM verdicts v "
            "JOIN problems p ON p.id = v.problem_id WHERE v.round = ? AND v.accepted = 1 ORDER BY p.idx",
            (source, round_),
        )

    def accepted_by_problem(self, round_: int) -> list[tuple[Problem, bool]]:
        """Each of ``round_``'s training problems with whether an answer to it was accepted."""
        accepted = dict(self._db.execute("SELECT problem_id, accepted FROM verdicts WHERE round = ?", (round_,)))
        problems = self._problems("WHERE round = ? AND purpose = 'train' ORDER BY idx", (round_,))
        return [(p, bool(accepted.get(pid, 0))) for pid, p in problems]

    def frontiers(self, round_: int) -> dict[str, int]:
        """Per skill, the highest difficulty trained on (labelled or accepted) up to ``round_``.

        A teacher may propose far beyond what the model can label; only what it trained on counts as reached.
        """
        rows = self._db.execute(
            "SELECT task, MAX(difficulty) FROM examples WHERE round <= ? GROUP BY task",
            (round_,),
        )
        return dict(rows.fetchall())

    def _examples(self, sql: str, args: tuple) -> list[Example]:
        """Rows of (task, difficulty, prompt, answer, source, origin_round, weight, relabel_id) as Examples."""
        return [
            Example(task=t, difficulty=d, prompt=p, answer=a, source=src, origin_round=o, weight=w, relabel=ref)
            for t, d, p, a, src, o, w, ref in self._db.execute(sql, args)
        ]

    # ------------------------------------------------------------------------------------------------ examples
    def add_examples(self, round_: int, examples: Iterable[Example]) -> None:
        """The examples round ``round_`` trains on, all at once: each is numbered within the round, so writing a
        round's examples twice is refused (``sqlite3.IntegrityError``)."""
        self._db.executemany(
            "INSERT INTO examples (round, idx, task, difficulty, prompt, answer, source, origin_round, weight, "
            "relabel_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (round_, i, e.task, e.difficulty, e.prompt, e.answer, e.source, e.origin_round, e.weight, e.relabel)
                for i, e in enumerate(examples)
            ],
        )

    def examples(self, round_: int, *, fresh_only: bool = False) -> list[Example]:
        """The examples round ``round_`` trains on; ``fresh_only`` keeps those first produced in that round."""
        sql = (
            "SELECT task, difficulty, prompt, answer, source, origin_round, weight, relabel_id FROM examples "
            "WHERE round = ?"
        )
        if fresh_only:
            sql += " AND origin_round = round"
        return self._examples(sql + " ORDER BY id", (round_,))

    def replay_pool(self, before_round: int) -> list[Example]:
        """Every example first produced in a round before ``before_round`` (labelled and self-labelled)."""
        return self._examples(
            "SELECT task, difficulty, prompt, answer, source, origin_round, weight, relabel_id FROM examples "
            "WHERE round = origin_round AND round < ? ORDER BY id",
            (before_round,),
        )

    # ------------------------------------------------------------------------------------------------- metrics
    def add_train_metrics(
        self,
        round_: int,
        model: int,
        losses: list[float],
        lrs: list[float],
        grad_norms: list[float] | None = None,
        grad_l1s: list[float] | None = None,
    ) -> None:
        """Per step: loss, learning rate and, when the student reports them, the gradient's l2 and l1 norms."""
        n = len(losses)
        norms = grad_norms if grad_norms and len(grad_norms) == n else [None] * n
        l1s = grad_l1s if grad_l1s and len(grad_l1s) == n else [None] * n
        self._db.executemany(
            "INSERT INTO train_metrics (round, model, step, loss, lr, grad_norm, grad_l1) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (round_, model, i, float(l), float(r), g, a)
                for i, (l, r, g, a) in enumerate(zip(losses, lrs, norms, l1s))
            ],
        )

    def train_metrics(self) -> list[dict[str, Any]]:
        keys = ("round", "step", "loss", "lr", "grad_norm", "grad_l1")
        rows = self._db.execute(f"SELECT {', '.join(keys)} FROM train_metrics WHERE model = 0 ORDER BY round, step")
        return [dict(zip(keys, r)) for r in rows]

    def grad_norms(self, round_: int, l1: bool = False) -> list[float]:
        """Model 0's per-step gradient norms in ``round_`` (l2, or l1 with ``l1``); empty when not recorded."""
        column = "grad_l1" if l1 else "grad_norm"
        rows = self._db.execute(
            f"SELECT {column} FROM train_metrics WHERE round = ? AND model = 0 ORDER BY step", (round_,)
        ).fetchall()
        return [r[0] for r in rows] if rows and all(r[0] is not None for r in rows) else []

    # ---------------------------------------------------------------------------------------------- stopping
    def add_stop_decisions(self, round_: int, budget: int, rows: Iterable[dict[str, Any]]) -> None:
        """The stopping rule's decisions in ``round_``: step, measured value, prediction, stop, reason."""
        self._db.executemany(
            "INSERT OR REPLACE INTO stop_decisions (round, step, budget, value, current, mean, low, high, stop, "
            "reason) VALUES (:round, :step, :budget, :value, :current, :mean, :low, :high, :stop, :reason)",
            [dict(r, round=round_, budget=budget, stop=int(r["stop"])) for r in rows],
        )

    def stop_decisions(self, round_: int | None = None) -> list[dict[str, Any]]:
        keys = ("round", "step", "budget", "value", "current", "mean", "low", "high", "stop", "reason")
        sql, args = f"SELECT {', '.join(keys)} FROM stop_decisions", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        rows = self._db.execute(sql + " ORDER BY round, step", args)
        return [dict(zip(keys, r), stop=bool(r[8])) for r in rows]

    # ---------------------------------------------------------------------------------------- time to result
    def add_results_reached(self, rows: Iterable[dict[str, Any]]) -> None:
        """First times a (skill, difficulty) reached an accuracy target; a later reach never replaces the first."""
        self._db.executemany(
            "INSERT OR IGNORE INTO results_reached (task, difficulty, target, round, steps, seconds, cpu_seconds, "
            "accuracy) VALUES (:task, :difficulty, :target, :round, :steps, :seconds, :cpu_seconds, :accuracy)",
            list(rows),
        )

    def results_reached(self) -> list[dict[str, Any]]:
        keys = ("task", "difficulty", "target", "round", "steps", "seconds", "cpu_seconds", "accuracy")
        rows = self._db.execute(f"SELECT {', '.join(keys)} FROM results_reached ORDER BY target, task, difficulty")
        return [dict(zip(keys, r)) for r in rows]

    def add_eval_results(self, round_: int, rows: Iterable[tuple[int, str, bool]]) -> None:
        self._db.executemany(
            "INSERT INTO eval_results (round, problem_id, answer, correct) VALUES (?, ?, ?, ?)",
            [(round_, pid, ans, int(ok)) for pid, ans, ok in rows],
        )

    def add_evaluations(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        self._db.executemany(
            "INSERT INTO evaluations (round, task, difficulty, n, correct, accuracy, ci_low, ci_high) "
            "VALUES (:round, :task, :difficulty, :n, :correct, :accuracy, :ci_low, :ci_high)",
            [dict(r, round=round_) for r in rows],
        )

    def add_pass_at_k(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        """pass@k per (skill, difficulty): the unbiased estimate over ``problems`` held-out problems, n samples each."""
        self._db.executemany(
            "INSERT INTO pass_at_k (round, task, difficulty, k, n, problems, value) "
            "VALUES (:round, :task, :difficulty, :k, :n, :problems, :value)",
            [dict(r, round=round_) for r in rows],
        )

    def pass_at_k(self, round_: int | None = None) -> list[dict[str, Any]]:
        keys = ("round", "task", "difficulty", "k", "n", "problems", "value")
        sql, args = f"SELECT {', '.join(keys)} FROM pass_at_k", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        return [dict(zip(keys, r)) for r in self._db.execute(sql + " ORDER BY round, task, difficulty, k", args)]

    def evaluations(self, round_: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT round, task, difficulty, n, correct, accuracy, ci_low, ci_high FROM evaluations"
        args: tuple = ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        keys = ("round", "task", "difficulty", "n", "correct", "accuracy", "ci_low", "ci_high")
        return [dict(zip(keys, r)) for r in self._db.execute(sql + " ORDER BY round, task, difficulty", args)]

    # --------------------------------------------------------------------------------------------- checkpoints
    def add_checkpoint(self, round_: int, model: int, path: str) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO checkpoints (round, model, path, created) VALUES (?, ?, ?, ?)",
            (round_, model, path, time.time()),
        )

    def checkpoints(self, round_: int) -> list[str]:
        rows = self._db.execute("SELECT path FROM checkpoints WHERE round = ? ORDER BY model", (round_,))
        return [r[0] for r in rows]

    # ----------------------------------------------------------------------------------------------- teaching
    def set_teacher_state(self, round_: int, phase: str, state: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO teacher_state (round, phase, state) VALUES (?, ?, ?)",
            (round_, phase, json.dumps(state)),
        )

    def last_teacher_state(self) -> dict[str, Any] | None:
        """The newest teacher state a finished phase recorded (phases in loop order), or None."""
        order = " ".join(f"WHEN '{p}' THEN {i}" for i, p in enumerate(PHASES))
        row = self._db.execute(
            f"SELECT state FROM teacher_state ORDER BY round DESC, CASE phase {order} END DESC LIMIT 1"
        ).fetchone()
        return json.loads(row[0]) if row else None

    def add_skill_results(self, round_: int, step: int, kind: str, rows: Iterable[tuple[str, int, int, int]]) -> None:
        """Success counts, rows of (skill, difficulty, successes, trials), measured at ``step`` of ``round_``."""
        self._db.executemany(
            "INSERT OR REPLACE INTO skill_results (round, step, kind, task, difficulty, successes, trials) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(round_, step, kind, *row) for row in rows],
        )

    def skill_results(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT round, step, kind, task, difficulty, successes, trials FROM skill_results"
        args: tuple = ()
        if kind is not None:
            sql, args = sql + " WHERE kind = ?", (kind,)
        keys = ("round", "step", "kind", "skill", "difficulty", "successes", "trials")
        return [dict(zip(keys, r)) for r in self._db.execute(sql + " ORDER BY round, step, task, difficulty", args)]

    def add_curriculum(self, round_: int, step: int, counts: dict[tuple[str, int], int]) -> None:
        """How many training samples each (skill, difficulty) got from ``step`` of ``round_`` on."""
        self._db.executemany(
            "INSERT OR REPLACE INTO curriculum (round, step, task, difficulty, count) VALUES (?, ?, ?, ?, ?)",
            [(round_, step, s, d, n) for (s, d), n in sorted(counts.items())],
        )

    def curriculum(self) -> list[dict[str, Any]]:
        keys = ("round", "step", "skill", "difficulty", "count")
        rows = self._db.execute("SELECT round, step, task, difficulty, count FROM curriculum ORDER BY round, step")
        return [dict(zip(keys, r)) for r in rows]

    def add_teacher_scores(self, round_: int, step: int, scores: dict[str, float]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO teacher_scores (round, step, key, value) VALUES (?, ?, ?, ?)",
            [(round_, step, k, float(v)) for k, v in sorted(scores.items())],
        )

    def teacher_scores(self) -> list[dict[str, Any]]:
        keys = ("round", "step", "key", "value")
        rows = self._db.execute("SELECT round, step, key, value FROM teacher_scores ORDER BY round, step, key")
        return [dict(zip(keys, r)) for r in rows]

    def round_steps(self) -> dict[int, int]:
        """Training steps per round (model 0), to place within-round records on one time axis."""
        rows = self._db.execute("SELECT round, COUNT(*) FROM train_metrics WHERE model = 0 GROUP BY round")
        return dict(rows.fetchall())

    # ---------------------------------------------------------------------------------------------- summaries
    def round_summaries(self) -> list[dict[str, Any]]:
        """Per round: difficulty, proposed / accepted counts, label accuracy, steps, seconds, phase states."""
        return [self.round_summary(r["round"]) for r in self.rounds()]

    def round_summary(self, n: int) -> dict[str, Any]:
        r = self._db.execute("SELECT difficulty, decision, budget FROM rounds WHERE round = ?", (n,)).fetchone()
        if r is None:
            raise KeyError(f"no round {n}")
        proposed, accepted, right, known = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(accepted), 0), COALESCE(SUM(accepted * correct), 0), "
            "COALESCE(SUM(accepted * (correct IS NOT NULL)), 0) FROM verdicts WHERE round = ?",
            (n,),
        ).fetchone()
        steps = self._db.execute("SELECT COUNT(*) FROM train_metrics WHERE round = ? AND model = 0", (n,)).fetchone()
        seconds = self._db.execute(
            "SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(cpu_seconds), 0) FROM phases WHERE round = ?", (n,)
        ).fetchone()
        stop = self._db.execute(
            "SELECT MIN(step), reason FROM stop_decisions WHERE round = ? AND stop = 1", (n,)
        ).fetchone()
        return {
            "round": n,
            "difficulty": r[0],
            "proposed": proposed,
            "accepted": accepted,
            "label_accuracy": (right / known) if known else None,
            "train_steps": steps[0],
            "budget": r[2],
            "stopped_at": stop[0],  # where the stopping rule first said stop (None: it never did or was off)
            "stop_reason": stop[1],
            "seconds": seconds[0],
            "cpu_seconds": seconds[1],
            "decision": r[1],
            "phases": self.phase_states(n),
        }

    # ------------------------------------------------------------------------- learning from rewards, control
    def add_train_series(self, round_: int, model: int, rows: Iterable[tuple[int, str, float | None]]) -> None:
        """Per-step values a training method reports beside its loss: rows of (step, name, value)."""
        self._db.executemany(
            "INSERT INTO train_series (round, model, step, name, value) VALUES (?, ?, ?, ?, ?)",
            [(round_, model, step, name, None if v is None else float(v)) for step, name, v in rows],
        )

    def train_series(self, round_: int | None = None, model: int = 0) -> list[dict[str, Any]]:
        sql, args = "SELECT round, step, name, value FROM train_series WHERE model = ?", (model,)
        if round_ is not None:
            sql, args = sql + " AND round = ?", (model, round_)
        rows = self._db.execute(sql + " ORDER BY round, step, name", args)
        return [dict(zip(("round", "step", "name", "value"), r)) for r in rows]

    def add_rollouts(
        self, round_: int, rows: Iterable[tuple[int, int, int, str, float | None, str, int | None]]
    ) -> None:
        """Attempts generated inside TRAIN (on-policy learning): rows of (step, problem_id, sample, text, reward,
        feedback, correct-or-None)."""
        self._db.executemany(
            "INSERT INTO rollouts (round, step, problem_id, sample, text, reward, feedback, correct) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(round_, *row) for row in rows],
        )

    def rollouts(self, round_: int) -> list[dict[str, Any]]:
        keys = ("step", "problem_id", "sample", "text", "reward", "feedback", "correct")
        rows = self._db.execute(
            f"SELECT {', '.join(keys)} FROM rollouts WHERE round = ? ORDER BY step, problem_id, sample", (round_,)
        )
        return [dict(zip(keys, r)) for r in rows]

    def attempt_scores(self, round_: int) -> dict[int, list[dict[str, Any]]]:
        """Per problem, each attempt's model, sample, text, reward, feedback and correctness, as VERIFY scored them."""
        out: dict[int, list[dict[str, Any]]] = {}
        keys = ("model", "sample", "text", "reward", "feedback", "correct")
        rows = self._db.execute(
            "SELECT a.problem_id, a.model, a.sample, a.text, a.reward, a.feedback, a.correct FROM attempts a "
            "JOIN problems p ON p.id = a.problem_id WHERE p.round = ? ORDER BY a.problem_id, a.model, a.sample",
            (round_,),
        )
        for pid, *rest in rows:
            out.setdefault(pid, []).append(dict(zip(keys, rest)))
        return out

    def add_control(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        """The control grid of a round: one row per (temperature, threshold, samples) with its balance ``score``,
        the attempts ``kept`` and the ``unique_correct`` among them, and ``chosen`` for the setting used."""
        self._db.executemany(
            "INSERT INTO control (round, temperature, threshold, samples, score, kept, unique_correct, chosen) "
            "VALUES (:round, :temperature, :threshold, :samples, :score, :kept, :unique_correct, :chosen)",
            [dict(r, round=round_, chosen=int(bool(r["chosen"]))) for r in rows],
        )

    def control(self, round_: int | None = None) -> list[dict[str, Any]]:
        keys = ("round", "temperature", "threshold", "samples", "score", "kept", "unique_correct", "chosen")
        sql, args = f"SELECT {', '.join(keys)} FROM control", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        rows = self._db.execute(sql + " ORDER BY round, temperature, threshold, samples", args)
        return [dict(zip(keys, r), chosen=bool(r[-1])) for r in rows]

    def chosen_control(self, round_: int) -> dict[str, Any] | None:
        """The setting the controller chose for ``round_`` (None: no control that round)."""
        return next((row for row in self.control(round_) if row["chosen"]), None)

    # ------------------------------------------------------------------------------------------------- refine
    def add_refine_steps(self, rows: Iterable[tuple[int, int, int, int, str, str, float | None, str]]) -> None:
        """Every turn of every refined attempt: rows of (problem_id, model, sample, turn, prompt, text, reward,
        feedback); the last turn's text is the attempt's."""
        self._db.executemany(
            "INSERT INTO refine_steps (problem_id, model, sample, turn, prompt, text, reward, feedback) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            list(rows),
        )

    def refine_steps(self, round_: int) -> list[dict[str, Any]]:
        keys = ("problem_id", "model", "sample", "turn", "prompt", "text", "reward", "feedback")
        rows = self._db.execute(
            f"SELECT {', '.join('s.' + k for k in keys)} FROM refine_steps s JOIN problems p ON p.id = s.problem_id "
            "WHERE p.round = ? ORDER BY s.problem_id, s.model, s.sample, s.turn",
            (round_,),
        )
        return [dict(zip(keys, r)) for r in rows]

    def add_refine_turns(self, round_: int, model: int, rows: Iterable[tuple[int, int, int]]) -> None:
        """Per turn: attempts still failing when it began (``tried``) and how many it fixed."""
        self._db.executemany(
            "INSERT INTO refine_turns (round, model, turn, tried, fixed) VALUES (?, ?, ?, ?, ?)",
            [(round_, model, turn, tried, fixed) for turn, tried, fixed in rows],
        )

    def refine_turns(self, round_: int | None = None) -> list[dict[str, Any]]:
        keys = ("round", "model", "turn", "tried", "fixed")
        sql, args = f"SELECT {', '.join(keys)} FROM refine_turns", ()
        if round_ is not None:
            sql, args = sql + " WHERE round = ?", (round_,)
        rows = self._db.execute(sql + " ORDER BY round, model, turn", args)
        return [dict(zip(keys, r)) for r in rows]

    def add_memory(self, rows: Iterable[dict[str, Any]]) -> None:
        """Experience entries: round, problem_id, features, failed, feedback, fixed, value."""
        self._db.executemany(
            "INSERT INTO memory (round, problem_id, features, failed, feedback, fixed, value) "
            "VALUES (:round, :problem_id, :features, :failed, :feedback, :fixed, :value)",
            list(rows),
        )

    def memory(self, before_round: int) -> list[dict[str, Any]]:
        """The experience entries written before ``before_round``, oldest first."""
        keys = ("id", "round", "problem_id", "features", "failed", "feedback", "fixed", "value", "uses")
        rows = self._db.execute(f"SELECT {', '.join(keys)} FROM memory WHERE round < ? ORDER BY id", (before_round,))
        return [dict(zip(keys, r)) for r in rows]

    def update_memory(self, rows: Iterable[tuple[int, float, int]]) -> None:
        """New (id, value, uses) of entries that were retrieved and used."""
        self._db.executemany("UPDATE memory SET value = ?, uses = ? WHERE id = ?", [(v, u, i) for i, v, u in rows])

    # ----------------------------------------------------------------------------------------------- hindsight
    def attempt_ids(self, round_: int) -> dict[tuple[int, int, int], int]:
        """Each of ``round_``'s attempts' id by (problem_id, model, sample)."""
        rows = self._db.execute(
            "SELECT a.problem_id, a.model, a.sample, a.id FROM attempts a JOIN problems p ON p.id = a.problem_id "
            "WHERE p.round = ?",
            (round_,),
        )
        return {(pid, m, s): i for pid, m, s, i in rows}

    def add_relabels(self, round_: int, rows: Iterable[dict[str, Any]]) -> None:
        """Every relabel tried in ``round_``: dicts with attempt_id, task, from_difficulty, reason, kept, and for a
        relabel made its problem (a ``Problem``, else None)."""
        self._db.executemany(
            "INSERT INTO relabels (round, attempt_id, task, from_difficulty, difficulty, prompt, answer, meta, kept, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    round_,
                    row["attempt_id"],
                    row["task"],
                    row["from_difficulty"],
                    None if row["problem"] is None else row["problem"].difficulty,
                    None if row["problem"] is None else row["problem"].prompt,
                    None if row["problem"] is None else row["problem"].target,
                    None if row["problem"] is None or row["problem"].meta is None else json.dumps(row["problem"].meta),
                    int(row["kept"]),
                    row["reason"],
                )
                for row in rows
            ],
        )

    def relabelled_prompts(self, before_round: int) -> set[str]:
        """The prompts of relabels kept in rounds before ``before_round``."""
        rows = self._db.execute("SELECT prompt FROM relabels WHERE kept = 1 AND round < ?", (before_round,))
        return {p for (p,) in rows}

    def kept_relabels(self, round_: int) -> list[Example]:
        """``round_``'s kept relabels as fresh examples (source ``hindsight``), in the order they were tried."""
        return self._examples(
            "SELECT task, difficulty, prompt, answer, 'hindsight', round, 1.0, id FROM relabels "
            "WHERE round = ? AND kept = 1 ORDER BY id",
            (round_,),
        )

    def hindsight_counts(self) -> list[dict[str, Any]]:
        """Per round and difficulty (of the relabelled problem; of the attempted one where none was made): relabels
        tried, made (not degenerate), kept (made and new) and trained on (in that round's examples)."""
        rows = self._db.execute(
            "SELECT round, COALESCE(difficulty, from_difficulty) AS d, COUNT(*), SUM(prompt IS NOT NULL), SUM(kept) "
            "FROM relabels GROUP BY round, d ORDER BY round, d"
        ).fetchall()
        trained = dict(
            ((r, d), n)
            for r, d, n in self._db.execute(
                "SELECT round, difficulty, COUNT(*) FROM examples WHERE source = 'hindsight' GROUP BY round, difficulty"
            )
        )
        return [
            {"round": r, "difficulty": d, "tried": n, "made": made, "kept": kept, "trained": trained.get((r, d), 0)}
            for r, d, n, made, kept in rows
        ]

    def count(self, table: str) -> int:
        if table not in {
            "problems",
            "attempts",
            "verdicts",
            "examples",
            "train_metrics",
            "evaluations",
            "eval_results",
            "skill_results",
            "curriculum",
            "teacher_scores",
            "stop_decisions",
            "results_reached",
            "train_series",
            "rollouts",
            "control",
            "refine_steps",
            "refine_turns",
            "memory",
            "relabels",
        }:
            raise ValueError(f"unknown table {table!r}")
        return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def query(self, sql: str, args: tuple = ()) -> list[tuple]:
        """Read-only SQL for tests and analysis."""
        return self._db.execute(sql, args).fetchall()


def _is_write_error(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _WRITE_ERRORS


def _write_error(path: Path, e: sqlite3.Error) -> SelftaughtError:
    return SelftaughtError(f"cannot write the run store {path}: {e}")
