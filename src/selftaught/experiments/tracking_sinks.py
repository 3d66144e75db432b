"""Where a tracker writes: an MLflow run (a local file store or a server) or TensorBoard event files. MLflow and
TensorBoard are the ``track`` extra, imported only when a sink is made."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from selftaught.errors import SelftaughtError

log = logging.getLogger(__name__)

Scalar = tuple[str, float, int]  # (name, value, step)
_TAG_RUN_ID = "selftaught.run_id"


class Sink:
    """Where a tracker writes: ``start`` once per run, then ``scalars`` batches, then ``finish``."""

    def start(self, run_id: str, name: str, params: dict[str, str], run_dir: Path | None) -> None: ...

    def scalars(self, items: list[Scalar]) -> None: ...

    def finish(self, reason: str, complete: bool = True) -> None: ...


def _is_file_store(uri: str) -> bool:
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def _mlflow_uri(given: str) -> str:
    """A directory as a ``file:`` URI; any URI as it is."""
    return Path(given).expanduser().resolve().as_uri() if urlparse(given).scheme == "" else given


def _file_path(uri: str) -> Path:
    return Path(urlparse(uri).path) if uri.startswith("file:") else Path(uri)


def _check_writable_dir(path: Path, what: str) -> None:
    """Refuse, in one line and creating nothing, a directory that cannot be made or written."""
    path = path.expanduser()
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise SelftaughtError(f"{what} {path}: {p} is not a directory")
            if not os.access(p, os.W_OK | os.X_OK):
                raise SelftaughtError(f"{what} {path}: {p} is not writable")
            return


def _import_mlflow() -> Any:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # no network beyond the tracking URI
    try:
        import mlflow.tracking  # noqa: F401
    except ImportError:
        raise SelftaughtError("track.mlflow needs MLflow: pip install 'selftaught[track]'") from None
    import mlflow

    return mlflow


class MlflowSink(Sink):
    def __init__(self, uri: str, experiment: str = "", reuse: bool = True) -> None:
        self.uri, self.experiment, self.reuse = _mlflow_uri(uri), experiment, reuse
        self.client: Any = None
        self.run: str | None = None

    def check(self) -> None:
        if _is_file_store(self.uri):
            _check_writable_dir(_file_path(self.uri), "track.mlflow")
        _import_mlflow()

    def start(self, run_id: str, name: str, params: dict[str, str], run_dir: Path | None) -> None:
        mlflow = _import_mlflow()
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        if _is_file_store(self.uri):
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        experiment = self.experiment or name
        try:
            self.client = mlflow.tracking.MlflowClient(tracking_uri=self.uri)
            found = self.client.get_experiment_by_name(experiment)
            exp_id = found.experiment_id if found is not None else self.client.create_experiment(experiment)
            existing = self.client.search_runs([exp_id], filter_string=f"tags.`{_TAG_RUN_ID}` = '{run_id}'")
            if existing and not self.reuse:
                raise SelftaughtError(
                    f"MLflow experiment {experiment!r} at {self.uri} already holds run {run_id} "
                    f"(MLflow run {existing[0].info.run_id}); delete it or export into another --experiment"
                )
            if existing:  # a resumed run goes on in its MLflow run; its parameters are there already
                self.run = existing[0].info.run_id
                self.client.update_run(self.run, status="RUNNING")
                return
            tags = {_TAG_RUN_ID: run_id, **({"selftaught.run_dir": str(run_dir)} if run_dir else {})}
            self.run = self.client.create_run(exp_id, run_name=run_id, tags=tags).info.run_id
            items = [Param(k[:250], v[:6000]) for k, v in params.items()]
            for i in range(0, len(items), 100):
                self.client.log_batch(self.run, params=items[i : i + 100])
        except MlflowException as e:
            raise SelftaughtError(f"MLflow at {self.uri}: {first_line(e.message)}") from None
        except OSError as e:
            raise SelftaughtError(f"MLflow at {self.uri}: {e.strerror or e}") from None

    def scalars(self, items: list[Scalar]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v, step in items]
        for i in range(0, len(metrics), 1000):
            self.client.log_batch(self.run, metrics=metrics[i : i + 1000])

    def finish(self, reason: str, complete: bool = True) -> None:
        self.client.set_tag(self.run, "selftaught.stop_reason", reason)
        self.client.set_terminated(self.run, status="FINISHED" if complete else "KILLED")


class TensorBoardSink(Sink):
    def __init__(self, root: str | Path, fresh: bool = False) -> None:
        self.root, self.fresh = Path(root).expanduser(), fresh
        self.writer: Any = None

    def check(self) -> None:
        _check_writable_dir(self.root, "track.tensorboard")
        _import_tensorboard()

    def start(self, run_id: str, name: str, params: dict[str, str], run_dir: Path | None) -> None:
        summary_writer = _import_tensorboard()
        log_dir = self.root / run_id
        if self.fresh and log_dir.is_dir() and any(log_dir.iterdir()):
            raise SelftaughtError(f"TensorBoard directory {log_dir} already holds run {run_id}; export elsewhere")
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            self.writer = summary_writer(log_dir=str(log_dir))
        except OSError as e:
            raise SelftaughtError(f"cannot write TensorBoard logs in {log_dir}: {e.strerror or e}") from None
        table = "\n".join(["| key | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in params.items())])
        self.writer.add_text("config", table, 0)
        self.writer.flush()

    def scalars(self, items: list[Scalar]) -> None:
        for k, v, step in items:
            self.writer.add_scalar(k, v, step)
        self.writer.flush()

    def finish(self, reason: str, complete: bool = True) -> None:
        self.writer.add_text("stop_reason", reason, 0)
        self.writer.close()


def _import_tensorboard() -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise SelftaughtError("track.tensorboard needs TensorBoard: pip install 'selftaught[track]'") from None
    return SummaryWriter


def first_line(text: str) -> str:
    return (str(text).strip().splitlines() or [""])[0]


# ------------------------------------------------------------------------------------------------- trackers
