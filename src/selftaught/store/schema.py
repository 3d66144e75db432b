"""The store's tables, as ``CREATE`` statements, and the version they make (``SCHEMA_VERSION``).

A new store is made with ``SCHEMA`` at ``SCHEMA_VERSION``; an older one is brought up to it by ``migrations.py``, so a
table or column added here is added there too, as the step from the version before.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 7  # 4: examples' index; 5: attempts' rewards, problems' meta; 6: rewards learning, control, refine;
# 7: hindsight relabels, examples' replay weight and relabel
PHASES = ("PROPOSE", "ATTEMPT", "VERIFY", "CURATE", "TRAIN", "EVALUATE", "DECIDE")

# Added in schema 6: per-step series of a training method (GRPO's reward, KL, clip share, ...), rollouts generated
# inside TRAIN, the B-STaR control grid, refine turns and the experience memory.
V6_TABLES = """
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
V7_TABLES = """
CREATE TABLE IF NOT EXISTS relabels (
    id INTEGER PRIMARY KEY, round INTEGER NOT NULL, attempt_id INTEGER NOT NULL REFERENCES attempts(id),
    task TEXT NOT NULL, from_difficulty INTEGER NOT NULL, difficulty INTEGER, prompt TEXT, answer TEXT, meta TEXT,
    kept INTEGER NOT NULL, reason TEXT NOT NULL, UNIQUE (round, attempt_id));
CREATE INDEX IF NOT EXISTS relabels_round ON relabels (round, kept);
"""

SCHEMA = (
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
    + V6_TABLES
    + V7_TABLES
    + """CREATE INDEX IF NOT EXISTS problems_round ON problems (round, purpose);
CREATE INDEX IF NOT EXISTS examples_round ON examples (round);
"""
)

# The tables of records (``Store.count`` counts only these).
RECORD_TABLES = frozenset(
    {
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
    }
)


def statements(script: str) -> list[str]:
    """The statements of a ``;``-separated script (the Python driver runs one statement per ``execute``)."""
    return [stmt for stmt in script.split(";") if stmt.strip()]


def create_tables(db: sqlite3.Connection) -> None:
    """Every table and index of ``SCHEMA_VERSION``, inside the caller's transaction."""
    for stmt in statements(SCHEMA):
        db.execute(stmt)
