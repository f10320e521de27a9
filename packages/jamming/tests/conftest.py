import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The nets are tiny: one thread avoids oversubscription on a shared 2-core machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
