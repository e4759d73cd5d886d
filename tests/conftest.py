"""Shared test set-up: no network, a private HF cache, deterministic seeds (factories live in tests/factories.py)."""

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
_CACHE = tempfile.mkdtemp(prefix="barlow-speech-tests-")
os.environ.setdefault("HF_HOME", _CACHE)
os.environ.setdefault("HF_MODULES_CACHE", os.path.join(_CACHE, "modules"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
