"""A run directory's set-up: the run id, making the directory, and what a run that failed at its very start left."""

from __future__ import annotations

import os
import secrets
import sqlite3
import time
from pathlib import Path

from selftaught.errors import SelftaughtError
from selftaught.run.context import DB_NAME
from selftaught.store.lock import LOCK_NAME

# What a run that failed at its very start (before any round) can have left in its directory.
_START_FILES = {"config.toml", "config.given.toml", DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal"}


def new_run_id(name: str, when: float | None = None) -> str:
    """``NAME-YYYYmmdd-HHMMSS-xxxx``: the run's name, when it began (``time.time()``, local time; default now) and a
    random tag. The run directory's default name and the store's ``created`` come from the same ``when``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(time.time() if when is None else when))
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


def check_run_dir(run_dir: Path) -> None:
    """Refuse, in one line, a run directory that does not exist or is a file."""
    if run_dir.is_file():
        raise SelftaughtError(f"{run_dir} is a file, not a run directory")
    if not run_dir.is_dir():
        raise SelftaughtError(f"run directory {run_dir} does not exist")


def make_run_dir(run_dir: Path) -> None:
    """Make ``run_dir`` (and its parents), or say in one line why it cannot be, having made nothing."""
    if run_dir.is_file():
        raise SelftaughtError(f"{run_dir} is a file, not a run directory")
    for parent in run_dir.parents:  # a path under a file: nothing may be made on the way
        if parent.exists():
            if not parent.is_dir():
                raise SelftaughtError(f"cannot make run directory {run_dir}: {parent} is a file, not a directory")
            break
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SelftaughtError(f"cannot make run directory {run_dir}: {e.strerror or e}") from None


def start_leftovers(run_dir: Path) -> list[str] | None:
    """What a run that failed at its very start left in ``run_dir`` (names of files), ``[]`` for an empty
    directory, or None when it holds anything else: a run that got further, or files that are not a run's."""
    names = sorted(n for n in os.listdir(run_dir) if n != LOCK_NAME)
    if not set(names) <= _START_FILES:
        return None
    db = run_dir / DB_NAME
    if not db.exists():
        return names
    stored = read_start_store(db)
    if stored is None or stored.get("setup_done") == "1" or stored.get("rounds", "0") != "0":
        return None
    return names


def read_start_store(db: Path) -> dict[str, str] | None:
    """The meta of a store that holds no round yet (with ``rounds``: how many it has), ``{}`` for an empty file or an
    SQLite file without tables, and None for anything else (not SQLite, unreadable, or a store with rounds)."""
    if db.stat().st_size == 0 and not db.with_name(db.name + "-wal").exists():
        return {}
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            tables = {t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not tables:
                return {}
            if not {"meta", "rounds"} <= tables:
                return None
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            meta["rounds"] = str(conn.execute("SELECT COUNT(*) FROM rounds").fetchone()[0])
            return meta
        finally:
            conn.close()
    except sqlite3.Error:
        return None
