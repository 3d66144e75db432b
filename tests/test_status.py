"""Tests for ``selftaught status``: readable at 80 columns, accuracies as ranges, one time-to-result row per cell."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

import selftaught.cli.inspect as status_command  # status prints through its module's out
from selftaught.cli import main
from selftaught.report.status import accuracy_ranges, reached_together

MIX = """
name = "mix"
[[skills]]
task = "copy"
high = 4
[[skills]]
task = "reversal"
high = 4
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-skill run of two rounds, small enough for seconds. Its targets are low (1 % and 2 %) so that
    a cell the model gets partly right reaches both at its first evaluation."""
    root = tmp_path_factory.mktemp("status")
    config = root / "mix.toml"
    config.write_text(MIX, encoding="utf-8")
    sets = {
        "loop.max_rounds": "1",
        "loop.labelled_max": "2",
        "loop.labelled_problems": "200",
        "loop.problems_per_round": "16",
        "train.labelled_steps": "60",
        "train.lr": "0.01",
        "eval.problems": "10",
        "eval.targets": "[0.01, 0.02]",
    }
    args = [arg for key, value in sets.items() for arg in ("--set", f"{key}={value}")]
    assert main(["run", str(config), "--preset", "smoke", "--out", str(root / "run"), *args]) == 0
    return root / "run"


def _status(run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> tuple[list[str], dict]:
    """``status`` at 80 columns, as lines; and ``status --json``."""
    buffer = io.StringIO()
    monkeypatch.setattr(status_command, "out", Console(file=buffer, width=80))
    capsys.readouterr()
    assert main(["status", str(run_dir), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert main(["status", str(run_dir)]) == 0
    return buffer.getvalue().splitlines(), document


def _table(lines: list[str], title: str) -> list[str]:
    """The rows of the table titled ``title``: from its header line to the next blank line."""
    start = next(i for i, line in enumerate(lines) if line.startswith(title)) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return [line.rstrip() for line in lines[start:end]]


def _rows(lines: list[str], column: int) -> list[tuple[list[str], list[str]]]:
    """Table lines grouped by row (a row starts where its first column is filled): the cells left of ``column``,
    split on spaces, and the lines of the wrapped last column."""
    rows: list[tuple[list[str], list[str]]] = []
    for line in lines:
        if line[:column].strip():
            rows.append((line[:column].split(), []))
        rows[-1][1].append(line[column:].strip())
    return rows


def test_status_reads_at_80_columns(run_dir: Path, monkeypatch, capsys) -> None:
    lines, st = _status(run_dir, monkeypatch, capsys)
    assert all(len(line) <= 80 for line in lines)
    assert "…" not in "\n".join(lines)  # no header or cell cut short
    assert lines[0].startswith(f"run {st['run_id']}: complete; ")
    assert lines[1] == f"stop reason: {st['stop_reason']}"

    rounds = _table(lines, "rounds")
    header = rounds[0].split()
    assert header[:5] == ["round", "diff", "accepted", "correct", "steps"] and rounds[0].endswith("held-out accuracy")
    by_round = _rows(rounds[2:], rounds[0].index("held-out accuracy"))
    assert [cells[:2] for cells, _ in by_round] == [[str(r["round"]), str(r["difficulty"])] for r in st["rounds"]]
    for (_, accuracy), r in zip(by_round, st["rounds"], strict=True):
        # Each skill's whole range summary, wrapped (if at all) between groups, never inside one.
        assert " ".join(accuracy) == " ".join(accuracy_ranges(r["accuracy"]))
        assert all(re.fullmatch(r"\d+(-\d+)?:\d+%|[a-z-]+", token) for line in accuracy for token in line.split())
    assert by_round[0][0][2:4] == ["200", "labelled"]  # round 0: labelled, nothing accepted or refused
    assert by_round[1][0][2] == f"{st['rounds'][1]['accepted']}/{st['rounds'][1]['proposed']}"

    skills = _table(lines, "skills")
    assert skills[0].startswith("skill") and skills[0].endswith("mastered up to   share   held-out accuracy (newest)")
    by_skill = _rows(skills[2:], skills[0].index("held-out accuracy"))
    for (cells, accuracy), (name, p) in zip(by_skill, st["skills"].items(), strict=True):
        assert cells[0] == name and " ".join(accuracy) == " ".join(accuracy_ranges(p["accuracy"]))


def test_time_to_result_lists_the_targets_reached_together_once(run_dir: Path, monkeypatch, capsys) -> None:
    lines, st = _status(run_dir, monkeypatch, capsys)
    reached = st["time_to_result"]
    cells = {(t["task"], t["difficulty"], t["round"], t["steps"]) for t in reached}
    both = [c for c in cells if sum((t["task"], t["difficulty"], t["round"], t["steps"]) == c for t in reached) == 2]
    assert both, "the run should reach 1 % and 2 % at one evaluation somewhere"
    rows = _table(lines, "time to result")
    assert rows[0].split() == ["skill", "diff", "reached", "round", "step", "wall", "CPU"]
    shown = [row.split() for row in rows[2:]]
    assert len(shown) == len(cells)  # one row per (skill, difficulty, round, step), not one per target
    for task, difficulty, round_, steps in both:
        assert [task, str(difficulty), "1%", "2%", str(round_), str(steps)] in [row[:6] for row in shown]


def test_a_run_in_progress_shows_its_phases(run_dir: Path, monkeypatch, capsys) -> None:
    finished = status_command.run_status

    def running(store):
        st = finished(store)
        st["complete"], st["stop_reason"] = False, None
        st["rounds"][-1]["phases"] = {**st["rounds"][-1]["phases"], "EVALUATE": False, "DECIDE": False}
        return st

    monkeypatch.setattr(status_command, "run_status", running)
    buffer = io.StringIO()
    monkeypatch.setattr(status_command, "out", Console(file=buffer, width=80))
    assert main(["status", str(run_dir)]) == 0
    lines = buffer.getvalue().splitlines()
    assert "not complete" in lines[0] and not lines[1].startswith("stop reason")
    rounds = _table(lines, "rounds")
    assert rounds[0].split()[:3] == ["round", "diff", "phases"]
    by_round = _rows(rounds[2:], rounds[0].index("held-out accuracy"))
    assert [cells[2] for cells, _ in by_round] == ["7/7", "5/7"]
    assert all(len(line) <= 80 for line in lines)


def test_accuracy_ranges() -> None:
    single = {"1": 1.0, "2": 1.0, "3": 0.996, "4": 0.22, "5": 0.0, "6": 0.0, "8": 0.0}
    assert accuracy_ranges(single) == ["1-3:100% 4:22% 5-6:0% 8:0%"]  # 8 is not next to 6: a group of its own
    mix = {"sort:2": 0.5, "add:1": 1.0, "add:2": 1.0, "sort:1": 1.0}
    assert accuracy_ranges(mix) == ["add 1-2:100%", "sort 1:100% 2:50%"]
    assert accuracy_ranges({}) == []


def test_reached_together_merges_targets_of_one_evaluation() -> None:
    def row(task: str, difficulty: int, target: float, round_: int, steps: int) -> dict:
        return {
            "task": task,
            "difficulty": difficulty,
            "target": target,
            "round": round_,
            "steps": steps,
            "seconds": 1.0 * steps,
            "cpu_seconds": 0.5 * steps,
            "accuracy": 0.95,
        }

    rows = [
        row("add", 6, 0.9, 1, 500),
        row("add", 5, 0.5, 0, 200),
        row("add", 6, 0.5, 1, 500),
        row("add", 5, 0.9, 2, 700),
    ]
    merged = reached_together(rows)
    assert [(r["difficulty"], r["round"], r["steps"], r["targets"]) for r in merged] == [
        (5, 0, 200, [0.5]),
        (6, 1, 500, [0.5, 0.9]),
        (5, 2, 700, [0.9]),
    ]
    assert merged[1]["seconds"] == 500.0 and "target" not in merged[1]
