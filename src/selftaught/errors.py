"""The one exception type for user errors (bad config, wrong path, unknown name, corrupt file).

The CLI turns it into a single line on stderr and exit code 2; anything else is a bug and keeps its traceback.
"""


class SelftaughtError(Exception):
    """A problem with what the user asked for, stated in one line."""
