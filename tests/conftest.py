"""Shared test set-up: no network, a private HF cache, deterministic seeds (factories live in tests/factories.py)."""

import os
import tempfile

# Set, not defaulted: the suite must behave the same whatever the caller's shell holds (HF_HUB_OFFLINE=0, a
# shared HF_HUB_CACHE, ...). Tests that talk to the local Hub endpoint build their subprocess's environment
# themselves (tests/test_hub.py: isolated_env).
_CACHE = tempfile.mkdtemp(prefix="barlow-speech-tests-")
for _name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "HF_DATASETS_CACHE", "HF_XET_CACHE"):
    os.environ.pop(_name, None)  # each would override the private HF_HOME below
os.environ.update(
    HF_HUB_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    HF_HOME=_CACHE,
    HF_MODULES_CACHE=os.path.join(_CACHE, "modules"),
)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402  (after the environment above)
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)
