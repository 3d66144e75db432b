"""Sweeps: many runs of one experiment over a grid and/or random draws of settings, times seeds, and their comparison.

A sweep file (TOML)::

    name = "lr"                      # default: the file's name
    base = "exp.toml"                # an experiment file, relative to this one (optional)
    preset = "smoke"                 # and/or a preset (as `selftaught run --preset`)
    seeds = [0, 1, 2]                # default: the experiment's own seed
    report = true                    # write each run's report, as `selftaught run` does
    cpus_per_run = 1                 # Ray: CPUs a run asks for (and torch threads it uses)

    [set]                            # dotted overrides for every run (as --set)
    "train.labelled_steps" = 200

    [grid]                           # every combination of these values
    "train.lr" = [0.003, 0.01]

    [random]                         # `draws` points drawn with `seed`, crossed with the grid
    draws = 4
    seed = 0
    "train.weight_decay" = { low = 1e-4, high = 1e-1, log = true }   # integers when low and high are
    "train.warm_start" = ["continue", "re-warm"]                     # a list: one of them

Each point x seed is an ordinary run directory under the sweep directory, named from its settings
(``train.lr=0.003,seed=1``). ``load_sweep`` checks everything (every run's experiment validates and its parts build)
before anything is created. ``run_sweep`` runs what is not complete, one after another in this process (``local``)
or as Ray tasks (``ray``): a finished run is skipped, an interrupted one resumed, a failing one recorded in the index
(``SWEEP_DIR/sweep.json``) while the sweep goes on. ``compare.compare_sweep`` summarises the points over their seeds.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from selftaught.config import Experiment
from selftaught.errors import SelftaughtError
from selftaught.experiments.sweep_spec import INDEX, Sweep, SweepRun, load_sweep, shown_settings
from selftaught.experiments.tracking import build_trackers, open_run_store
from selftaught.report import write_report
from selftaught.report.status import report_data
from selftaught.run.loop import Loop

__all__ = ["INDEX", "Sweep", "SweepRun", "load_sweep", "read_index", "run_point", "run_sweep", "shown_settings"]

log = logging.getLogger(__name__)


def read_index(sweep_dir: Path) -> dict[str, Any]:
    path = sweep_dir / INDEX
    if not path.is_file():
        raise SelftaughtError(f"{sweep_dir} is not a sweep directory: it holds no {INDEX}")
    try:
        return json.loads(path.read_text())
    except (ValueError, OSError) as e:
        raise SelftaughtError(f"{path} cannot be read: {e}") from None


def _write_index(sweep: Sweep, status: dict[str, dict[str, Any]]) -> None:
    index = {
        "sweep": sweep.name,
        "spec": sweep.spec,
        "updated": time.time(),
        "points": [
            {
                "point": i,
                "settings": settings,
                "runs": [{"seed": r.seed, "dir": r.dir, **status[r.dir]} for r in sweep.runs if r.point == i],
            }
            for i, settings in enumerate(sweep.points)
        ],
    }
    tmp = sweep.out / f".{INDEX}.tmp"
    tmp.write_text(json.dumps(index, indent=2, default=str))
    os.replace(tmp, sweep.out / INDEX)


def _run_state(run_dir: Path, report: bool) -> str:
    """``complete`` (nothing to do), ``resume`` or ``new``."""
    if not run_dir.is_dir() or not [n for n in os.listdir(run_dir) if n != ".lock"]:
        return "new"
    try:
        store = open_run_store(run_dir)
    except SelftaughtError:
        return "resume"
    try:
        complete = store.complete
    finally:
        store.close()
    done = complete and (not report or (run_dir / "report" / "report.html").is_file())
    return "complete" if done else "resume"


def run_point(run_dir: str, config: dict[str, Any], text: str, report: bool = True) -> dict[str, Any]:
    """Run (or resume, or finish) one run as ``selftaught run`` / ``resume`` would; returns its outcome."""
    exp = Experiment.model_validate(config)
    path = Path(run_dir)
    callbacks = build_trackers(exp)
    started = time.time()
    if _run_state(path, report) == "new":
        loop = Loop.create(path, exp, text, callbacks=callbacks, command="selftaught sweep")
    else:
        loop = Loop.resume(path, callbacks=callbacks, command="selftaught sweep")
    try:
        reason = loop.run()
        if report:
            try:
                write_report(report_data(loop.store), path / "report")
            except OSError as e:
                raise SelftaughtError(f"cannot write the report in {path / 'report'}: {e.strerror or e}") from None
        return {
            "status": "complete",
            "run_id": loop.store.run_id,
            "stop_reason": reason,
            "seconds": time.time() - started,
        }
    finally:
        loop.close()


def _ray_task(run_dir: str, config: dict[str, Any], text: str, report: bool, threads: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(max(1, threads))
    return run_point(run_dir, config, text, report)


def _ray_connect() -> tuple[Any, bool]:
    """``ray``, initialised: the running session, the cluster at ``RAY_ADDRESS``, or a new local one sized to the
    machine. Returns whether this call started it (and so should shut it down)."""
    try:
        import ray
    except ImportError:
        raise SelftaughtError("--backend ray needs Ray: pip install 'selftaught[ray]'") from None
    if ray.is_initialized():
        return ray, False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if address and address not in ("auto", "local"):
        parsed = urlparse(address if "://" in address else f"tcp://{address}")
        try:
            with socket.create_connection((parsed.hostname or "", parsed.port or 6379), timeout=5):
                pass
        except (OSError, ValueError) as e:
            raise SelftaughtError(f"RAY_ADDRESS={address}: cannot reach a Ray cluster there ({e})") from None
    try:
        ray.init(address=address or None, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise SelftaughtError(
            f"Ray: cannot start or join a cluster{f' at {address}' if address else ''}: {e}"
        ) from None
    return ray, True


def run_sweep(
    sweep: Sweep, backend: str = "local", on_event: Callable[[str, SweepRun, dict[str, Any]], None] | None = None
) -> dict[str, Any]:
    """Run every run of ``sweep`` that is not complete; returns the index. ``on_event(kind, run, info)`` hears
    ``skip``, ``start``, ``done`` and ``fail`` (for the CLI to print)."""
    if backend not in ("local", "ray"):
        raise SelftaughtError(f"--backend {backend!r}: expected 'local' or 'ray'")
    ray, started = _ray_connect() if backend == "ray" else (None, False)
    note = on_event or (lambda kind, run, info: None)
    try:
        try:
            sweep.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SelftaughtError(f"cannot make sweep directory {sweep.out}: {e.strerror or e}") from None
        old = {r["dir"]: r for p in _old_points(sweep.out) for r in p.get("runs", [])}
        status: dict[str, dict[str, Any]] = {}
        todo = []
        for run in sweep.runs:
            state = _run_state(sweep.out / run.dir, sweep.report)
            if state == "complete":
                kept = {k: v for k, v in old.get(run.dir, {}).items() if k not in ("seed", "dir")}
                status[run.dir] = {**kept, "status": "complete"}
                note("skip", run, status[run.dir])
            else:
                status[run.dir] = {"status": "pending"}
                todo.append(run)
        _write_index(sweep, status)

        def finished(run: SweepRun, outcome: dict[str, Any]) -> None:
            status[run.dir] = outcome
            _write_index(sweep, status)
            note("done" if outcome["status"] == "complete" else "fail", run, outcome)

        if backend == "local":
            for run in todo:
                status[run.dir] = {"status": "running"}
                _write_index(sweep, status)
                note("start", run, status[run.dir])
                try:
                    outcome = run_point(
                        str(sweep.out / run.dir), run.exp.model_dump(mode="json"), run.text, sweep.report
                    )
                except Exception as e:  # a failing run is recorded; the sweep goes on
                    log.warning("sweep run %s failed", run.dir, exc_info=not isinstance(e, SelftaughtError))
                    outcome = {"status": "failed", "error": _one_line(e)}
                except BaseException:  # interrupted: the run resumes next time
                    status[run.dir] = {"status": "interrupted"}
                    _write_index(sweep, status)
                    raise
                finished(run, outcome)
        else:
            _run_on_ray(ray, sweep, todo, status, finished, note)
        return read_index(sweep.out)
    finally:
        if started:
            ray.shutdown()


def _run_on_ray(ray: Any, sweep: Sweep, todo: list[SweepRun], status: dict, finished: Callable, note: Callable) -> None:
    task = ray.remote(num_cpus=sweep.cpus_per_run, max_retries=0)(_ray_task)
    threads = max(1, int(sweep.cpus_per_run))
    pending = {}
    for run in todo:
        ref = task.remote(
            str((sweep.out / run.dir).resolve()), run.exp.model_dump(mode="json"), run.text, sweep.report, threads
        )
        pending[ref] = run
        status[run.dir] = {"status": "submitted"}
        note("start", run, status[run.dir])
    _write_index(sweep, status)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            run = pending.pop(done[0])
            try:
                outcome = ray.get(done[0])
            except Exception as e:  # the task's own error, or its worker died
                cause = getattr(e, "cause", None) or e
                outcome = {"status": "failed", "error": _one_line(cause)}
            finished(run, outcome)
    except BaseException:
        for ref, run in pending.items():
            ray.cancel(ref, force=True)
            status[run.dir] = {"status": "interrupted"}
        _write_index(sweep, status)
        raise


def _old_points(out: Path) -> list[dict[str, Any]]:
    try:
        return read_index(out).get("points", [])
    except SelftaughtError:
        return []


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}" if not isinstance(e, SelftaughtError) else text[0]
