"""selftaught: closed-loop self-improving training."""

__version__ = "0.1.0"
