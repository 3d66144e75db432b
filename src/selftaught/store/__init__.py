"""The run store: one SQLite file, ``RUN_DIR/run.db``, per run. The only package that speaks SQL.

Two classes, one contract. ``Store`` is the writer: every query and every write. ``Reader`` is read-only: every query
(the same methods, the same rows) and no write. Everything else in the project reaches the records through them.

Who may write
    One writer per run: the process holding the run directory's lock (``lock.py``; ``selftaught run`` and
    ``resume`` take it for the whole run). Nothing in the store checks the lock; it is the caller's to hold. Readers
    (``status``, ``report``, ``export``, ``compare``, trackers) take no lock and may open the store at any time: before,
    while and after its writer runs. A reader never writes a byte, and makes no file beside the store.

What is atomic
    A phase writes all its outputs and marks itself done in one transaction: ``with store.phase(round, name):``
    checks inside the transaction that the phase is not done already (refusing with ``SelftaughtError`` if another
    process recorded it), runs the block's writes, and marks the phase done with its wall and CPU time. An exception
    anywhere in the block rolls every write of it back, so a phase is wholly recorded or not at all, and re-running
    it writes each record once. ``store.transaction()`` is the same without the phase mark (nested, it joins the
    outer one). ``start_round`` and ``finish`` are transactions of their own. Every other ``add_*`` / ``set_*`` write
    belongs inside one of these; outside, each statement commits alone. Rows that must be unique say so in the
    schema, so writing them twice raises ``sqlite3.IntegrityError`` (a round's examples, an attempt, a problem's
    index).

What a reader sees
    Only committed transactions, each whole: a reader opened while the writer is inside a phase sees the store as
    it was before that phase, never half of it, and does not block the writer. A ``Reader`` is meant to be short
    lived (a command's length); it reads what was committed as it goes.

What persists
    Everything committed: the run's meta (id, config, status, stop reason, schema version), rounds and phases, and
    every record group — problems, attempts and verdicts (``problems.py``); examples, training metrics and series,
    stop decisions, checkpoints (``training.py``); the teacher's state and observations (``teaching.py``);
    evaluations, pass@k and results reached (``evaluation.py``); rollouts, control, refinement and memory
    (``learning.py``); hindsight relabels (``relabels.py``). Nothing is kept in memory between calls: a store
    reopened after a crash holds exactly the transactions that committed. Each query returns plain rows (dicts
    described by a ``TypedDict``, tuples by a ``NamedTuple``, or the project's ``Problem`` / ``Example``), never a
    live cursor.

A finished store is one file
    While it runs, the writer keeps the store in WAL mode (``run.db-wal`` and ``run.db-shm`` beside it). Its
    ``close`` folds the log into ``run.db`` and switches the file to a rollback journal, so a closed store is
    ``run.db`` alone and opens read-only anywhere, read-only media included (``connection.py`` says what SQLite
    needs). ``close`` returns whether the fold happened; where the disk refuses it (full, I/O error) while the log
    holds rows, it raises ``SelftaughtError`` saying so: the rows are safe in the log, and the next writer folds
    them in.

Errors
    A write the disk refuses (read-only, full, I/O error) raises ``SelftaughtError`` naming the file; the
    transaction it was part of is rolled back. A file that is not a run store, or one of a schema version this code
    cannot read, is refused with ``SelftaughtError`` and left unchanged. Opening an older store upgrades it: the
    writer in the file, one version per transaction (``migrations.py``); a reader in a copy in memory.

Layout: ``connection.py`` (opening, pragmas, WAL, the fold at close), ``transactions.py`` (``transaction``,
``phase``), ``schema.py`` (tables, ``SCHEMA_VERSION``, ``PHASES``), ``migrations.py``; one module per record group,
each with a ``...Reads`` and a ``...Writes`` class; ``reader.py`` and ``writer.py`` compose them; ``lock.py`` is the
run directory's lock.
"""

from __future__ import annotations

from selftaught.store.migrations import MIGRATIONS
from selftaught.store.reader import Reader
from selftaught.store.schema import PHASES, SCHEMA_VERSION
from selftaught.store.writer import Store

__all__ = ["MIGRATIONS", "PHASES", "SCHEMA_VERSION", "Reader", "Store"]
