import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

# Two cores: keep the suite's own threads from fighting each other, and results repeatable.
torch.set_num_threads(min(2, os.cpu_count() or 1))

# Test modules import ``support`` from this folder; a process this suite starts may load a test module as a plugin
# (``file.py:Name`` in a config), so the folder is on its path too.
_HERE = str(Path(__file__).resolve().parent)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_HERE, os.environ.get("PYTHONPATH")) if p)


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


class Paused:
    """A ``selftaught`` subprocess stopped at an exact point by the loop's test hook (``SELFTAUGHT_TEST_PAUSE``)."""

    def __init__(self, args: list[str], point: str, marker: Path, env: dict[str, str] | None = None) -> None:
        self.point, self.marker = point, marker
        env = dict(os.environ, **(env or {}), SELFTAUGHT_TEST_PAUSE=point, SELFTAUGHT_TEST_PAUSE_FILE=str(marker))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "selftaught", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )

    def wait_paused(self, timeout: float = 300.0) -> None:
        """Until the process stands at its point; fails if it ends first."""
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"ended (exit {self.proc.returncode}) before {self.point}: {self.proc.stderr.read()}"
                )
            assert time.monotonic() < deadline, f"never reached {self.point}"
            time.sleep(0.02)

    def stop(self, sig: int) -> tuple[int, str]:
        """Send ``sig``; the exit code and what it wrote to stderr."""
        self.proc.send_signal(sig)
        _, stderr = self.proc.communicate(timeout=120)
        return self.proc.returncode, stderr


@pytest.fixture
def paused(tmp_path):
    """``paused(args, point, env=None)``: start ``python -m selftaught ARGS`` and wait until it stands at ``point``
    (``TRAIN:1:50``, ``ATTEMPT:1``, ``REPORT``, ...). Killed at the end if still running."""
    started = []

    def start(args: list[str], point: str, env: dict[str, str] | None = None) -> Paused:
        p = Paused([str(a) for a in args], point, tmp_path / f"paused-{len(started)}", env)
        started.append(p)
        p.wait_paused()
        return p

    yield start
    for p in started:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate()
