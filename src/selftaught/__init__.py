"""selftaught: closed-loop self-improving training."""

__version__ = "0.1.0"

# Installs the finder that lets plug-ins named by file path be imported by name in any process (see registry).
from selftaught import registry as _registry  # noqa: E402, F401
