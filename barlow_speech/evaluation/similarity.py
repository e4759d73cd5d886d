"""Similarity of two representations of the same samples: linear CKA and PWCCA ("beyond the paper", seed paper 003).

Clark et al. 2024, "An Empirical Analysis of Speech Self-Supervised Learning at Multiple Resolutions", compare
layers with CCA; Pasad et al. 2021 ("Layer-wise analysis of a self-supervised speech representation model")
use PWCCA for the same purpose. Both measures take `x` `(n_samples, dim_x)` and `y` `(n_samples, dim_y)` whose
rows describe the same samples (e.g. two layers' pooled outputs over one set of utterances), centre every column
and return a float in [0, 1]:

* `linear_cka` (Kornblith et al. 2019, "Similarity of Neural Network Representations Revisited", Sec. 3, linear
  kernel): CKA(X, Y) = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F). Invariant to orthogonal transforms and
  isotropic scaling, not to arbitrary invertible linear maps (their Sec. 2).
* `pwcca` (Morcos et al. 2018, "Insights on representational similarity in neural networks with canonical
  correlation"): the canonical correlations rho_i of X and Y averaged with weights
  alpha_i = sum_j |<h_i, x_j>|, h_i the i-th (unit-norm) canonical variate and x_j the j-th column of the
  representation with fewer dimensions (the side the reference code google/svcca `pwcca.py` weights by):
  PWCCA = sum_i alpha_i rho_i / sum_i alpha_i. Invariant to any invertible linear map of either side.

`similarity_matrix` gives the layer x layer matrix of either measure, within one model or between two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RANK_TOLERANCE = 1e-10  # singular values below this fraction of the largest count as rank deficiency


def _centered(name: str, values) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 2:
        raise ValueError(f"{name} must be a (n_samples, dim) array with >= 2 rows, got shape {values.shape}.")
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or Inf; check the encoder output.")
    return values - values.mean(axis=0)


def _check_pair(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _centered("x", x), _centered("y", y)
    if len(x) != len(y):
        raise ValueError(f"x and y must describe the same samples, got {len(x)} and {len(y)} rows.")
    return x, y


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA `||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)` of `(n, dim_x)`, `(n, dim_y)` (0 if one is constant)."""
    return _cka(*_check_pair(x, y))


def _cka(x: np.ndarray, y: np.ndarray) -> float:
    denominator = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(np.linalg.norm(y.T @ x) ** 2 / denominator) if denominator > 0 else 0.0


def _orthonormal_basis(centered: np.ndarray) -> np.ndarray:
    """`(n, rank)` orthonormal basis of the column space of a centred `(n, dim)` matrix."""
    u, s, _ = np.linalg.svd(centered, full_matrices=False)
    return u[:, s > RANK_TOLERANCE * max(s.max(initial=0.0), np.finfo(float).tiny)]


def canonical_correlations(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical correlations of `(n, dim_x)` and `(n, dim_y)` from orthonormal bases (Bjorck & Golub 1973).

    Returns:
        `rho` `(k,)` in decreasing order, k = min(rank x, rank y), and the unit-norm canonical variates of each
        side, `(n, k)` each.
    """
    x, y = _check_pair(x, y)
    return _canonical(_orthonormal_basis(x), _orthonormal_basis(y))


def _canonical(qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`canonical_correlations` from orthonormal bases `(n, rank_x)`, `(n, rank_y)` of the centred sides."""
    if qx.shape[1] + qy.shape[1] >= len(qx):
        raise ValueError(
            f"{len(qx)} samples for representations of rank {qx.shape[1]} and {qy.shape[1]}: with n_samples <= "
            "rank_x + rank_y some canonical correlations are 1 by construction; pass more samples or reduce the "
            "dimensions first (e.g. PCA)."
        )
    p, rho, r_t = np.linalg.svd(qx.T @ qy, full_matrices=False)
    k = min(qx.shape[1], qy.shape[1])
    return np.clip(rho[:k], 0.0, 1.0), qx @ p[:, :k], qy @ r_t[:k].T


def pwcca(x: np.ndarray, y: np.ndarray) -> float:
    """Projection-weighted CCA `sum_i alpha_i rho_i / sum_i alpha_i` of `(n, dim_x)`, `(n, dim_y)` (Morcos 2018).

    The weights alpha_i = sum_j |<h_i, z_j>| come from the side with fewer dimensions (x on a tie), z_j its
    centred columns and h_i its canonical variates; `n_samples` must exceed rank x + rank y.
    """
    x, y = _check_pair(x, y)
    return _pwcca(x, _orthonormal_basis(x), y, _orthonormal_basis(y))


def _pwcca(x: np.ndarray, qx: np.ndarray, y: np.ndarray, qy: np.ndarray) -> float:
    rho, variates_x, variates_y = _canonical(qx, qy)
    variates, columns = (variates_x, x) if x.shape[1] <= y.shape[1] else (variates_y, y)
    alpha = np.abs(variates.T @ columns).sum(axis=1)
    return float((alpha * rho).sum() / alpha.sum())


SIMILARITY_MEASURES = ("linear_cka", "pwcca")


def similarity_matrix(
    representations: Sequence[np.ndarray], measure: str = "linear_cka", others: Sequence[np.ndarray] | None = None
) -> np.ndarray:
    """`(L, M)` matrix whose entry (i, j) is `measure(representations[i], others[j])`.

    Args:
        representations: L arrays `(n_samples, dim_l)` over the same samples (e.g. one per layer); widths may
            differ. Each is centred (and, for PWCCA, given its orthonormal basis) once, not once per pair.
        measure: `"linear_cka"` or `"pwcca"`.
        others: M arrays over the same samples (e.g. the layers of a second model); default `representations`,
            which gives the symmetric `(L, L)` layer x layer matrix.
    """
    if measure not in SIMILARITY_MEASURES:
        raise ValueError(f"measure={measure!r} is not one of {list(SIMILARITY_MEASURES)}.")
    if len(representations) == 0 or (others is not None and len(others) == 0):
        raise ValueError("representations and others must not be empty; pass one (n_samples, dim) array per layer.")
    rows = [_centered(f"representations[{i}]", values) for i, values in enumerate(representations)]
    columns = rows if others is None else [_centered(f"others[{j}]", values) for j, values in enumerate(others)]
    counts = sorted({len(values) for values in rows + columns})
    if len(counts) > 1:
        raise ValueError(f"representations must describe the same samples, got row counts {counts}.")
    if measure == "linear_cka":
        return np.array([[_cka(x, y) for y in columns] for x in rows])
    row_sides = [(x, _orthonormal_basis(x)) for x in rows]
    column_sides = row_sides if others is None else [(y, _orthonormal_basis(y)) for y in columns]
    return np.array([[_pwcca(*side_x, *side_y) for side_y in column_sides] for side_x in row_sides])


__all__ = ["SIMILARITY_MEASURES", "canonical_correlations", "linear_cka", "pwcca", "similarity_matrix"]
