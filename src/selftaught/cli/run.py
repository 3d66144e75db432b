"""``run`` and ``resume``: start a run of an experiment, or finish an interrupted one, with a live progress display
and the report written at the end."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from selftaught.cli.progress import RichProgress
from selftaught.cli.shell import app, out, session
from selftaught.config import load_experiment
from selftaught.errors import SelftaughtError
from selftaught.experiments.tracking import build_trackers
from selftaught.report import write_report
from selftaught.report.status import report_data
from selftaught.run.callbacks import pause_if_asked
from selftaught.run.loop import DB_NAME, Loop


def _hold(loop: Loop) -> Loop:
    """Close ``loop`` (checkpoint, release the lock) when the command ends."""
    session.closers.append(loop.close)
    session.loop = loop
    return loop


def _write_report(loop: Loop) -> Path:
    session.writing_report = True
    pause_if_asked("REPORT")
    try:
        path = write_report(report_data(loop.store), loop.run_dir / "report")
    except OSError as e:
        raise SelftaughtError(f"cannot write the report in {loop.run_dir / 'report'}: {e.strerror or e}") from None
    session.writing_report = False
    return path


def _run_loop(loop: Loop, trackers: list | None = None) -> None:
    loop.callbacks.append(RichProgress(out, loop.store))
    loop.callbacks.extend(build_trackers(loop.exp) if trackers is None else trackers)
    reason = loop.run()
    report = _write_report(loop)
    loop.close()  # the log folded into run.db before the run is called complete (a full disk says so instead)
    out.print(f"run complete ({reason}); store {loop.run_dir / DB_NAME}; report {report}")


@app.command()
def run(
    config: Annotated[Path | None, typer.Argument(help="experiment TOML; default: the quickstart preset")] = None,
    preset: Annotated[str | None, typer.Option(help="start from this preset (see 'selftaught presets')")] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", help="run directory; default runs/<run id>")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override a key: --set train.lr=0.001")] = None,
) -> None:
    """Start a new run of an experiment."""
    exp, text = load_experiment(config, preset, set_ or [])
    trackers = build_trackers(exp)  # checked before the run directory exists
    loop = _hold(Loop.create(out_dir, exp, text, command="selftaught run"))
    out.print(f"run {loop.store.run_id} in {loop.run_dir}")
    _run_loop(loop, trackers)


@app.command()
def resume(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """Finish an interrupted run from its last completed phase."""
    loop = _hold(Loop.resume(run_dir, command="selftaught resume"))
    r = loop.current_round()
    if r is None:
        done = f"run {loop.store.run_id} is already complete ({loop.store.meta('stop_reason')})"
        if (loop.run_dir / "report" / "report.html").is_file():
            out.print(done)
        else:  # the run ended before its report was written
            out.print(f"{done}; its report was missing: wrote {_write_report(loop)}")
        return
    out.print(f"resuming run {loop.store.run_id} at round {r}")
    _run_loop(loop)
