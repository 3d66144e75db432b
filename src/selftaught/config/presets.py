"""The built-in presets: TOML files in ``selftaught/presets``, each opening with comment lines that describe it."""

from __future__ import annotations

from importlib import resources

from selftaught.errors import SelftaughtError

DEFAULT_PRESET = "quickstart"


def preset_names() -> list[str]:
    files = resources.files("selftaught.presets").iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise SelftaughtError(f"unknown preset {name!r}; known presets: {', '.join(preset_names())}")
    return resources.files("selftaught.presets").joinpath(f"{name}.toml").read_text()


def preset_description(name: str) -> str:
    """The comment lines the preset's file opens with, whole, as one paragraph."""
    lines = []
    for line in preset_text(name).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").strip())
    return " ".join(line for line in lines if line)
