import os

import pytest
import torch

# Two cores: keep the suite's own threads from fighting each other, and results repeatable.
torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: extra threads only add contention on a busy 2-core machine. Restored after the module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def single_thread():
    """One thread for one test: a run killed and resumed in another process must compute bit for bit as the
    reference did, and a parallel reduction's split can vary with load. Restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
