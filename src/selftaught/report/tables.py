"""The report's tables, each a ``Table`` record the page lists beside the plots: rounds, final accuracy, budgets and
stops, time to result, time per phase, hindsight relabels and the config.

Every piece of text that comes from data (a stop reason, a task name, the config) goes through ``html.escape``:
configs are user-written and may hold anything, and the page must never run what it shows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from selftaught.report.data import ReportData
from selftaught.report.figure import finite_number
from selftaught.store import PHASES

__all__ = [
    "CONFIG",
    "DASH",
    "FINAL_ACCURACY",
    "HINDSIGHT",
    "PHASE_TIMES",
    "ROUNDS",
    "STOPPING",
    "TIME_TO_RESULT",
    "Table",
    "integer",
    "percent",
    "seconds",
    "table",
    "text",
]

DASH = "&mdash;"


@dataclass(frozen=True)
class Table:
    """One table (or block of text) of the report: ``render(data)`` gives its HTML, or "" when it has nothing to show
    on this run (then its heading is left out too)."""

    heading: str
    render: Callable[[ReportData], str]


def percent(value: object) -> str:
    number = finite_number(value)
    return DASH if number is None else f"{number * 100:.1f}%"


def integer(value: object) -> str:
    number = finite_number(value)
    return DASH if number is None else f"{number:.0f}"


def seconds(value: object) -> str:
    number = finite_number(value)
    return DASH if number is None else f"{number:.1f}"


def table(headers: list[str], rows: list[list[str]], text_columns: frozenset[int] = frozenset()) -> str:
    """An HTML table; cells are already-escaped HTML, header strings are escaped here."""

    def cls(index: int) -> str:
        return ' class="text"' if index in text_columns else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "\n".join("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


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
                integer(row.get("round")),
                integer(row.get("difficulty")),
                integer(proposed),
                integer(accepted),
                percent(rate),
                percent(row.get("label_accuracy")),
                integer(row.get("train_steps")),
                seconds(row.get("seconds")),
            ]
        )
    headers = ["round", "difficulty", "proposed", "accepted", "accept rate", "label accuracy", "train steps", "seconds"]
    return table(headers, rows)


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
        interval = DASH if low is None or high is None else f"{low * 100:.1f}% &ndash; {high * 100:.1f}%"
        cells = [integer(row["difficulty"]), integer(row.get("n")), percent(row.get("accuracy")), interval]
        if with_task:
            task = row.get("task")
            cells.insert(0, DASH if task is None else escape(str(task)))
        rows.append(cells)
    headers = ["difficulty", "n", "accuracy", "95% CI"]
    if with_task:
        headers.insert(0, "task")
    shown = table(headers, rows, text_columns=frozenset({0}) if with_task else frozenset())
    return f"<p>Round {final_round}, held-out problems, exact match.</p>\n{shown}"


def _target(value: object) -> str:
    """An accuracy target as a percentage without trailing zeros: 0.9 -> "90%", 0.925 -> "92.5%"."""
    number = finite_number(value)
    return DASH if number is None else f"{round(number * 100, 2):g}%"


def text(value: object) -> str:
    return DASH if value is None or value == "" else escape(str(value))


def _round_key(row: dict) -> tuple[bool, int]:
    return row.get("round") is None, int(row.get("round") or 0)


def _stopping_table(rounds: list[dict]) -> str:
    """Per round: its planned steps, the steps it trained, and where and why the stopping rule first said stop."""
    if not rounds:
        return '<p class="empty">No round budgets recorded yet.</p>'
    rows = [
        [
            integer(row.get("round")),
            integer(row.get("budget")),
            integer(row.get("train_steps")),
            integer(row.get("stopped_at")),
            text(row.get("stop_reason")),
        ]
        for row in sorted(rounds, key=_round_key)
    ]
    headers = ["round", "budget", "steps trained", "stopped at", "reason"]
    return table(headers, rows, text_columns=frozenset({4}))


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
                text(row.get("task")),
                integer(row.get("difficulty")),
                ", ".join(_target(target) for target in targets),
                integer(row.get("round")),
                integer(row.get("steps")),
                seconds(row.get("seconds")),
                seconds(row.get("cpu_seconds")),
            ]
        )
    headers = ["skill", "difficulty", "targets reached", "round", "global steps", "wall seconds", "CPU seconds"]
    shown = table(headers, rows, text_columns=frozenset({0, 2}))
    return (
        "<p>The first held-out evaluation at or over each accuracy target, the targets one evaluation reached "
        f"together in one row; times since the run began.</p>\n{shown}"
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
    rows = [[escape(phase), seconds(totals[phase][0]), seconds(totals[phase][1])] for phase in order]
    overall = []
    for k in range(2):
        numbers = [totals[phase][k] for phase in order if totals[phase][k] is not None]
        overall.append(sum(numbers) if numbers else None)
    rows.append(["total", *(seconds(value) for value in overall)])
    return table(["phase", "wall seconds", "CPU seconds"], rows, text_columns=frozenset({0}))


def _hindsight_table(rows: list[dict]) -> str:
    """The hindsight relabelling table (per round and difficulty: tried, made, kept, trained on); nothing on a run
    without relabels."""
    if not rows:
        return ""
    body = [[r["round"], r["difficulty"], r["tried"], r["made"], r["kept"], r["trained"]] for r in rows]
    return "\n".join(
        [
            "<p>Failed attempts that ran, re-posed as the problems they do solve, per round and difficulty of the "
            "relabelled problem (of the attempted one where none was made): tried, made (not degenerate), kept (new) "
            "and trained on.</p>",
            table(["round", "difficulty", "tried", "made", "kept", "trained on"], body),
        ]
    )


ROUNDS = Table("Rounds", lambda data: _rounds_table(data.rounds))
FINAL_ACCURACY = Table("Final accuracy per difficulty", lambda data: _final_accuracy_table(data.evaluations))
STOPPING = Table("Budget and stop per round", lambda data: _stopping_table(data.rounds))
TIME_TO_RESULT = Table("Time to result", lambda data: _time_to_result_table(data.results_reached))
PHASE_TIMES = Table("Time per phase", lambda data: _phase_times_table(data.rounds))
HINDSIGHT = Table("Hindsight relabelling", lambda data: _hindsight_table(data.hindsight))
CONFIG = Table("Config", lambda data: f"<pre>{escape(data.config_text)}</pre>")
