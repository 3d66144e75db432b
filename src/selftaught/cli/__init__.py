"""The command line: the only code that talks to the terminal.

Each group of commands is a module beside its peers, registering its commands on the one typer app in ``shell``
(which also holds the consoles and ``main``, the one place errors become one line and an exit code); no command
module imports another:

- ``run``: run, resume
- ``inspect``: status, report, export
- ``tools``: tasks, teachers, presets, schedules
- ``experiments``: sweep, compare

``progress`` is the live display ``run`` and ``resume`` attach to the loop.
"""

from __future__ import annotations

# Each module registers its commands on app when imported; --help lists them in this order.
# isort: off
from selftaught.cli import run  # noqa: F401
from selftaught.cli import inspect  # noqa: F401
from selftaught.cli import tools  # noqa: F401
from selftaught.cli import experiments  # noqa: F401

# isort: on
from selftaught.cli.shell import Interrupted, _entry, app, err, main, out

__all__ = ["Interrupted", "_entry", "app", "err", "main", "out"]
