"""Experiment tracking: MLflow and TensorBoard as loop callbacks, and an exporter from a finished run's store.

``[track] mlflow = "URI-or-dir"`` and ``[track] tensorboard = "DIR"`` attach a tracker each (``build_trackers``).
Both log the same things under the same names, live as the loop reports them and, with ``export_run``, from a run's
store afterwards (the metric functions below are shared, so the two give the same names, steps and values):

- the config as parameters, flattened to dotted keys (``train.lr``); TensorBoard gets them as a text table;
- per training step of model 0: ``train/loss``, ``train/lr``, ``train/grad_norm``, ``train/grad_l1`` on the run's
  global step axis (the steps of earlier rounds plus the step within the round), and every per-step series a
  training method logged beside its loss as ``train/<name>`` (GRPO's ``train/reward_mean``, ``train/kl``,
  ``train/slice_accuracy``, ...);
- per round (step = the round): ``eval/<skill>/<difficulty>`` (held-out accuracy); from round 1, ``verify/proposed``,
  ``verify/accepted``, ``verify/accepted_share``, ``verify/label_accuracy`` (when known), ``round/train_steps``
  (rounds that trained);
- per stopping-rule measurement (global step): ``stop/value``, ``stop/current``, ``stop/mean``, ``stop/low``,
  ``stop/high``, ``stop/stop`` (1 where the rule said stop).

The MLflow run is named after the run id and tagged ``selftaught.run_id``; a resumed run logs into the same MLflow
run. A directory or ``file:`` URI is MLflow's file store (MLflow 3 keeps it behind ``MLFLOW_ALLOW_FILE_STORE``,
which is set for the process when one is named); any other URI (``sqlite:///...``, ``http://...``) is passed on.
TensorBoard writes to ``DIR/<run id>``, so several runs (a sweep) can share one ``DIR``.

MLflow and TensorBoard are the ``track`` extra, imported only when a tracker is built. A tracker that fails in the
middle of a run logs a warning and stops tracking; the run goes on.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.experiments.tracking_sinks import (
    MlflowSink,
    Scalar,
    Sink,
    TensorBoardSink,
    first_line,
)
from selftaught.run.loop import DB_NAME, LoopCallback
from selftaught.store import Reader

log = logging.getLogger(__name__)

__all__ = [
    "MlflowTracker",
    "TensorBoardTracker",
    "Tracker",
    "build_trackers",
    "config_params",
    "export_run",
    "open_run_store",
    "run_metrics",
]


# ---------------------------------------------------------------------------------------------- metric names
def config_params(config: dict[str, Any]) -> dict[str, str]:
    """The experiment as flat ``dotted.key -> text``: tables are walked, lists and other values kept as JSON."""
    out: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif value is None:
            out[prefix] = ""
        else:
            out[prefix] = value if isinstance(value, str) else json.dumps(value)

    walk("", config)
    return out


def _name(*parts: object) -> str:
    """A metric name both backends accept: slashes between parts, other odd characters as '_'."""
    cleaned = [re.sub(r"[^\w.\- ]", "_", str(p)).strip(". ") or "_" for p in parts]
    return "/".join(cleaned)


def train_scalars(rows: Iterable[dict[str, Any]], offset: int) -> list[Scalar]:
    """Per training step: loss, learning rate and gradient norms, at ``offset`` (earlier rounds' steps) + step."""
    out = []
    for row in rows:
        step = int(row.get("global_step", offset + row["step"]))
        for key in ("loss", "lr", "grad_norm", "grad_l1"):
            if row.get(key) is not None:
                out.append((f"train/{key}", float(row[key]), step))
    return out


def series_scalars(rows: Iterable[dict[str, Any]], offset: int) -> list[Scalar]:
    """Per-step series of a training method (``Store.train_series``) as ``train/<name>`` at ``offset`` + step; the
    names ``train_scalars`` logs from the loss records, and values that are not finite, are skipped."""
    out = []
    for row in rows:
        value = row.get("value")
        if row["name"] in ("loss", "lr", "grad_norm", "grad_l1") or value is None or not math.isfinite(value):
            continue
        out.append((_name("train", row["name"]), float(value), offset + int(row["step"])))
    return out


def _train_series(store: Reader) -> list[dict[str, Any]]:
    """The run's per-step series; none in a store older than the series (opened read-only, so not migrated)."""
    try:
        return store.train_series()
    except sqlite3.OperationalError:
        return []


def steps_scalars(round_: int, steps: int) -> list[Scalar]:
    """The round's training steps (a round that trained on nothing logs none)."""
    return [("round/train_steps", float(steps), round_)] if steps else []


def verify_scalars(round_: int, proposed: int, accepted: int, label_accuracy: float | None) -> list[Scalar]:
    """The verifier's acceptance in a self-labelled round (round 0 is labelled: nothing was verified)."""
    if round_ == 0:
        return []
    out = [("verify/proposed", float(proposed), round_), ("verify/accepted", float(accepted), round_)]
    if proposed:
        out.append(("verify/accepted_share", accepted / proposed, round_))
    if label_accuracy is not None:
        out.append(("verify/label_accuracy", float(label_accuracy), round_))
    return out


def eval_scalars(round_: int, rows: Iterable[dict[str, Any]]) -> list[Scalar]:
    return [(_name("eval", r["task"], r["difficulty"]), float(r["accuracy"]), round_) for r in rows]


def stop_scalars(rows: Iterable[dict[str, Any]], offset: int) -> list[Scalar]:
    out = []
    for row in rows:
        step = offset + int(row["step"])
        for key in ("value", "current", "mean", "low", "high"):
            if row.get(key) is not None and math.isfinite(row[key]):
                out.append((f"stop/{key}", float(row[key]), step))
        out.append(("stop/stop", float(bool(row["stop"])), step))
    return out


def run_metrics(store: Reader) -> list[Scalar]:
    """Every metric a tracker logs for the run in ``store``, from its records (what ``export_run`` writes)."""
    steps = store.round_steps()
    metrics = store.train_metrics()
    series = _train_series(store)
    out: list[Scalar] = []
    for summary in store.round_summaries():
        r = summary["round"]
        offset = sum(n for k, n in steps.items() if k < r)
        if summary["phases"].get("VERIFY", {}).get("done"):
            out += verify_scalars(r, summary["proposed"], summary["accepted"], summary["label_accuracy"])
        if summary["phases"].get("TRAIN", {}).get("done"):
            out += train_scalars((m for m in metrics if m["round"] == r), offset)
            out += series_scalars((row for row in series if row["round"] == r), offset)
            out += stop_scalars(store.stop_decisions(r), offset)
            out += steps_scalars(r, steps.get(r, 0))
        if summary["phases"].get("EVALUATE", {}).get("done"):
            out += eval_scalars(r, store.evaluations(r))
    return out


# ---------------------------------------------------------------------------------------------------- sinks
class Tracker(LoopCallback):
    """Forwards the loop's records to a sink under the shared metric names (see the module's docstring)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.round_steps: dict[int, int] = {}  # training steps per round, for the global step axis
        self.failed = False

    def _offset(self, round_: int) -> int:
        return sum(n for r, n in self.round_steps.items() if r < round_)

    def _safely(self, what: str, fn: Any, *args: Any) -> None:
        if self.failed:
            return
        try:
            fn(*args)
        except Exception as e:  # a tracker must not end a run
            self.failed = True
            log.warning("%s stopped tracking (%s): %s", type(self).__name__, what, first_line(str(e)))

    def on_run_start(self, run_dir: Path, exp: Experiment, run_id: str) -> None:
        # Checked and started with errors raised: a tracker that cannot start is a bad config, said before the run.
        self.round_steps = _stored_round_steps(run_dir)
        self.sink.start(run_id, exp.name, config_params(exp.model_dump(mode="json")), run_dir)

    def on_train_metrics(self, round_: int, rows: list[dict]) -> None:
        self.round_steps[round_] = len(rows)
        items = train_scalars(rows, self._offset(round_)) + steps_scalars(round_, len(rows))
        self._safely("train metrics", self.sink.scalars, items)

    def on_train_series(self, round_: int, rows: list[dict]) -> None:
        self._safely("train series", self.sink.scalars, series_scalars(rows, self._offset(round_)))

    def on_verify(self, round_: int, proposed: int, accepted: int, label_accuracy: float | None) -> None:
        self._safely("verify", self.sink.scalars, verify_scalars(round_, proposed, accepted, label_accuracy))

    def on_evaluate(self, round_: int, rows: list[dict]) -> None:
        self._safely("evaluate", self.sink.scalars, eval_scalars(round_, rows))

    def on_stop_decisions(self, round_: int, rows: list[dict]) -> None:
        self._safely("stop decisions", self.sink.scalars, stop_scalars(rows, self._offset(round_)))

    def on_run_end(self, reason: str) -> None:
        self._safely("run end", self.sink.finish, reason)


class MlflowTracker(Tracker):
    """Logs to MLflow at ``uri`` (a directory, ``file:``, ``sqlite:///`` or a server's URI), in ``experiment``
    (default: the run's name)."""

    def __init__(self, uri: str, experiment: str = "") -> None:
        sink = MlflowSink(uri, experiment)
        sink.check()
        super().__init__(sink)


class TensorBoardTracker(Tracker):
    """Writes TensorBoard event files to ``log_dir/<run id>``."""

    def __init__(self, log_dir: str | Path) -> None:
        sink = TensorBoardSink(log_dir)
        sink.check()
        super().__init__(sink)


def build_trackers(exp: Experiment) -> list[LoopCallback]:
    """The trackers ``[track]`` asks for, checked (importable, a writable directory) without creating anything."""
    track = getattr(exp, "track", None)
    mlflow, tensorboard = getattr(track, "mlflow", "") or "", getattr(track, "tensorboard", "") or ""
    trackers: list[LoopCallback] = []
    if mlflow:
        trackers.append(MlflowTracker(mlflow, getattr(track, "experiment", "") or ""))
    if tensorboard:
        trackers.append(TensorBoardTracker(tensorboard))
    return trackers


def _stored_round_steps(run_dir: Path) -> dict[int, int]:
    """Training steps per round already in the run's store (a resumed run's earlier rounds)."""
    db = Path(run_dir) / DB_NAME
    if not db.is_file():
        return {}
    try:
        store = open_run_store(Path(run_dir))
        try:
            return store.round_steps()
        finally:
            store.close(checkpoint=False)
    except (SelftaughtError, sqlite3.Error):
        return {}


# --------------------------------------------------------------------------------------------------- export
def open_run_store(run_dir: Path) -> Reader:
    """The run's store, opened read-only; a directory that holds no run is refused in one line."""
    db = run_dir / DB_NAME
    if not run_dir.is_dir():
        raise SelftaughtError(
            f"{run_dir} is not a run directory" + ("" if run_dir.exists() else " (it does not exist)")
        )
    if not db.is_file():
        raise SelftaughtError(f"{run_dir} is not a run directory: it holds no {DB_NAME}")
    return Reader.open(db)


def export_run(
    run_dir: Path, mlflow: str | None = None, tensorboard: str | Path | None = None, experiment: str = ""
) -> list[str]:
    """Write a run's config and metrics (as the live trackers would have) to MLflow and/or TensorBoard from its
    store, which is only read. Returns where each went. A run already exported there is refused."""
    if not mlflow and not tensorboard:
        raise SelftaughtError("export: say where to, with --mlflow URI and/or --tensorboard DIR")
    store = open_run_store(run_dir)
    try:
        sinks: list[tuple[str, Sink]] = []
        if mlflow:
            sink = MlflowSink(mlflow, experiment, reuse=False)
            sink.check()
            sinks.append((f"MLflow {sink.uri}", sink))
        if tensorboard:
            tb = TensorBoardSink(tensorboard, fresh=True)
            tb.check()
            sinks.append((f"TensorBoard {tb.root / store.run_id}", tb))
        config = store.config()
        params = config_params(config)
        metrics = run_metrics(store)
        reason, complete = store.meta("stop_reason") or "", store.complete
        for _, s in sinks:
            s.start(store.run_id, config.get("name", "run"), params, run_dir.resolve())
            s.scalars(metrics)
            s.finish(reason if complete else "not complete", complete)
        return [where for where, _ in sinks]
    finally:
        store.close(checkpoint=False)
