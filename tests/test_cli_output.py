"""What the command line writes: whole lines when not on a terminal, whole descriptions in the listings, and no
file left behind by a plot that failed."""

from __future__ import annotations

import io
import os
import pathlib
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import selftaught.cli.shell as shell
import selftaught.cli.tools as tools
from selftaught.cli import main
from selftaught.config import preset_description, preset_names, preset_text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


LONG = "/".join(["a-rather-long-folder-name"] * 8) + "/run.db"  # 207 characters, as a path can be


def test_a_console_wraps_on_a_terminal_only(monkeypatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    for stream in ("stdout", "stderr"):
        monkeypatch.setattr(sys, stream, io.StringIO())
    to_file, to_file_err = shell.console(), shell.console(stderr=True)
    to_file.print(f"store {LONG}")
    to_file_err.print(f"error: {LONG}")
    assert sys.stdout.getvalue() == f"store {LONG}\n"
    assert sys.stderr.getvalue() == f"error: {LONG}\n"

    monkeypatch.setattr(sys, "stdout", _Terminal())
    on_terminal = shell.console()
    assert on_terminal.is_terminal
    on_terminal.print(f"store {LONG}")
    assert len(sys.stdout.getvalue().splitlines()) > 1  # wrapped at the terminal's width


def test_columns_still_sets_the_width_of_a_file(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert shell.console().width == 60


def test_output_to_a_file_keeps_long_paths_on_one_line(tmp_path: Path) -> None:
    """The whole program, its output redirected to a file: the line naming a long path is not split."""
    plot = tmp_path.joinpath(*["a-rather-long-folder-name"] * 4, "schedules.png")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    log = tmp_path / "out.txt"
    with log.open("w") as f:
        done = subprocess.run(
            [sys.executable, "-m", "selftaught", "schedules", "--plot", str(plot), "--steps", "20"],
            stdout=f,
            stderr=subprocess.PIPE,
            env=env,
            timeout=300,
        )
    assert done.returncode == 0, done.stderr
    wrote = [line for line in log.read_text().splitlines() if line.startswith("wrote ")]
    assert len(wrote) == 1 and wrote[0].startswith(f"wrote {plot} (T = 20 steps")
    assert wrote[0].endswith("1/sqrt(t + 10))")


def _cells(text: str) -> list[tuple[str, str]]:
    """A two-column listing's rows as (name, description), a description's wrapped lines joined."""
    rows: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        parts = line.split("│")
        if len(parts) != 4:
            continue
        name, description = parts[1].strip(), parts[2].strip()
        if name:
            rows.append((name, [description]))
        elif rows:
            rows[-1][1].append(description)
    return [(name, " ".join(d for d in lines if d)) for name, lines in rows]  # the header is drawn with ┃


def test_presets_show_their_descriptions_whole(monkeypatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(tools, "out", Console(file=buffer, width=80))
    assert main(["presets"]) == 0
    shown = dict(_cells(buffer.getvalue()))
    assert list(shown) == preset_names()
    for name in preset_names():
        assert shown[name] == preset_description(name)
    # the description is every comment line the preset's file opens with
    climb = [line.lstrip("# ") for line in preset_text("code-climb").splitlines()[:3]]
    assert all(line.startswith("#") for line in preset_text("code-climb").splitlines()[:3])
    assert preset_description("code-climb") == " ".join(climb)
    assert shown["code-climb"].endswith("and replay rare solves more often.")


def test_a_plot_into_a_directory_is_one_line_and_leaves_nothing(tmp_path: Path, capsys) -> None:
    target = tmp_path / "plots"
    target.mkdir()
    capsys.readouterr()
    assert main(["schedules", "--plot", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().startswith("error: --plot") and "directory" in captured.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plots"] and not any(target.iterdir())


def test_a_failed_plot_leaves_no_temporary_file(tmp_path: Path, monkeypatch, capsys) -> None:
    def no_space(self: Path, target: object) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pathlib.Path, "replace", no_space)  # the rename after the PNG was written fails
    capsys.readouterr()
    assert main(["schedules", "--plot", str(tmp_path / "s.png"), "--steps", "20"]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["tasks", "teachers", "schedules"])
def test_listings_are_not_cut_short(command: str, monkeypatch) -> None:
    buffer = io.StringIO()
    monkeypatch.setattr(tools, "out", Console(file=buffer, width=50))
    assert main([command]) == 0
    assert "…" not in buffer.getvalue()
