"""The run report: PNG plots and one self-contained ``report.html`` beside them.

Every plot and table is a record in the module of its concern, and ``page.PAGE`` places them on the page; ``PLOTS``
holds the plots by key. A plot with nothing to show on a run (the learning curves when the stopping rule is off, the
sampling share of a single skill) is left out of both, and the page says why in one line.

The report is built from plain records (``ReportData``) rather than from the store, so it can be regenerated from
any source (a live run, a finished database, a test) and never holds a database connection while matplotlib draws.
"""

from __future__ import annotations

from pathlib import Path

from selftaught.report.data import ReportData
from selftaught.report.figure import Drawn, Plot
from selftaught.report.html import render_html
from selftaught.report.page import PAGE, PLOTS

__all__ = ["PAGE", "PLOTS", "Drawn", "Plot", "ReportData", "draw_plots", "write_report"]


def draw_plots(data: ReportData, out_dir: Path) -> tuple[dict[str, Drawn], dict[str, str]]:
    """Draw every plot with something to show into ``out_dir`` and delete a left-out plot's file from an earlier
    report there. Returns ``(drawn, left_out)``: what each drawn plot shows, by its key in ``PLOTS``, and why each
    other plot was left out."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    drawn, left_out = {}, {}
    for key, plot in PLOTS.items():
        reason = plot.left_out(data)
        if reason is None:
            drawn[key] = plot.draw(data, out_dir / plot.file)
        else:
            left_out[key] = reason
            (out_dir / plot.file).unlink(missing_ok=True)
    return drawn, left_out


def write_report(data: ReportData, out_dir: Path) -> Path:
    """Write the plots with something to show and ``report.html`` into ``out_dir`` (created if needed); return the
    HTML path.

    Files are replaced atomically, so a browser refreshing the report mid-run never sees a half-written file.
    """
    out_dir = Path(out_dir)
    drawn, left_out = draw_plots(data, out_dir)
    page = render_html(data, images={key: PLOTS[key].file for key in drawn}, left_out=left_out)
    path = out_dir / "report.html"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
