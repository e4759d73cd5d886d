"""The Barlow Twins loss (paper Eq. 1-2) and its variants (Sec. 3.3) against plain reference formulas."""

import pytest
import torch

from barlow_speech import LOSS_VARIANTS, barlow_twins_loss, cross_correlation


def reference_cross_correlation(z_a: torch.Tensor, z_b: torch.Tensor, variant: str, eps: float) -> torch.Tensor:
    """Element by element, in float64, straight from the definitions."""
    z_a, z_b = z_a.double(), z_b.double()
    n, d = z_a.shape
    if variant in ("mbt_ln", "mbt_bn_ln"):
        z_a = torch.stack([(row - row.mean()) / torch.sqrt(row.var(unbiased=False) + eps) for row in z_a])
        z_b = torch.stack([(row - row.mean()) / torch.sqrt(row.var(unbiased=False) + eps) for row in z_b])
    c = torch.zeros(d, d, dtype=torch.float64)
    if variant in ("mbt_bn", "mbt_bn_ln"):
        a = (z_a - z_a.mean(0)) / torch.sqrt(z_a.var(0, unbiased=False) + eps)
        b = (z_b - z_b.mean(0)) / torch.sqrt(z_b.var(0, unbiased=False) + eps)
        for i in range(d):
            for j in range(d):
                c[i, j] = sum(a[k, i] * b[k, j] for k in range(n)) / n
        return c
    for i in range(d):
        for j in range(d):
            numerator = sum(z_a[k, i] * z_b[k, j] for k in range(n))
            norm_a = torch.sqrt(sum(z_a[k, i] ** 2 for k in range(n)))
            norm_b = torch.sqrt(sum(z_b[k, j] ** 2 for k in range(n)))
            c[i, j] = numerator / (norm_a * norm_b + eps)
    return c


def reference_loss(c: torch.Tensor, lambda_offdiag: float) -> torch.Tensor:
    d = c.shape[0]
    invariance = sum((1 - c[i, i]) ** 2 for i in range(d))
    redundancy = sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    return invariance + lambda_offdiag * redundancy


@pytest.mark.parametrize("variant", LOSS_VARIANTS)
def test_loss_equals_the_reference_formula(variant):
    z_a, z_b = torch.randn(12, 6), torch.randn(12, 6)
    z_b = 0.7 * z_a + 0.3 * z_b
    out = barlow_twins_loss(z_a, z_b, lambda_offdiag=0.05, variant=variant, eps=1e-5)
    expected_c = reference_cross_correlation(z_a, z_b, variant, eps=1e-5)
    torch.testing.assert_close(out.cross_correlation.double(), expected_c, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.loss.double(), reference_loss(expected_c, 0.05), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out.loss, out.invariance + 0.05 * out.redundancy)


def _decorrelated_latents(n: int = 64, d: int = 16) -> torch.Tensor:
    """sqrt(n) * orthonormal, zero-mean columns: every column has unit variance and they are uncorrelated."""
    x = torch.randn(n, d, dtype=torch.float64)
    q, _ = torch.linalg.qr(x - x.mean(0))
    return (q * n**0.5).float()


@pytest.mark.parametrize("variant", LOSS_VARIANTS)
def test_loss_is_near_zero_for_invariant_decorrelated_latents_and_large_for_collapsed(variant):
    z = _decorrelated_latents()
    good = barlow_twins_loss(z, z.clone(), variant=variant)
    # Layer-normalised latents sum to zero across features, so their columns cannot be exactly uncorrelated: the
    # redundancy term keeps a floor of about d / (d - 1), i.e. lambda * ~1 = 0.005.
    assert good.invariance < 1e-4
    assert good.loss < (1e-4 if variant in ("bt", "mbt_bn") else 0.01)
    collapsed_a = torch.ones(64, 16) + 1e-3 * torch.randn(64, 16)
    collapsed_b = torch.ones(64, 16) + 1e-3 * torch.randn(64, 16)
    collapsed = barlow_twins_loss(collapsed_a, collapsed_b, variant=variant)
    # bt (Eq. 2, uncentred) sees collapse as full redundancy, lambda * d(d-1); the standardised variants as noise.
    assert collapsed.loss > 100 * good.loss + 1.0


def test_independent_views_break_invariance():
    out = barlow_twins_loss(torch.randn(256, 8), torch.randn(256, 8), variant="mbt_bn")
    assert out.invariance > 0.8 * 8


@pytest.mark.parametrize("variant", LOSS_VARIANTS)
def test_bf16_autocast_gives_a_finite_fp32_loss_close_to_full_precision(variant):
    z_a, z_b = torch.randn(64, 32), torch.randn(64, 32)
    z_b = z_a + 0.5 * z_b
    full = barlow_twins_loss(z_a, z_b, variant=variant).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = barlow_twins_loss(z_a.bfloat16(), z_b.bfloat16(), variant=variant).loss
    assert half.dtype == torch.float32 and torch.isfinite(half)
    # Computed in float32: the loss of the bf16 inputs equals, bit for bit, the float32 loss of the same rounded values
    # (measured difference 0, also with oneDNN held to AVX2 or SSE4.1, ATen's default CPU capability or one thread;
    # the same float32 kernels run on both sides). A loss computed in bf16 under autocast is 5e-4 to 3e-3 off.
    rounded = barlow_twins_loss(z_a.bfloat16().float(), z_b.bfloat16().float(), variant=variant).loss
    torch.testing.assert_close(half, rounded, rtol=1e-6, atol=0.0)
    # What rounding the inputs to bf16 costs: |half - full| / full measured at most 7.8e-4 over 20 seeds x 4 variants
    # (7.7e-4 at this seed); tolerance about 4x that.
    torch.testing.assert_close(half, full, rtol=3e-3, atol=0.0)


def test_dead_latent_gives_a_finite_loss_and_gradient():
    z_a = torch.randn(16, 4).requires_grad_(True)
    z_b = torch.cat([torch.randn(16, 3), torch.zeros(16, 1)], dim=1)
    for variant in LOSS_VARIANTS:
        loss = barlow_twins_loss(z_a, z_b, variant=variant).loss
        (grad,) = torch.autograd.grad(loss, z_a)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_batch_of_one_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 2 samples"):
        barlow_twins_loss(torch.randn(1, 8), torch.randn(1, 8))


@pytest.mark.parametrize("shapes", [((4, 8), (4, 9)), ((4, 8, 1), (4, 8, 1))])
def test_mismatched_latents_are_a_clear_error(shapes):
    with pytest.raises(ValueError, match=r"\(batch, latent\)"):
        cross_correlation(torch.randn(*shapes[0]), torch.randn(*shapes[1]))


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="mbt_bn"):
        cross_correlation(torch.randn(4, 2), torch.randn(4, 2), variant="simclr")
