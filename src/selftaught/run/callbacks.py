"""The loop's hooks for side effects (``LoopCallback``), and the test hook that pauses a run at an exact point.

Test hook: with ``SELFTAUGHT_TEST_PAUSE`` set to a point, the process writes the file named by
``SELFTAUGHT_TEST_PAUSE_FILE`` and then sleeps there until a signal ends it, so a test can kill a run at an exact
point whatever the machine's speed. Points: ``PHASE:ROUND`` (``ATTEMPT:1``: as round 1's ATTEMPT starts),
``TRAIN:ROUND:STEP`` (``TRAIN:1:50``: after round 1's 50th training step) and ``REPORT`` (``selftaught run`` and
``resume``, before they write the report). A shorter point matches more: ``TRAIN`` is the first TRAIN.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from selftaught.config import Experiment
from selftaught.store import Store

PAUSE_ENV, PAUSE_FILE_ENV = "SELFTAUGHT_TEST_PAUSE", "SELFTAUGHT_TEST_PAUSE_FILE"


class LoopCallback:
    """Hooks for side effects (progress bars, trackers). The loop calls them; it never knows who listens.

    What a phase recorded reaches the hooks from the store, after the phase's transaction committed: per-step
    training metrics (``step`` within the round, ``global_step`` on the run's axis), the per-step series a training
    method logged beside them (GRPO's rewards, KL, slice accuracy: ``Store.train_series`` rows), the verifier's
    acceptance, the evaluation rows and the stopping rule's decisions. A resumed run reports only the phases it runs
    itself.
    """

    def on_run_start(self, run_dir: Path, exp: Experiment, run_id: str) -> None: ...

    def on_phase_start(self, round_: int, phase: str) -> None: ...

    def on_phase_end(self, round_: int, phase: str, seconds: float) -> None: ...

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None: ...

    def on_train_metrics(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_train_series(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_verify(self, round_: int, proposed: int, accepted: int, label_accuracy: float | None) -> None: ...

    def on_evaluate(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_stop_decisions(self, round_: int, rows: list[dict[str, Any]]) -> None: ...

    def on_round_end(self, round_: int, decision: str) -> None: ...

    def on_run_end(self, reason: str) -> None: ...


def pause_if_asked(*where: object) -> None:
    """The test hook (see the module's docstring): block here if ``SELFTAUGHT_TEST_PAUSE`` names this point."""
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    want, here = spec.split(":"), [str(w) for w in where]
    if len(want) > len(here) or here[: len(want)] != want:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        tmp = f"{marker}.tmp"
        Path(tmp).write_text(json.dumps({"pid": os.getpid(), "at": ":".join(here)}))
        os.replace(tmp, marker)  # it appears whole
    while True:
        time.sleep(3600)


class TestPause(LoopCallback):
    """Calls the test hook as each phase starts and after each training step."""

    def on_phase_start(self, round_: int, phase: str) -> None:
        pause_if_asked(phase, round_)

    def on_train_step(self, round_: int, step: int, total: int, loss: float) -> None:
        pause_if_asked("TRAIN", round_, step)


def emit(callbacks: list[Any], hook: str, *args: Any) -> None:
    """Call ``hook`` on every callback that has it."""
    for cb in callbacks:
        getattr(cb, hook, lambda *_: None)(*args)


def announce(callbacks: list[Any], store: Store, r: int, phase: str) -> None:
    """Tell the callbacks what ``phase`` of round ``r`` recorded, read back from the store."""
    if not callbacks:
        return
    if phase == "VERIFY":
        s = store.round_summary(r)
        emit(callbacks, "on_verify", r, s["proposed"], s["accepted"], s["label_accuracy"])
    elif phase == "TRAIN":
        before = sum(n for q, n in store.round_steps().items() if q < r)
        rows = [dict(m, global_step=before + m["step"]) for m in store.train_metrics() if m["round"] == r]
        emit(callbacks, "on_train_metrics", r, rows)
        emit(callbacks, "on_train_series", r, store.train_series(r))
        emit(callbacks, "on_stop_decisions", r, store.stop_decisions(r))
    elif phase == "EVALUATE":
        emit(callbacks, "on_evaluate", r, store.evaluations(r))
