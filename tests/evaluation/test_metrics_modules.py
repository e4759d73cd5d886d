from pathlib import Path

import evaluate
import numpy as np
import pytest

from barlow_speech.evaluation.disentanglement import disentanglement_runs
from barlow_speech.evaluation.probes import linear_probe
from barlow_speech.evaluation.similarity import linear_cka, pwcca

METRICS_DIR = Path(__file__).resolve().parents[2] / "barlow_speech" / "metrics"


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_EVALUATE_OFFLINE", "1")
    monkeypatch.setattr(evaluate.config, "HF_EVALUATE_OFFLINE", True, raising=False)
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))


def make_embeddings(n=300, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    x = (rng.normal(size=(3, dim))[labels] + rng.normal(size=(n, dim))).astype(np.float32)
    splits = np.array(["train"] * 180 + ["validation"] * 60 + ["test"] * 60)
    return x, labels, splits


def test_linear_probe_module_loads_offline_and_matches_the_function():
    x, y, splits = make_embeddings()
    module = evaluate.load(str(METRICS_DIR / "linear_probe"))
    kwargs = dict(fractions=[0.1, 1.0], seeds=[0, 1], weight_decays=[0.01], steps=30, device="cpu")
    result = module.compute(embeddings=x.tolist(), labels=y.tolist(), splits=splits.tolist(), **kwargs)
    tr, va, te = (splits == s for s in ("train", "validation", "test"))
    expected = linear_probe(x[tr], y[tr], x[va], y[va], x[te], y[te], **kwargs)
    assert result["fractions"] == expected["fractions"]
    assert result["index_lists"] == expected["index_lists"]


def test_disentanglement_module_loads_offline_and_matches_the_function():
    rng = np.random.default_rng(1)
    factors = np.stack([rng.integers(0, 2, 400), rng.integers(0, 4, 400)], axis=1)
    latents = np.concatenate(
        [factors + 0.1 * rng.normal(size=factors.shape), rng.normal(size=(400, 2))], axis=1
    ).astype(np.float32)
    module = evaluate.load(str(METRICS_DIR / "disentanglement"))
    result = module.compute(latents=latents.tolist(), factors=factors.tolist(), n_runs=3, sample_size=200, seed=0)
    expected = disentanglement_runs(latents.astype(np.float64), factors, n_runs=3, sample_size=200, seed=0)
    assert result == expected
    assert result["metrics"]["mig"]["mean"] > 0.5


def test_representation_similarity_module_loads_offline_and_matches_the_functions():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 6)).astype(np.float32)
    b = np.concatenate([a @ rng.normal(size=(6, 6)), rng.normal(size=(300, 3))], axis=1).astype(np.float32)
    module = evaluate.load(str(METRICS_DIR / "representation_similarity"))
    result = module.compute(representations_a=a.tolist(), representations_b=b.tolist())
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert result == {"linear_cka": linear_cka(a64, b64), "pwcca": pwcca(a64, b64), "num_samples": 300}
    assert result["pwcca"] > 0.99  # b holds an invertible map of a
    only_cka = module.compute(representations_a=a.tolist(), representations_b=b.tolist(), measures=["linear_cka"])
    assert set(only_cka) == {"linear_cka", "num_samples"}
    with pytest.raises(ValueError, match="choose from"):
        module.compute(representations_a=a.tolist(), representations_b=b.tolist(), measures=["svcca"])
