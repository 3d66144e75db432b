"""The command line's shell: the typer app every command module registers on, the consoles (the only place output
goes), what a running command holds, and ``main``, which runs one command and turns its ending into an exit code
and at most one line on stderr.

A user error (``SelftaughtError``, or a bad argument) is one line and exit code 2; SIGINT / SIGTERM give one line
saying where the run stopped and how to resume it, and exit code 130 / 143. Whatever the ending, the stores a
command opened are checkpointed and closed and the run lock is released (``session``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable

import typer
from rich.console import Console

from selftaught.errors import SelftaughtError
from selftaught.run.loop import Loop

# Written to a file or a pipe, lines are left whole (Rich would wrap them at 80 columns and split paths): no line is
# this long, and tables are only as wide as their cells.
UNWRAPPED = 10_000

app = typer.Typer(
    help="selftaught: a model that teaches itself harder problems, round after round.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width on a terminal, and nowhere otherwise (unless COLUMNS says)."""
    made = Console(stderr=stderr)
    if made.is_terminal or "COLUMNS" in os.environ:
        return made
    return Console(stderr=stderr, width=UNWRAPPED, soft_wrap=True)


out = console()
err = console(stderr=True)


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, so no ``except Exception`` on the way swallows it; every
    transaction it passes through rolls back."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Session:
    """What the running command holds, for ``main`` to release at its end, however it ends: stores to checkpoint
    and close, the run lock; the loop, to say where an interrupt caught it."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.closers: list[Callable[[], object]] = []
        self.loop: Loop | None = None
        self.writing_report = False
        self.deferred: list[int] = []  # signals that arrived while closing
        self.closing = False

    def close(self) -> None:
        self.closing = True
        while self.closers:
            self.closers.pop()()

    def interrupted_line(self) -> str:
        loop = self.loop
        if loop is None:
            return "interrupted"
        if self.writing_report:
            where = "while writing the report"
        elif loop.at is not None:
            where = f"in round {loop.at[0]} {loop.at[1]}"
        else:
            where = "before the first phase"
        return f"interrupted {where}; resume with: selftaught resume {loop.run_dir}"


session = Session()


def _on_signal(signum: int, frame: object) -> None:
    if session.closing:  # the store is being checkpointed and the lock released: let that finish
        session.deferred.append(signum)
        return
    session.closing = True  # a second Ctrl-C must not cut the clean-up short either
    raise Interrupted(signum)


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit code: 0, 2 for a user error (one line on stderr), 130 / 143 when SIGINT /
    SIGTERM stopped it (one line saying where and how to resume). Whatever the ending, the stores it opened are
    checkpointed (``run.db`` alone holds the run) and closed and the run lock is released."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    session.reset()
    handlers = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            handlers[sig] = signal.signal(sig, _on_signal)
    except ValueError:  # not the main thread: signals stay as they were
        pass
    try:
        return _main(argv)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def _main(argv: list[str] | None) -> int:
    try:
        try:
            app(args=argv, standalone_mode=False)
        finally:
            session.close()
        if session.deferred:
            raise Interrupted(session.deferred[0])
    except Interrupted as e:
        err.print(session.interrupted_line(), markup=False, highlight=False, soft_wrap=True)
        return 128 + e.signum
    except SelftaughtError as e:
        err.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except typer.Abort:
        err.print("aborted")
        return 130
    except Exception as e:
        # Bad arguments (typer's usage errors carry format_message): one line, not a usage screen.
        if callable(getattr(e, "format_message", None)) and isinstance(getattr(e, "exit_code", None), int):
            err.print(f"error: {e.format_message()}", markup=False, highlight=False, soft_wrap=True)
            return 2
        raise
    return 0


def _entry() -> None:
    sys.exit(main())
