"""``status``, ``report`` and ``export``: read a run's store (while it runs, too) and show it, draw it, or send it
to MLflow / TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from selftaught.cli.progress import clock
from selftaught.cli.shell import app, out, session
from selftaught.experiments.tracking import export_run
from selftaught.report import write_report
from selftaught.report.status import accuracy_ranges, learning_lines, reached_together, report_data, run_status
from selftaught.run.loop import DB_NAME
from selftaught.run.rundir import check_run_dir
from selftaught.store import Reader


def _open(run_dir: Path) -> Reader:
    """The run's store, read-only (while a writer runs too, and on read-only media); closed at the command's end."""
    check_run_dir(run_dir)
    store = Reader.open(run_dir / DB_NAME)
    session.closers.append(store.close)
    return store


def _titled(title: str) -> Table:
    return Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=f"\n{title}", title_justify="left")


def _rounds_table(st: dict) -> Table:
    with_phases = any(not all(r["phases"].values()) for r in st["rounds"])  # a finished run has them all done
    table = _titled("rounds")
    for header in ("round", "diff", *(["phases"] if with_phases else []), "accepted", "correct", "steps"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("held-out accuracy", min_width=20, overflow="fold")
    for r in st["rounds"]:
        accepted = f"{r['proposed']} labelled" if r["round"] == 0 else f"{r['accepted']}/{r['proposed']}"
        correct = "-" if r["label_accuracy"] is None or r["round"] == 0 else f"{r['label_accuracy']:.1%}"
        steps = str(r["train_steps"]) + (f"/{r['budget']}" if r["budget"] and r["budget"] != r["train_steps"] else "")
        phases = [f"{sum(r['phases'].values())}/{len(r['phases'])}"] if with_phases else []
        cells = [str(r["round"]), str(r["difficulty"]), *phases, accepted, correct, steps]
        table.add_row(*cells, "\n".join(accuracy_ranges(r["accuracy"])) or "-")
    return table


def _reached_table(st: dict) -> Table:
    reached = _titled("time to result (targets first reached)")
    for header in ("skill", "diff", "reached", "round", "step", "wall", "CPU"):
        reached.add_column(header, justify="left" if header in ("skill", "reached") else "right", no_wrap=True)
    for t in reached_together(st["time_to_result"]):
        reached.add_row(
            t["task"],
            str(t["difficulty"]),
            " ".join(f"{target:.0%}" for target in t["targets"]),
            str(t["round"]),
            str(t["steps"]),
            f"{t['seconds']:.1f}s",
            f"{t['cpu_seconds']:.1f}s",
        )
    return reached


def _skills_table(st: dict) -> Table:
    skills = _titled("skills")
    for header in ("skill", "frontier", "mastered up to", "share"):
        skills.add_column(header, justify="left" if header == "skill" else "right", no_wrap=True)
    skills.add_column("held-out accuracy (newest)", min_width=20, overflow="fold")
    for name, p in st["skills"].items():
        accuracy = " ".join(accuracy_ranges(p["accuracy"])) or "-"
        mastered = "-" if p["mastered"] is None else str(p["mastered"])
        skills.add_row(name, str(p["frontier"]), mastered, f"{p['share']:.1%}", accuracy)
    return skills


@app.command()
def status(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """Show a run's rounds, phases, counts and accuracy."""
    st = run_status(_open(run_dir))
    if as_json:
        print(json.dumps(st, indent=2))
        return
    # Laid out to read at 80 columns: short headers that never wrap, accuracies as ranges of difficulties (one line
    # per skill in a mix) in the one column that may wrap, and only between groups.
    state = "complete" if st["complete"] else "not complete"
    took = f"{clock(st['elapsed_seconds'])} wall, {clock(st['elapsed_cpu_seconds'])} CPU"
    out.print(f"run {st['run_id']}: {state}; {took}", soft_wrap=True)
    if st["stop_reason"]:
        out.print(f"stop reason: {st['stop_reason']}", soft_wrap=True)
    out.print(_rounds_table(st))
    if extra := learning_lines(st):
        out.print("\n" + "\n".join(extra), soft_wrap=True)
    if st["time_to_result"]:
        out.print(_reached_table(st))
    if len(st["skills"]) > 1:
        out.print(_skills_table(st))


@app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="a run directory")]) -> None:
    """Write report/report.html with plots."""
    path = write_report(report_data(_open(run_dir)), run_dir / "report")
    out.print(f"wrote {path}")


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="a run directory")],
    mlflow: Annotated[str | None, typer.Option(help="MLflow tracking URI or directory (file store)")] = None,
    tensorboard: Annotated[Path | None, typer.Option(help="TensorBoard log directory (writes DIR/<run id>)")] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment; default the run's name")] = "",
) -> None:
    """Write a run's config and metrics to MLflow and/or TensorBoard from its store."""
    for where in export_run(run_dir, mlflow=mlflow, tensorboard=tensorboard, experiment=experiment):
        out.print(f"exported {run_dir} to {where}", soft_wrap=True)
