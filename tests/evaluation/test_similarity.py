"""Known answers for linear CKA and PWCCA. Tolerances come from spreads measured over 10 data seeds (quoted)."""

import numpy as np
import pytest
from scipy.stats import ortho_group

from barlow_speech.evaluation.similarity import canonical_correlations, linear_cka, pwcca, similarity_matrix


def representation(n=2000, dim=32, seed=0):
    """Gaussian features with unequal scales, so a measure that ignored scaling would show it."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim)) * rng.uniform(0.5, 2.0, dim)


@pytest.mark.parametrize("seed", [0, 1])
def test_pwcca_of_an_invertible_linear_transform_is_one(seed):
    # n=2000, 32 dims, a random Gaussian (invertible) map plus a shift. Measured: 1 - 2e-16 at worst; tolerance 1e-9.
    x = representation(seed=seed)
    mixing = np.random.default_rng(seed + 100).normal(size=(32, 32))
    assert pwcca(x, x @ mixing + 1.0) == pytest.approx(1.0, abs=1e-9)
    assert canonical_correlations(x, x @ mixing)[0] == pytest.approx(np.ones(32), abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_linear_cka_of_a_rotated_scaled_and_shifted_copy_is_one(seed):
    # CKA is invariant to orthogonal maps and isotropic scaling (Kornblith et al. 2019, Sec. 2), the invertible
    # linear maps it is built for. Measured: 1 +- 2e-16 over 10 seeds; tolerance 1e-9.
    x = representation(seed=seed)
    rotation = ortho_group.rvs(32, random_state=seed)
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-9)


def test_linear_cka_unlike_pwcca_is_not_invariant_to_a_general_invertible_map():
    # Measured over 10 seeds for a random Gaussian 32 x 32 map: CKA 0.755 +- 0.021 (0.73..0.80); asserted < 0.9.
    x = representation()
    mixing = np.random.default_rng(7).normal(size=(32, 32))
    assert linear_cka(x, x @ mixing) < 0.9
    assert pwcca(x, x @ mixing) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_similarity_of_independent_noise_is_about_zero(seed):
    # n=4000, 16 dims each. Finite samples bias both upward: CKA ~ dim / n = 0.004 (measured 0.0041 +- 0.0003, max
    # 0.0045); PWCCA ~ the mean canonical correlation of independent data (measured 0.054 +- 0.002, max 0.057).
    # Tolerances: 0.01 and 0.08.
    rng = np.random.default_rng(seed)
    x, noise = rng.normal(size=(4000, 16)), rng.normal(size=(4000, 16))
    assert 0.0 <= linear_cka(x, noise) < 0.01
    assert 0.0 <= pwcca(x, noise) < 0.08


def test_similarity_matrix_holds_every_pair_of_layers():
    base = representation(n=500, dim=8)
    layers = [
        base,
        base @ np.random.default_rng(1).normal(size=(8, 12)),
        np.random.default_rng(2).normal(size=(500, 4)),
    ]
    for measure, function in (("linear_cka", linear_cka), ("pwcca", pwcca)):
        matrix = similarity_matrix(layers, measure=measure)
        assert matrix.shape == (3, 3)
        assert np.diag(matrix) == pytest.approx(np.ones(3))
        expected = [[function(x, y) for y in layers] for x in layers]
        assert matrix == pytest.approx(np.array(expected))
    assert similarity_matrix(layers, "pwcca")[0, 1] == pytest.approx(1.0)  # layer 1 is an injective map of layer 0
    assert similarity_matrix(layers) == pytest.approx(similarity_matrix(layers).T)  # CKA is symmetric


def test_similarity_matrix_between_two_models_pairs_each_layer_of_one_with_each_layer_of_the_other():
    base = representation(n=500, dim=8)
    model_a = [base, np.random.default_rng(2).normal(size=(500, 4))]
    model_b = [base @ np.random.default_rng(1).normal(size=(8, 12)), base[:, :3], base]
    for measure, function in (("linear_cka", linear_cka), ("pwcca", pwcca)):
        matrix = similarity_matrix(model_a, measure, others=model_b)
        assert matrix.shape == (2, 3)
        assert matrix == pytest.approx(np.array([[function(x, y) for y in model_b] for x in model_a]))
    assert similarity_matrix(model_a, "pwcca", others=model_b)[0] == pytest.approx(np.ones(3))  # maps of layer 0
    with pytest.raises(ValueError, match="row counts"):
        similarity_matrix(model_a, others=[base[:-1]])


def test_similarity_rejects_mismatched_or_too_few_samples_naming_the_fix():
    x = representation(n=40, dim=8)
    with pytest.raises(ValueError, match="same samples"):
        linear_cka(x, x[:-1])
    with pytest.raises(ValueError, match="pass more samples or reduce the dimensions"):
        pwcca(x, representation(n=40, dim=32, seed=1))
    with pytest.raises(ValueError, match="measure='svcca' is not one of"):
        similarity_matrix([x], measure="svcca")
    with pytest.raises(ValueError, match="row counts"):
        similarity_matrix([x, x[:-1]])


def reference_pwcca(x: np.ndarray, y: np.ndarray) -> float:
    """google/svcca `pwcca.compute_pwcca` on centred `(n, dim)` inputs (the reference takes `(dim, n)`), with
    `cca_core.get_cca_similarity`'s CCA from covariance matrices: sigma_xx^-1/2 sigma_xy sigma_yy^-1/2 = U S V, the
    canonical variates of the side with fewer neurons orthonormalised by QR, weights sum_j |<P_i, x_j>| normalised to
    1. The directions map back through sigma^-1/2 as cca_core's `cca_dirns` do (pwcca.py's own `coef_x` leaves that
    factor out, so its directions are not canonical variates; Morcos et al. 2018 weight canonical variates)."""

    def inverse_sqrt(sigma):
        w, v = np.linalg.eigh(sigma)
        return v @ np.diag(w**-0.5) @ v.T

    acts1, acts2 = (x - x.mean(0)).T, (y - y.mean(0)).T
    numx = len(acts1)
    covariance = np.cov(acts1, acts2)
    invsqrt_xx, invsqrt_yy = inverse_sqrt(covariance[:numx, :numx]), inverse_sqrt(covariance[numx:, numx:])
    u, s, v = np.linalg.svd(invsqrt_xx @ covariance[:numx, numx:] @ invsqrt_yy)
    if len(acts1) <= len(acts2):
        dirns, acts = u.T @ invsqrt_xx @ acts1, acts1
    else:
        dirns, acts = v @ invsqrt_yy @ acts2, acts2
    p, _ = np.linalg.qr(dirns.T)
    weights = np.sum(np.abs(np.dot(p.T, acts.T)), axis=1)
    weights = weights / np.sum(weights)
    return float(np.sum(weights * s))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pwcca_equals_a_transcription_of_the_svcca_reference_on_partly_related_representations(seed):
    # y: a noisy linear map of x, so the canonical correlations spread between 0 and 1. Measured agreement 1e-15.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 5)) * rng.uniform(0.5, 3.0, 5) + rng.normal(size=5)
    y = x @ rng.normal(size=(5, 8)) * 0.5 + rng.normal(size=(300, 8))
    expected = reference_pwcca(x, y)
    rho = canonical_correlations(x, y)[0]
    assert 0.2 < expected < 0.95 and abs(expected - rho.mean()) > 1e-3  # intermediate, and weights matter
    assert pwcca(x, y) == pytest.approx(expected, abs=1e-9)
    assert pwcca(y, x) == pytest.approx(reference_pwcca(y, x), abs=1e-9)  # weighted by the narrower side both ways
