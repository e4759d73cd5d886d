import numpy as np
import pytest

from barlow_speech.data.fractions import label_fraction_indices
from barlow_speech.evaluation.probes import PROBE_SCHEMA, linear_probe, logmel_stats_features, sklearn_probe_reference

FRACTIONS = (0.1, 0.5, 1.0)
GRID = dict(weight_decays=(1e-2, 1e-1, 1.0))  # regularised enough that 300 Adam steps reach the optimum


def make_task(n=1000, dim=16, classes=4, seed=0):
    """Gaussian classes with overlapping clusters, an offset and unequal feature scales (so standardising matters)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(size=(classes, dim))[labels] + 1.5 * rng.normal(size=(n, dim)) + 3.0
    x = x * rng.uniform(0.5, 4.0, dim)
    return (x[:400], labels[:400]), (x[400:550], labels[400:550]), (x[550:], labels[550:])  # 400 train / 150 validation / 450 test


def run_both(seeds=range(2)):
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    ours = linear_probe(xt, yt, xv, yv, xs, ys, fractions=FRACTIONS, seeds=seeds, learning_rates=(0.05,), steps=300, device="cpu", **GRID)
    reference = sklearn_probe_reference(xt, yt, xv, yv, xs, ys, fractions=FRACTIONS, seeds=seeds, **GRID)
    return ours, reference


def test_vectorised_probe_agrees_with_sklearn_within_one_accuracy_point():
    ours, reference = run_both()
    for key in ("0.1", "0.5", "1"):
        assert abs(ours["fractions"][key]["mean"] - reference["fractions"][key]["mean"]) <= 0.01
        assert ours["fractions"][key]["mean"] > 0.5  # the task is learnable (chance = 0.25)


def test_probe_result_holds_every_run_its_hyper_parameters_and_index_lists():
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    result = linear_probe(xt, yt, xv, yv, xs, ys, fractions=(0.1, 1.0), seeds=[3, 7], learning_rates=(0.01, 0.1), weight_decays=(0.0, 0.01), steps=20, model="m", task="t")
    assert result["schema"] == PROBE_SCHEMA and result["model"] == "m" and result["task"] == "t"
    entry = result["fractions"]["0.1"]
    assert entry["seeds"] == [3, 7] and len(entry["runs"]) == 2
    assert entry["mean"] == pytest.approx(np.mean(entry["runs"])) and entry["std"] == pytest.approx(np.std(entry["runs"]))
    assert set(entry["learning_rates"]) <= {0.01, 0.1} and set(entry["weight_decays"]) <= {0.0, 0.01}
    expected = label_fraction_indices(np.asarray(yt), (0.1, 1.0), [3, 7])
    stored = {(s["fraction"], s["seed"]): s["indices"] for s in result["index_lists"]["subsets"]}
    assert stored[(0.1, 7)] == expected[(0.1, 7)].tolist()


def test_batching_runs_does_not_change_results():
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    kwargs = dict(fractions=(0.1, 0.5), seeds=range(3), learning_rates=(0.05,), weight_decays=(1e-2,), steps=30)
    whole = linear_probe(xt, yt, xv, yv, xs, ys, **kwargs)
    chunked = linear_probe(xt, yt, xv, yv, xs, ys, runs_per_batch=1, **kwargs)
    for key in whole["fractions"]:
        assert np.allclose(whole["fractions"][key]["runs"], chunked["fractions"][key]["runs"])


def test_a_single_class_or_mismatched_shapes_are_clear_errors():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match=">= 2 classes"):
        linear_probe(x, np.zeros(10), x, np.zeros(10), x, np.zeros(10))
    with pytest.raises(ValueError, match="one label per row"):
        linear_probe(x, np.zeros(9), x, np.zeros(10), x, np.zeros(10))


def make_tones(freqs=(300.0, 3000.0), seconds=(0.5, 1.0), sr=16000):
    t = [np.arange(int(s * sr)) / sr for s in seconds]
    return [np.sin(2 * np.pi * f * tt).astype(np.float32) for f, tt in zip(freqs, t)]


def test_logmel_stats_features_have_mean_and_std_per_mel_band_and_ignore_padding():
    clips = make_tones()
    features = logmel_stats_features(clips, 16000, n_mels=32, batch_size=2)
    assert features.shape == (2, 64)
    low_band, high_band = features[0, :32].argmax(), features[1, :32].argmax()
    assert low_band < high_band  # a 300 Hz tone peaks in a lower mel band than a 3 kHz tone
    alone = logmel_stats_features(clips[:1], 16000, n_mels=32)
    assert np.allclose(alone, features[:1], atol=1e-4)  # batching with a longer clip (padding) changes nothing


def test_logmel_stats_features_reject_stereo_and_empty_input():
    with pytest.raises(ValueError, match="mono"):
        logmel_stats_features([np.zeros((2, 16000))])
    with pytest.raises(ValueError, match="empty"):
        logmel_stats_features([])
