import sys

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from barlow_speech.data.fractions import label_fraction_indices
from barlow_speech.evaluation import probes, solver
from barlow_speech.evaluation.baselines import logmel_stats_features
from barlow_speech.evaluation.probes import linear_probe, probe_layers
from barlow_speech.evaluation.solver import fit_logistic_heads
from barlow_speech.results import PROBE_SCHEMA
from tests.test_benchmarks import BENCHMARKS

sys.path.insert(0, str(BENCHMARKS))  # benchmarks/sklearn_probe.py: the scikit-learn reference of the protocol
from sklearn_probe import sklearn_probe_reference  # noqa: E402

FRACTIONS = (0.1, 0.5, 1.0)
GRID = dict(weight_decays=(1e-3, 1e-2, 1e-1, 1.0))


def make_task(n=1000, dim=16, classes=4, seed=0):
    """Gaussian classes with overlapping clusters, an offset and unequal feature scales (so standardising matters)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    x = rng.normal(size=(classes, dim))[labels] + 1.5 * rng.normal(size=(n, dim)) + 3.0
    x = x * rng.uniform(0.5, 4.0, dim)
    return (
        (x[:400], labels[:400]),
        (x[400:550], labels[400:550]),
        (x[550:], labels[550:]),
    )  # 400 train / 150 validation / 450 test


def run_both(classes, seeds=range(2)):
    (xt, yt), (xv, yv), (xs, ys) = make_task(classes=classes)
    ours = linear_probe(xt, yt, xv, yv, xs, ys, fractions=FRACTIONS, seeds=seeds, steps=300, device="cpu", **GRID)
    reference = sklearn_probe_reference(xt, yt, xv, yv, xs, ys, fractions=FRACTIONS, seeds=seeds, **GRID)
    return ours, reference


@pytest.mark.parametrize("classes", [2, 4])
def test_vectorised_probe_agrees_with_sklearn_within_one_accuracy_point(classes):
    ours, reference = run_both(classes)
    for key in ("0.1", "0.5", "1"):
        assert abs(ours["fractions"][key]["mean"] - reference["fractions"][key]["mean"]) <= 0.01
        assert ours["fractions"][key]["mean"] > 1.5 / classes  # the task is learnable
    assert ours["probe"]["optimizer"] == "lbfgs_batched" and 0 < ours["probe"]["iterations"] < 300  # converged early


def sklearn_heads(x, y, decays):
    """sklearn's solution `(K, dim + 1, C')` of every weight decay, bias last (C' = 1 for a binary task)."""
    heads = []
    for decay in decays:
        with threadpool_limits(1):  # BLAS threads only slow these small fits down
            fit = LogisticRegression(C=1.0 / (decay * len(y)), tol=1e-7, max_iter=1000).fit(x, y)
        heads.append(np.concatenate([fit.coef_.T, fit.intercept_[None]], axis=0))
    return np.stack(heads)


@pytest.mark.parametrize("classes", [2, 5])
def test_batched_heads_reach_sklearns_optimum_of_each_weight_decay(classes):
    (x, y), _, _ = make_task(classes=classes)
    x = probes.standardize(x)[0]
    decays = (1e-2, 1e-1, 1.0)
    runs = [np.arange(0, 200), np.arange(200, 400)]  # two runs with different subsets, solved in one batch
    weights, biases, _ = fit_logistic_heads(
        torch.as_tensor(np.stack([x[r] for r in runs])),
        torch.as_tensor(np.stack([y[r] for r in runs])),
        decays,
        classes,
        max_iter=500,
        tol=1e-6,
    )
    for r, rows in enumerate(runs):
        expected = sklearn_heads(x[rows], y[rows], decays)
        ours = torch.cat([weights[r], biases[r][None]]).permute(1, 0, 2).numpy()  # (K, dim + 1, C)
        if classes == 2:  # ours holds (0, z): the binomial logit is the second column
            assert np.all(ours[..., 0] == 0)
            ours = ours[..., 1:]
        else:  # sklearn's multinomial solution is the symmetric one (its columns sum to 0), as ours
            assert np.allclose(ours.sum(-1), 0, atol=1e-3)
        assert np.allclose(ours, expected, atol=1e-3), np.abs(ours - expected).max()


@pytest.mark.parametrize("classes", [2, 5])
def test_wide_features_are_solved_in_their_row_space_to_the_same_heads(classes):
    """Subsets far smaller than dim: the row-space solve gives the heads of the solve in dim coordinates and of
    sklearn, in about as many iterations (the same iterates in exact arithmetic)."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, classes, (2, 40))
    x = rng.normal(size=(classes, 200))[y] + 2.0 * rng.normal(size=(2, 40, 200))  # 2 runs, 40 rows, 200 dims
    x_runs, y_runs, decays = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y), (0.3, 1.0, 3.0)
    weights, biases, iterations = fit_logistic_heads(x_runs, y_runs, decays, classes, max_iter=500)
    direct_weights, direct_biases, direct_iterations = fit_logistic_heads(
        x_runs, y_runs, decays, classes, max_iter=500, row_space=False
    )
    # never fewer in exact arithmetic (the stopping bound), a few more (measured: 0-3); float32 may move the stop
    assert direct_iterations - 1 <= iterations <= 1.2 * direct_iterations + 3 and direct_iterations < 500

    def probabilities(w, b, r):  # (K, rows, C) class probabilities of run r's rows
        return torch.softmax(torch.einsum("nd,dkc->knc", x_runs[r], w[r]) + b[r][:, None], dim=-1).numpy()

    # measured over 6 data seeds: weights <= 2e-4 apart, probabilities <= 3e-4 (biases alone are flat directions)
    assert torch.allclose(weights, direct_weights, atol=2e-3)
    for r in range(2):
        reference = np.stack(
            [
                LogisticRegression(C=1.0 / (decay * len(y[r])), tol=1e-8, max_iter=2000)
                .fit(x[r], y[r])
                .predict_proba(x[r])
                for decay in decays
            ]
        )
        assert np.abs(probabilities(weights, biases, r) - probabilities(direct_weights, direct_biases, r)).max() < 3e-3
        assert np.abs(probabilities(weights, biases, r) - reference).max() < 3e-3


def test_a_head_solved_alongside_others_equals_the_head_solved_alone():
    (x, y), _, _ = make_task()
    x = torch.as_tensor(probes.standardize(x)[0])
    both, _, _ = fit_logistic_heads(
        torch.stack([x[:100], x[100:200]]),
        torch.as_tensor(np.stack([y[:100], y[100:200]])),
        (1e-3, 1.0),
        4,
        max_iter=100,
    )
    alone, _, _ = fit_logistic_heads(x[None, :100], torch.as_tensor(y[None, :100]), (1e-3,), 4, max_iter=100)
    assert torch.allclose(both[0, :, :1], alone, atol=1e-5)  # the fast-converging (decay 1.0) head does not change it


def test_probe_result_holds_every_run_its_hyper_parameters_and_index_lists():
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    result = linear_probe(
        xt,
        yt,
        xv,
        yv,
        xs,
        ys,
        fractions=(0.1, 1.0),
        seeds=[3, 7],
        weight_decays=(0.0, 0.01),
        steps=20,
        model="m",
        task="t",
    )
    assert result["schema"] == PROBE_SCHEMA and result["model"] == "m" and result["task"] == "t"
    entry = result["fractions"]["0.1"]
    assert entry["seeds"] == [3, 7] and len(entry["runs"]) == 2
    assert entry["mean"] == pytest.approx(np.mean(entry["runs"])) and entry["std"] == pytest.approx(
        np.std(entry["runs"])
    )
    assert "learning_rates" not in entry and set(entry["weight_decays"]) <= {0.0, 0.01}  # no learning rate in L-BFGS
    assert result["probe"]["weight_decays"] == [0.0, 0.01] and result["probe"]["steps"] == 20
    expected = label_fraction_indices(np.asarray(yt), (0.1, 1.0), [3, 7])
    stored = {(s["fraction"], s["seed"]): s["indices"] for s in result["index_lists"]["subsets"]}
    assert stored[(0.1, 7)] == expected[(0.1, 7)].tolist()


def test_batching_runs_does_not_change_results():
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    kwargs = dict(fractions=(0.1, 0.5), seeds=range(3), weight_decays=(1e-2,), steps=30)
    whole = linear_probe(xt, yt, xv, yv, xs, ys, **kwargs)
    chunked = linear_probe(xt, yt, xv, yv, xs, ys, runs_per_batch=1, **kwargs)
    for key in whole["fractions"]:
        assert np.allclose(whole["fractions"][key]["runs"], chunked["fractions"][key]["runs"])


def test_memory_budget_splits_runs_into_batches():
    per_run = solver.runs_that_fit(100, 16, 4, 10, budget=2**40)
    assert solver.runs_that_fit(100, 16, 4, 10, budget=2**40 // per_run * 3) == 3  # budget of 3 runs' state
    assert solver.runs_that_fit(100, 16, 4, 10, budget=1) == 1  # never fewer than one run


def test_small_cpu_probes_run_on_one_thread_and_restore_the_thread_count(monkeypatch):
    seen = []
    solve = solver._lbfgs
    monkeypatch.setattr(solver, "_lbfgs", lambda *args: (seen.append(torch.get_num_threads()), solve(*args))[1])
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    before = torch.get_num_threads()
    linear_probe(xt, yt, xv, yv, xs, ys, fractions=(0.5,), seeds=[0], weight_decays=(1e-2,), steps=5, device="cpu")
    assert seen == [1] and torch.get_num_threads() == before


def test_a_single_class_or_mismatched_shapes_are_clear_errors():
    x = np.zeros((10, 4))
    with pytest.raises(ValueError, match=">= 2 classes"):
        linear_probe(x, np.zeros(10), x, np.zeros(10), x, np.zeros(10))
    with pytest.raises(ValueError, match="one label per row"):
        linear_probe(x, np.zeros(9), x, np.zeros(10), x, np.zeros(10))
    with pytest.raises(ValueError, match="weight_decays"):
        linear_probe(x, np.arange(10) % 2, x, np.zeros(10), x, np.zeros(10), weight_decays=(-1e-2,))


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


def test_probe_layers_chooses_the_layer_on_validation_at_full_labels_and_runs_the_protocol_on_it():
    rng = np.random.default_rng(0)
    labels = [rng.integers(0, 3, n) for n in (300, 150, 150)]
    noise = [rng.standard_normal((len(y), 8)).astype(np.float32) for y in labels]
    informative = [np.eye(3, 8, dtype=np.float32)[y] * 3 + x for y, x in zip(labels, noise)]
    result = probe_layers(
        [tuple(noise), tuple(informative)],
        *labels,
        layer_names=["stem", "stage1"],
        fractions=(0.5, 1.0),
        seeds=range(2),
        task="toy",
    )
    assert result["layer"] == "stage1"
    assert [entry["layer"] for entry in result["layers"]] == ["stem", "stage1"]
    assert result["layers"][1]["test"]["1"] > 0.9 > 0.5 > result["layers"][0]["test"]["1"]
    assert result["fractions"]["1"]["mean"] == result["layers"][1]["test"]["1"]
    # every layer is screened by one run at the largest fraction; only the chosen one gets every fraction and seed
    assert result["layer_selection"] == {"fraction": 1.0, "seed": 0}
    assert all(set(entry["test"]) == {"1"} for entry in result["layers"])
    assert len(result["fractions"]["0.5"]["runs"]) == 2


@pytest.mark.parametrize("fractions", [(0.5, 1.0), (0.3, 0.6)])
def test_probe_layers_reuses_the_screening_run_and_equals_the_protocol_run_alone(monkeypatch, fractions):
    """The chosen layer's runs with the screening run's label subset (every seed at 1.0; the first seed below) are
    not solved again, and the result is the one `linear_probe` gives on that layer alone."""
    (xt, yt), (xv, yv), (xs, ys) = make_task(dim=40)
    layers = [(xt[:, :20], xv[:, :20], xs[:, :20]), (xt, xv, xs)]
    kwargs = dict(fractions=fractions, seeds=range(3), steps=50, task="toy")
    solve, sizes = probes.fit_logistic_heads, []
    monkeypatch.setattr(
        probes, "fit_logistic_heads", lambda x, *a, **k: (sizes.append(x.shape[:2]), solve(x, *a, **k))[1]
    )
    result = probe_layers(layers, yt, yv, ys, **kwargs)
    largest = len(result["index_lists"]["subsets"][-1]["indices"])  # the largest fraction's subset size
    assert sizes[: len(layers)] == [(1, largest)] * len(layers)  # screening: one run per layer
    # the protocol solves 3 seeds of the smaller fraction and, of the largest, the seeds whose subset is not the
    # screened one: none at 1.0 (every seed's subset is the whole split), seeds 1 and 2 below it
    assert sum(runs for runs, _ in sizes[len(layers) :]) == 3 + (0 if max(fractions) == 1.0 else 2)
    alone = linear_probe(*(x for split in zip(layers[result["layer"]], (yt, yv, ys)) for x in split), **kwargs)
    for key, entry in alone["fractions"].items():
        assert result["fractions"][key]["runs"] == pytest.approx(entry["runs"], abs=1e-6)
        assert result["fractions"][key]["weight_decays"] == entry["weight_decays"]
    assert result["index_lists"] == alone["index_lists"]


def test_a_solved_run_with_another_label_subset_is_solved_again():
    (xt, yt), (xv, yv), (xs, ys) = make_task()
    kwargs = dict(fractions=(0.5,), seeds=[0], weight_decays=(1e-2,), steps=30)
    fresh = linear_probe(xt, yt, xv, yv, xs, ys, **kwargs)
    subset = np.asarray(fresh["index_lists"]["subsets"][0]["indices"])
    other = np.setdiff1d(np.arange(len(yt)), subset)[: len(subset)]  # as many rows, not the same ones
    stale = {"indices": other, "test": -1.0, "validation": -1.0, "weight_decay": 1e-2}
    again = linear_probe(xt, yt, xv, yv, xs, ys, solved_runs={(0.5, 0): stale}, **kwargs)
    assert again["fractions"]["0.5"]["runs"] == fresh["fractions"]["0.5"]["runs"] != [-1.0]
