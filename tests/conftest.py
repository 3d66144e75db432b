import os

import pytest
import torch

# Two cores: keep the suite's own threads from fighting each other, and results repeatable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture
def cli():
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from selftaught.cli import main

    def run(*args: str, capsys=None):
        return main(list(args))

    return run
