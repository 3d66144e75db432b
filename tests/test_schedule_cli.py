"""`selftaught schedules`: the listing, the plot it draws, one-line errors for bad values; and the plot function."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from selftaught.cli import app, main
from selftaught.errors import SelftaughtError
from selftaught.report.schedule_plot import MAX_POINTS, plot_schedules
from selftaught.training.schedules import SCHEDULES, Cosine, LinearDecay, StepDecay

from support import one_error_line

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


def is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > len(PNG_SIGNATURE) and path.read_bytes()[:8] == PNG_SIGNATURE


def test_listing_shows_every_schedule() -> None:
    result = runner.invoke(app, ["schedules"])
    assert result.exit_code == 0, result.output
    for name, cls in SCHEDULES.items():
        assert name in result.output
        assert cls.__doc__.strip().split()[0] in result.output  # the description's first word


def test_plot_writes_a_png(tmp_path) -> None:
    path = tmp_path / "plots" / "schedules.png"  # the folder is created
    result = runner.invoke(app, ["schedules", "--plot", str(path), "--steps", "300", "--warmup", "0.05"])
    assert result.exit_code == 0, result.output
    assert is_png(path)
    assert not path.with_name(path.name + ".tmp").exists()
    assert "wrote" in result.output


@pytest.mark.parametrize("steps", ["1", "2", "20000"])
def test_plot_of_very_short_and_long_rounds(tmp_path, steps: str) -> None:
    path = tmp_path / f"s{steps}.png"
    result = runner.invoke(app, ["schedules", "--plot", str(path), "--steps", steps])
    assert result.exit_code == 0, result.output
    assert is_png(path)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--steps", "0"], "--steps 0"),
        (["--steps", "-3", "--plot", "x.png"], "--steps -3"),
        (["--warmup", "1.0", "--plot", "x.png"], "--warmup 1.0"),
        (["--warmup", "-0.1"], "--warmup -0.1"),
        (["--warmup", "0.9", "--plot", "x.png"], "wsd"),  # warmup 0.9 + the WSD decay phase 0.2 overfill the round
    ],
)
def test_bad_values_give_one_line_and_exit_code_2(tmp_path, monkeypatch, capsys, args, names) -> None:
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    code = main(["schedules", *args])
    captured = capsys.readouterr()
    assert code == 2
    assert names in one_error_line(captured.err)
    assert captured.out == ""  # nothing listed before the error
    assert not (tmp_path / "x.png").exists()


def test_bad_steps_raise_the_user_error_through_the_app() -> None:
    result = runner.invoke(app, ["schedules", "--steps", "0"])
    assert isinstance(result.exception, SelftaughtError)


def test_plot_schedules_directly(tmp_path) -> None:
    path = plot_schedules({"linear": LinearDecay(0.1), "cosine": Cosine(), "step": StepDecay()}, 50, tmp_path / "a.png")
    assert path == tmp_path / "a.png"
    assert is_png(path)
    long = plot_schedules({"linear": LinearDecay()}, 10 * MAX_POINTS + 7, tmp_path / "long.png")
    assert is_png(long)


@pytest.mark.parametrize(
    ("schedules", "total", "names"), [({"linear": LinearDecay()}, 0, "total"), ({}, 10, "schedules")]
)
def test_plot_schedules_bad_arguments(tmp_path, schedules, total, names) -> None:
    with pytest.raises(ValueError, match=names):
        plot_schedules(schedules, total, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
