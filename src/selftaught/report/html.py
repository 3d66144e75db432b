"""The report page: one HTML file with inline CSS and the PNGs beside it, readable offline and without JavaScript.

The page is ``page.PAGE`` in order: each section's heading, then each part, a plot (its heading, caption and image,
or one line saying why it was left out) or a table. Every piece of text that comes from data (the run id, a stop
reason, a reason a plot was left out) goes through ``html.escape``: configs are user-written and may hold anything,
and the page must never run what it shows.
"""

from __future__ import annotations

from html import escape

from selftaught.report.data import ReportData
from selftaught.report.figure import Plot
from selftaught.report.page import PAGE

__all__ = ["render_html"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.2em; }
.status { font-size: 1.05em; margin: 0.3em 0 1em; }
.complete { color: #1a7f37; font-weight: bold; }
.running { color: #9a6700; font-weight: bold; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
tbody tr:nth-child(even) { background: #fafafa; }
img { max-width: 100%; height: auto; border: 1px solid #eee; margin: 0.5em 0; }
pre { background: #f6f8fa; border: 1px solid #ddd; padding: 0.8em; overflow-x: auto; font-size: 0.88em; }
td pre { margin: 0; padding: 0.3em; max-height: 18em; overflow: auto; white-space: pre-wrap; }
.empty { color: #777; font-style: italic; }
"""


def _status(data: ReportData) -> str:
    if data.complete:
        state = '<span class="complete">complete</span>'
    else:
        state = '<span class="running">not complete</span>'
    reason = f" &middot; stop reason: {escape(str(data.stop_reason))}" if data.stop_reason else ""
    return f'<p class="status">Status: {state}{reason}</p>'


def _plot(plot: Plot, level: int, images: dict[str, str], left_out: dict[str, str]) -> str:
    """The plot's heading, caption and image; or, when it was left out, one line saying why."""
    if plot.key in images:
        heading = f"<h{level}>{escape(plot.heading)}</h{level}>"
        image = f'<p><img src="{escape(images[plot.key])}" alt="{escape(plot.alt)}"></p>'
        return "\n".join(part for part in (heading, plot.caption, image) if part)
    if plot.key in left_out:
        return f'<p class="empty">Not drawn: {escape(plot.heading.lower())}: {escape(left_out[plot.key])}.</p>'
    return ""


def render_html(data: ReportData, images: dict[str, str], left_out: dict[str, str] | None = None) -> str:
    """The full report page for ``data``; ``images`` maps a plot's key (``page.PLOTS``) to its image's relative path.
    A plot missing from ``images`` leaves its heading and image out; ``left_out`` maps such a key to the reason, said
    in one line instead."""
    left_out = left_out or {}
    title = f"selftaught run {data.run_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(title)}</h1>",
        _status(data),
    ]
    for section in PAGE:
        level = 2
        if section.heading is not None:
            parts.append(f"<h2>{escape(section.heading)}</h2>")
            level = 3
        for part in section.parts:
            if isinstance(part, Plot):
                shown = _plot(part, level, images, left_out)
            else:
                body = part.render(data)
                shown = body and f"<h{level}>{escape(part.heading)}</h{level}>\n{body}"
            if shown:
                parts.append(shown)
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
