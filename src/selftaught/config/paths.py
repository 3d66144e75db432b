"""A plug-in's ``file.py:Name`` in a config is taken relative to the folder of the file that gives it (the working
directory for a ``--set`` override) and made absolute where it enters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

_PLUGIN_FILE = re.compile(r"^(?P<file>[^:]+\.py):(?P<attr>[A-Za-z_]\w*)$")


def anchor_plugins(value: Any, folder: Path) -> Any:
    """Every ``file.py:Name`` in ``value`` with a relative path made absolute against ``folder`` (the config's)."""
    if isinstance(value, dict):
        return {k: anchor_plugins(v, folder) for k, v in value.items()}
    if isinstance(value, list):
        return [anchor_plugins(v, folder) for v in value]
    if isinstance(value, str) and (m := _PLUGIN_FILE.match(value)) and not Path(m["file"]).expanduser().is_absolute():
        return f"{(folder / m['file']).resolve()}:{m['attr']}"
    return value
