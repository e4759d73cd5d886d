"""Known answers for the MI lower bounds. Tolerances come from spreads measured over 5-10 data seeds (quoted)."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from barlow_speech.evaluation.information import (
    confidence_interval,
    infonce_information,
    infonce_loss,
    label_entropy,
    probe_information,
)


def gaussian_classes(n=600, dim=16, classes=4, separation=10.0, seed=0):
    """Class means `separation` apart (in noise units) plus unit noise; separation 0: labels independent of x."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    return separation * rng.normal(size=(classes, dim))[labels] + rng.normal(size=(n, dim)), labels


def noisy_views(n, dim, noise, seed, same_sample=True):
    """Pairs (s + noise, s' + noise) with s' = s (two views of one sample) or an independent draw."""
    rng = np.random.default_rng(seed)
    sample = rng.normal(size=(n, dim))
    other = sample if same_sample else rng.normal(size=(n, dim))
    return sample + noise * rng.normal(size=(n, dim)), other + noise * rng.normal(size=(n, dim))


def test_label_entropy_and_interval_have_their_closed_forms():
    assert label_entropy(["a", "b", "c", "d"]) == pytest.approx(math.log(4))
    assert label_entropy([1, 1, 1]) == 0.0
    low, high = confidence_interval([1.0, 2.0, 3.0], confidence=0.95)
    half = stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3)  # sample std of (1, 2, 3) is 1
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))


@pytest.mark.parametrize("data_seed", [0, 1])
def test_probe_bound_is_about_zero_for_labels_independent_of_the_embedding(data_seed):
    # n=600, 16 dims, 4 balanced classes (H(Y) = 1.39 nats), 5 splits. Measured over 5 data seeds: -0.003 +- 0.004,
    # worst -0.011 nats; tolerance 0.05 nats (3.6 % of H(Y)).
    x, y = gaussian_classes(separation=0.0, seed=data_seed)
    result = probe_information(x, y, seeds=range(5))
    assert abs(result["mutual_information_nats"]) < 0.05
    assert result["mutual_information_bits"] == pytest.approx(result["mutual_information_nats"] / math.log(2))


def test_probe_bound_reaches_the_label_entropy_for_separable_classes():
    # Same sizes, classes 10 noise units apart. Measured over 5 data seeds: H(Y) - bound = 0.0003 nats (spread of the
    # bound 0.0008, all of it H(Y) varying with the split); tolerance 1 % of H(Y). CE >= 0 caps every run at H(Y).
    x, y = gaussian_classes(separation=10.0)
    result = probe_information(x, y, seeds=range(5))
    entropy = float(np.mean(result["label_entropy_nats"]))
    assert result["mutual_information_nats"] > 0.99 * entropy
    assert all(run <= h for run, h in zip(result["runs_nats"], result["label_entropy_nats"]))
    low, high = result["interval_nats"]
    assert low <= result["mutual_information_nats"] <= high
    assert result["num_train"] + result["num_validation"] + result["num_test"] == len(y)


def test_probe_bound_matches_the_true_mutual_information_of_two_gaussians():
    # Y ~ Bernoulli(1/2), Z | Y ~ N(+-1, 1): the logistic posterior is exact, so the bound is tight. True I = 0.3368
    # nats (numerical integral); measured over 10 data seeds with n=2000: 0.333 +- 0.0095 (0.319..0.350).
    # Tolerance 0.05 nats (5 measured std).
    def posterior_entropy(z):
        p1, p0 = stats.norm.pdf(z, 1.0), stats.norm.pdf(z, -1.0)
        q = p1 / (p1 + p0)
        return 0.5 * (p1 + p0) * -(q * np.log(q) + (1 - q) * np.log(1 - q))

    true_information = math.log(2) - integrate.quad(posterior_entropy, -12, 12)[0]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    z = (2 * y - 1) + rng.normal(size=2000)
    result = probe_information(z[:, None], y)
    assert result["mutual_information_nats"] == pytest.approx(true_information, abs=0.05)


def test_probe_bound_on_principal_components_is_the_full_bound_when_they_span_the_train_rows():
    # 200 clips of 400 dims (more dims than the ~111 train rows), 4 weakly separated classes. Measured over 4 data
    # seeds: |bound on 150 PCs - full bound| <= 0.0006 nats (the per-seed CE within 0.0016: L-BFGS convergence), the
    # bound on 8 PCs 0.07-0.26 nats lower. Tolerance 0.01 nats.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    x = 0.1 * rng.normal(size=(4, 400))[y] + rng.normal(size=(200, 400))
    full, spanning, capped = (
        probe_information(x, y, seeds=range(3), max_iter=1000, feature_dims=dims) for dims in (None, 150, 8)
    )
    assert (
        full["feature_dims"] == 400 and spanning["feature_dims"] == full["num_train"] and capped["feature_dims"] == 8
    )
    assert spanning["mutual_information_nats"] == pytest.approx(full["mutual_information_nats"], abs=0.01)
    assert capped["mutual_information_nats"] < full["mutual_information_nats"] + 0.01  # a probe on less: still a bound


def test_probe_information_rejects_bad_inputs_naming_the_fix():
    x, y = gaussian_classes(n=60)
    with pytest.raises(ValueError, match="seeds=range"):
        probe_information(x, y, seeds=[0])
    with pytest.raises(ValueError, match="one per embedding row"):
        probe_information(x, y[:-1])
    with pytest.raises(ValueError, match=r"test_size=1\.5"):
        probe_information(x, y, test_size=1.5)
    with pytest.raises(ValueError, match=r"feature_dims=0 must be None \(every dimension\) or an int >= 1"):
        probe_information(x, y, feature_dims=0)


def test_infonce_loss_is_log_n_for_a_constant_critic_and_zero_for_a_perfect_one():
    assert infonce_loss(torch.zeros(8, 8)).item() == pytest.approx(math.log(8))
    assert infonce_loss(100.0 * torch.eye(8)).item() == pytest.approx(0.0, abs=1e-6)


def test_infonce_bound_is_higher_for_two_views_of_one_sample_than_for_independent_samples():
    # 2000 pairs of 64 dims, views = sample + unit noise (true I = 64 * 0.144 = 9.2 nats, above the cap log 600 =
    # 6.40). Measured over 4 seeds: 5.19 +- 0.04 nats for views of one sample, 0.000 for independent samples (the
    # early-stopped critic stays at W = 0). Tolerances: > 4 nats and |.| < 0.05 nats.
    same = infonce_information(*noisy_views(2000, 64, 1.0, seed=0))
    independent = infonce_information(*noisy_views(2000, 64, 1.0, seed=0, same_sample=False))
    assert same["mutual_information_nats"] > 4.0
    assert abs(independent["mutual_information_nats"]) < 0.05
    assert same["mutual_information_nats"] <= same["cap_nats"] == pytest.approx(math.log(600))
    assert (same["num_train"], same["num_test"], same["batch_size"], same["num_batches"]) == (1400, 600, 600, 1)


def test_infonce_bound_never_exceeds_its_cap_even_for_identical_views():
    # Identical views (no noise): measured 6.396 against the cap 6.397 (4 seeds, spread 1e-4). The bound is
    # log N - L_NCE with L_NCE >= 0; 1e-6 allows float32 rounding of the loss.
    for batch_size in (100, 600):
        result = infonce_information(*noisy_views(2000, 64, 0.0, seed=1), batch_size=batch_size)
        assert result["cap_nats"] == pytest.approx(math.log(batch_size))
        assert result["cap_nats"] - 0.05 < result["mutual_information_nats"] <= result["cap_nats"] + 1e-6
        assert result["num_batches"] == 600 // batch_size


def test_infonce_bound_stays_below_the_true_gaussian_mutual_information():
    # 3000 pairs of 8 dims, views = sample + unit noise: correlation 1/2 per dimension, true I = -8/2 log(3/4) = 1.151
    # nats (cap log 900 = 6.8). Measured over 3 seeds: 0.92..0.995 (std 0.03); asserted: 0.7 < estimate < 1.151.
    true_information = -8 / 2 * math.log(1 - 0.5**2)
    result = infonce_information(*noisy_views(3000, 8, 1.0, seed=2), seed=2)
    assert 0.7 < result["mutual_information_nats"] < true_information
    assert result["mutual_information_bits"] == pytest.approx(result["mutual_information_nats"] / math.log(2))


def test_infonce_learning_rate_grid_keeps_the_critic_that_validates_best_on_collinear_features():
    # 1000 pairs of 64 dims sharing 2 factors broadcast to every dimension (like pooled CNN channels) plus unit noise.
    # Measured over 2 seeds: 0.0000..0.0000013 nats with the single rate 0.5 (the critic overshoots, W ~ 0 is kept)
    # and 0.81..0.96 nats with the grid (0.5, 0.05), which keeps 0.05. Asserted: < 0.01 vs > 0.5 nats.
    rng = np.random.default_rng(0)
    factors, mixing = rng.normal(size=(1000, 2)), rng.normal(size=(2, 64))
    a, b = (factors @ mixing + rng.normal(size=(1000, 64)) for _ in range(2))
    single, grid = infonce_information(a, b), infonce_information(a, b, learning_rate=(0.5, 0.05))
    assert abs(single["mutual_information_nats"]) < 0.01 and single["learning_rate"] == 0.5
    assert grid["mutual_information_nats"] > 0.5 and grid["learning_rate"] == 0.05


def test_infonce_is_deterministic_given_a_seed():
    views = noisy_views(600, 32, 1.0, seed=3)
    first, second = infonce_information(*views, seed=5), infonce_information(*views, seed=5)
    assert first == second


def test_infonce_rejects_unpaired_views_and_an_oversized_batch():
    a, b = noisy_views(100, 8, 1.0, seed=0)
    with pytest.raises(ValueError, match="views_b must be a"):
        infonce_information(a, b[:-1])
    with pytest.raises(ValueError, match="pass a smaller batch_size"):
        infonce_information(a, b, batch_size=31)


def test_infonce_on_principal_components_keeps_a_low_rank_shared_signal_and_stays_zero_for_independent_views():
    # 2000 pairs of 512 dims: 8 shared factors mixed into every dimension, plus unit noise. Measured over 3 seeds
    # with the critic on the top 16 whitened principal components: 3.63..3.84 nats (every dimension: 3.56..3.86,
    # |difference| <= 0.10); independent views: |estimate| <= 0.007. Asserted: > 3.0, |difference| < 0.4, < 0.05.
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((8, 512))
    shared, other = rng.standard_normal((2, 2000, 8))
    a, b, c = ((s @ mix + rng.standard_normal((2000, 512))).astype(np.float32) for s in (shared, shared, other))
    reduced = infonce_information(a, b, critic_dims=16, learning_rate=(0.5, 0.05))
    full = infonce_information(a, b, critic_dims=None, learning_rate=(0.5, 0.05))
    independent = infonce_information(a, c, critic_dims=16, learning_rate=(0.5, 0.05))
    assert reduced["critic_dims"] == [16, 16] and full["critic_dims"] == [512, 512]
    assert reduced["mutual_information_nats"] > 3.0
    assert abs(reduced["mutual_information_nats"] - full["mutual_information_nats"]) < 0.4
    assert abs(independent["mutual_information_nats"]) < 0.05
