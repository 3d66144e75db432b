"""``sweep`` and ``compare``: many runs of one experiment over settings and seeds, and their points side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from selftaught.cli.shell import app, out
from selftaught.errors import SelftaughtError
from selftaught.experiments.compare import compare_sweep
from selftaught.experiments.sweep import load_sweep, run_sweep


@app.command()
def sweep(
    sweep_file: Annotated[Path, typer.Argument(help="sweep TOML: base/preset, [set], [grid], [random], seeds")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="sweep directory; default sweeps/<name>")] = None,
    backend: Annotated[str, typer.Option(help="'local' (one run after another) or 'ray' (Ray tasks)")] = "local",
) -> None:
    """Run an experiment over a grid / random draws of settings and seeds; run it again to resume."""
    if backend not in ("local", "ray"):
        raise SelftaughtError(f"--backend {backend!r}: expected 'local' or 'ray'")
    spec = load_sweep(sweep_file, out_dir)
    total = len(spec.runs)
    out.print(f"sweep {spec.name}: {len(spec.points)} points x {len(spec.seeds)} seeds = {total} runs in {spec.out}")
    count = {"n": 0}

    def event(kind: str, run: Any, info: dict[str, Any]) -> None:
        if kind == "start" and backend == "ray":
            return
        if kind != "start":
            count["n"] += 1
        where = f"[{count['n']}/{total}] {run.dir}"
        if kind == "skip":
            out.print(f"{where}: already complete", soft_wrap=True)
        elif kind == "start":
            out.print(f"[{count['n'] + 1}/{total}] {run.dir}: running", soft_wrap=True)
        elif kind == "done":
            out.print(f"{where}: complete ({info['stop_reason']}) in {info['seconds']:.1f}s", soft_wrap=True)
        else:
            out.print(f"{where}: failed: {info.get('error', '')}", soft_wrap=True, markup=False)

    index = run_sweep(spec, backend, event)
    runs = [r for p in index["points"] for r in p["runs"]]
    failed = [r for r in runs if r["status"] != "complete"]
    tail = f"; {len(failed)} failed (run the sweep again to retry them)" if failed else ""
    out.print(f"sweep complete: {len(runs) - len(failed)}/{len(runs)} runs{tail}; index {spec.out / 'sweep.json'}")
    out.print(f"compare with: selftaught compare {spec.out}", soft_wrap=True)


def _cell(s: dict[str, Any], fmt: str) -> str:
    if s["median"] is None:
        return "-"
    med, low, high = (format(s[k], fmt) for k in ("median", "min", "max"))
    return med if low == high else f"{med} ({low}-{high})"


@app.command()
def compare(
    sweep_dir: Annotated[Path, typer.Argument(help="a sweep directory (holds sweep.json)")],
    as_json: Annotated[bool, typer.Option("--json", help="print the comparison as JSON")] = False,
    plots: Annotated[bool, typer.Option(help="write SWEEP_DIR/compare/*.png")] = True,
) -> None:
    """Compare a sweep's points over their seeds: final accuracy, reach, training steps, wall time."""
    result = compare_sweep(sweep_dir, plots=plots)
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title_justify="left")
    table.title = f"sweep {result['sweep']}: median (min-max) over seeds"
    table.add_column("point", overflow="fold")
    for header in ("runs", "final acc", "reach", "steps", "wall s"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in result["points"]:
        runs = f"{row['complete']}/{row['runs']}"
        table.add_row(
            row["name"],
            runs,
            _cell(row["final_accuracy"], ".1%"),
            _cell(row["reach"], "g"),
            _cell(row["steps"], "g"),
            _cell(row["seconds"], ".1f"),
        )
    out.print(table)
    out.print(
        "final acc: held-out accuracy at the last round on each skill's newest trained difficulty; reach: largest "
        f"difficulty at >= {result['reach_at']:.0%} with every smaller one too",
        soft_wrap=True,
    )
    for path in result["plots"]:
        out.print(f"wrote {path}", soft_wrap=True)
