import os
import sqlite3
from pathlib import Path

import pytest
import torch

# Two cores: keep the suite's own threads from fighting each other, and results repeatable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: extra threads only add contention on a busy 2-core machine. Restored after the module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def single_thread():
    """One thread for one test: a run killed and resumed in another process must compute bit for bit as the
    reference did, and a parallel reduction's split can vary with load. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _phase_done(run_dir: Path, r: int, phase: str) -> bool:
    """Whether the run has marked ``phase`` of round ``r`` done. Read-only: a plain connect would create run.db
    before the run does, and the run refuses to start on an existing store."""
    db = run_dir / "run.db"
    if not db.exists():
        return False
    try:
        with sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True) as conn:
            sql = f"SELECT 1 FROM phases WHERE round = {r} AND phase = '{phase}' AND done = 1"
            return bool(conn.execute(sql).fetchall())
    except sqlite3.Error:
        return False


@pytest.fixture
def phase_done():
    """``phase_done(run_dir, round, phase)``: poll another process's run without disturbing it."""
    return _phase_done
