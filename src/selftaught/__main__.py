from selftaught.cli import _entry

_entry()
