"""Evaluation tests run their tiny models on one intra-op thread."""

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """One intra-op thread: tiny convolutions on 2 shared cores run ~50x slower with two competing threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
