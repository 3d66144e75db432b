"""The report page: one HTML file with inline CSS and the PNGs beside it, readable offline and without JavaScript.

Every piece of text that comes from data (the run id, the config, a stop reason, a task name) goes through
``html.escape``: configs are user-written and may hold anything, and the page must never run what it shows.
"""

from __future__ import annotations

import math
import re
from html import escape
from typing import TYPE_CHECKING

from selftaught.report.plots import finite_number
from selftaught.store import PHASES

if TYPE_CHECKING:
    from selftaught.report import ReportData

__all__ = ["render_html"]

_DASH = "&mdash;"

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
.empty { color: #777; font-style: italic; }
"""


def _percent(value: object) -> str:
    number = finite_number(value)
    return _DASH if number is None else f"{number * 100:.1f}%"


def _integer(value: object) -> str:
    number = finite_number(value)
    return _DASH if number is None else f"{number:.0f}"


def _seconds(value: object) -> str:
    number = finite_number(value)
    return _DASH if number is None else f"{number:.1f}"


def _table(headers: list[str], rows: list[list[str]], text_columns: frozenset[int] = frozenset()) -> str:
    """An HTML table; cells are already-escaped HTML, header strings are escaped here."""

    def cls(index: int) -> str:
        return ' class="text"' if index in text_columns else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _status(data: ReportData) -> str:
    if data.complete:
        state = '<span class="complete">complete</span>'
    else:
        state = '<span class="running">not complete</span>'
    reason = f" &middot; stop reason: {escape(str(data.stop_reason))}" if data.stop_reason else ""
    return f'<p class="status">Status: {state}{reason}</p>'


def _rounds_table(rounds: list[dict]) -> str:
    if not rounds:
        return '<p class="empty">No rounds recorded yet.</p>'
    rows = []
    for row in sorted(rounds, key=lambda r: (r.get("round") is None, r.get("round") or 0)):
        proposed = finite_number(row.get("proposed"))
        accepted = finite_number(row.get("accepted"))
        rate = accepted / proposed if proposed and accepted is not None else None
        rows.append(
            [
                _integer(row.get("round")),
                _integer(row.get("difficulty")),
                _integer(proposed),
                _integer(accepted),
                _percent(rate),
                _percent(row.get("label_accuracy")),
                _integer(row.get("train_steps")),
                _seconds(row.get("seconds")),
            ]
        )
    headers = ["round", "difficulty", "proposed", "accepted", "accept rate", "label accuracy", "train steps", "seconds"]
    return _table(headers, rows)


def _final_accuracy_table(evaluations: list[dict]) -> str:
    """Accuracy per difficulty (and task, when there are several) for the latest evaluated round."""
    usable = [row for row in evaluations if row.get("round") is not None and row.get("difficulty") is not None]
    if not usable:
        return '<p class="empty">No evaluations recorded yet.</p>'
    final_round = max(int(row["round"]) for row in usable)
    final = [row for row in usable if int(row["round"]) == final_round]
    tasks = {row.get("task") for row in final}
    with_task = len(tasks) > 1 or tasks != {None}
    final.sort(key=lambda row: (str(row.get("task") or ""), int(row["difficulty"])))
    rows = []
    for row in final:
        low, high = finite_number(row.get("ci_low")), finite_number(row.get("ci_high"))
        interval = _DASH if low is None or high is None else f"{low * 100:.1f}% &ndash; {high * 100:.1f}%"
        cells = [_integer(row["difficulty"]), _integer(row.get("n")), _percent(row.get("accuracy")), interval]
        if with_task:
            task = row.get("task")
            cells.insert(0, _DASH if task is None else escape(str(task)))
        rows.append(cells)
    headers = ["difficulty", "n", "accuracy", "95% CI"]
    if with_task:
        headers.insert(0, "task")
    table = _table(headers, rows, text_columns=frozenset({0}) if with_task else frozenset())
    return f"<p>Round {final_round}, held-out problems, exact match.</p>\n{table}"


def _target(value: object) -> str:
    """An accuracy target as a percentage without trailing zeros: 0.9 -> "90%", 0.925 -> "92.5%"."""
    number = finite_number(value)
    return _DASH if number is None else f"{round(number * 100, 2):g}%"


def _text(value: object) -> str:
    return _DASH if value is None or value == "" else escape(str(value))


def _round_key(row: dict) -> tuple[bool, int]:
    return row.get("round") is None, int(row.get("round") or 0)


def _stopping_table(rounds: list[dict]) -> str:
    """Per round: its planned steps, the steps it trained, and where and why the stopping rule first said stop."""
    if not rounds:
        return '<p class="empty">No round budgets recorded yet.</p>'
    rows = [
        [
            _integer(row.get("round")),
            _integer(row.get("budget")),
            _integer(row.get("train_steps")),
            _integer(row.get("stopped_at")),
            _text(row.get("stop_reason")),
        ]
        for row in sorted(rounds, key=_round_key)
    ]
    headers = ["round", "budget", "steps trained", "stopped at", "reason"]
    return _table(headers, rows, text_columns=frozenset({4}))


def _time_to_result_table(results_reached: list[dict]) -> str:
    """When each (task, difficulty) first reached each accuracy target, on the run's step axis and clocks: one row
    per (task, difficulty, round, step), listing every target first reached at that evaluation, in step order."""
    if not results_reached:
        return '<p class="empty">No accuracy target reached yet.</p>'

    def number(value: object) -> float:
        found = finite_number(value)
        return math.inf if found is None else found

    merged: dict[tuple, tuple[dict, list[object]]] = {}
    for row in sorted(results_reached, key=lambda r: number(r.get("target"))):
        key = (str(row.get("task") or ""), number(row.get("difficulty")), number(row.get("round")), row.get("steps"))
        merged.setdefault(key, (row, []))[1].append(row.get("target"))
    order = sorted(merged, key=lambda k: (number(merged[k][0].get("steps")), k[0], k[1]))
    rows = []
    for key in order:
        row, targets = merged[key]
        rows.append(
            [
                _text(row.get("task")),
                _integer(row.get("difficulty")),
                ", ".join(_target(target) for target in targets),
                _integer(row.get("round")),
                _integer(row.get("steps")),
                _seconds(row.get("seconds")),
                _seconds(row.get("cpu_seconds")),
            ]
        )
    headers = ["skill", "difficulty", "targets reached", "round", "global steps", "wall seconds", "CPU seconds"]
    table = _table(headers, rows, text_columns=frozenset({0, 2}))
    return (
        "<p>The first held-out evaluation at or over each accuracy target, the targets one evaluation reached "
        f"together in one row; times since the run began.</p>\n{table}"
    )


def _phase_times_table(rounds: list[dict]) -> str:
    """Wall and CPU seconds per phase, summed over the rounds, in loop order, with a total row."""
    totals: dict[str, list[float | None]] = {}
    for row in rounds:
        phases = row.get("phases")
        if not isinstance(phases, dict):
            continue
        for phase, state in phases.items():
            if not isinstance(state, dict):
                continue
            sums = totals.setdefault(str(phase), [None, None])
            for k, key in enumerate(("seconds", "cpu_seconds")):
                number = finite_number(state.get(key))
                if number is not None:
                    sums[k] = (sums[k] or 0.0) + number
    totals = {phase: sums for phase, sums in totals.items() if sums != [None, None]}
    if not totals:
        return '<p class="empty">No phase times recorded yet.</p>'
    known = [phase for phase in PHASES if phase in totals]
    order = known + sorted(phase for phase in totals if phase not in PHASES)
    rows = [[escape(phase), _seconds(totals[phase][0]), _seconds(totals[phase][1])] for phase in order]
    overall = []
    for k in range(2):
        numbers = [totals[phase][k] for phase in order if totals[phase][k] is not None]
        overall.append(sum(numbers) if numbers else None)
    rows.append(["total", *(_seconds(value) for value in overall)])
    return _table(["phase", "wall seconds", "CPU seconds"], rows, text_columns=frozenset({0}))


def _hindsight_section(rows: list[dict]) -> list[str]:
    """The hindsight relabelling table (per round and difficulty: tried, made, kept, trained on); nothing on a run
    without relabels."""
    if not rows:
        return []
    body = [[r["round"], r["difficulty"], r["tried"], r["made"], r["kept"], r["trained"]] for r in rows]
    return [
        "<h2>Hindsight relabelling</h2>",
        "<p>Failed attempts that ran, re-posed as the problems they do solve, per round and difficulty of the "
        "relabelled problem (of the attempted one where none was made): tried, made (not degenerate), kept (new) "
        "and trained on.</p>",
        _table(["round", "difficulty", "tried", "made", "kept", "trained on"], body),
    ]


def _image(src: str, alt: str) -> str:
    return f'<p><img src="{escape(src)}" alt="{escape(alt)}"></p>'


def render_html(data: ReportData, images: dict[str, str], left_out: dict[str, str] | None = None) -> str:
    """The full report page for ``data``; ``images`` maps ``heatmap``, ``loss``, ``accepted``, ``sampling``,
    ``success``, ``teacher``, ``curves``, ``lr``, ``what_if``, ``rewards``, ``control`` and ``refine`` to relative
    paths. A key missing from ``images`` leaves its heading and image out; ``left_out`` maps such a key to the
    reason, said in one line instead."""
    left_out = left_out or {}

    def figure(key: str, heading: str, alt: str, intro: str = "") -> str:
        """The plot's heading, introduction and image; or, when it was left out, one line saying why."""
        if key in images:
            return "\n".join(part for part in (heading, intro, _image(images[key], alt)) if part)
        if key in left_out:
            name = re.sub(r"<[^>]+>", "", heading)
            return f'<p class="empty">Not drawn: {escape(name.lower())}: {escape(left_out[key])}.</p>'
        return ""

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
        "<h2>Rounds</h2>",
        _rounds_table(data.rounds),
        "<h2>Final accuracy per difficulty</h2>",
        _final_accuracy_table(data.evaluations),
        figure(
            "heatmap",
            "<h2>Accuracy by difficulty and round</h2>",
            "held-out accuracy heatmap, difficulty by round",
        ),
        figure("loss", "<h2>Training loss</h2>", "training loss and learning rate over the global step"),
        figure(
            "accepted",
            "<h2>Labelled and accepted problems</h2>",
            "round 0's labelled problems, then the share of each round's self-labelled problems accepted and the "
            "label accuracy",
        ),
        "<h2>Curriculum</h2>",
        figure(
            "sampling",
            "<h3>Sampling share per skill</h3>",
            "share of training samples per skill over the global training step",
        ),
        figure(
            "success",
            "<h3>Success per skill and difficulty</h3>",
            "success rate heatmap, skill and difficulty by global training step",
        ),
        figure(
            "teacher",
            "<h3>Teacher scores</h3>",
            "teacher scores per skill or cell over the global training step",
        ),
        "<h2>Step control</h2>",
        figure(
            "curves",
            "<h3>Learning curves inside rounds</h3>",
            "held-out slice accuracy per round, the stopping rule's stop and its prediction",
        ),
        "<h3>Budget and stop per round</h3>",
        _stopping_table(data.rounds),
        figure(
            "lr",
            "<h3>Learning rate and gradient norm</h3>",
            "learning rate and gradient l2 norm per step over the global training step",
        ),
        figure(
            "what_if",
            "<h3>Round 0 under other schedules</h3>",
            "round 0's training loss predicted under each schedule by the annealing law",
            "<p>The LR-annealing loss law (L = L0 + A·S1<sup>−α</sup> − C·S2), fitted on round 0's training loss, "
            "predicts that loss curve under each built-in schedule of the same length and peak rate; a prediction "
            "that leaves the range from 0 to the round's first loss is not drawn.</p>",
        ),
        "<h3>Time to result</h3>",
        _time_to_result_table(data.results_reached),
        "<h3>Time per phase</h3>",
        _phase_times_table(data.rounds),
        "<h2>Learning from rewards</h2>",
        figure(
            "rewards",
            "<h3>Rewards during training</h3>",
            "GRPO's mean reward with its spread, zero-variance and clipped shares and KL over the global step",
            "<p>Per GRPO step: the mean reward of the sampled groups (band: one standard deviation), the share of "
            "groups whose rewards were all equal and so gave no gradient, the share of clipped ratios, and the KL "
            "divergence to the reference model.</p>",
        ),
        figure(
            "control",
            "<h3>Exploration and exploitation control</h3>",
            "B-STaR's chosen setting's balance score per round, and every grid setting's",
            "<p>Per round, the balance score of the sampling setting B-STaR chose (labelled with its temperature T, "
            "threshold τ and samples n) against the spread of its grid's scores.</p>",
        ),
        figure(
            "refine",
            "<h3>Refinement per turn</h3>",
            "fix rate per refine turn per round, and the cumulative share of failing attempts fixed",
            "<p>Per round, the share of attempts still failing at each refine turn that the turn fixed, and the "
            "share of the attempts failing before refinement that were fixed by that turn.</p>",
        ),
        *_hindsight_section(data.hindsight),
        "<h2>Config</h2>",
        f"<pre>{escape(data.config_text)}</pre>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)
