"""A batched L-BFGS for many L2-regularised multinomial logistic-regression heads at once (the probes' solver).

Every head keeps its own L-BFGS memory, backtracking Armijo line search and stopping test, so a head's result is the
one it would reach alone (`fit_logistic_heads`); runs whose features are much narrower than the embedding are solved in
their row space (an exact change of coordinates). `solver_threads` keeps small CPU solves on one thread and
`runs_that_fit` sizes a batch of runs to a memory budget. The linear-probe protocol of Table 2 that uses it is
`barlow_speech.evaluation.probes`; the supervised MI bounds of `barlow_speech.evaluation.information` use it too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch

_ARMIJO = 1e-4  # sufficient-decrease constant of the line search (Nocedal & Wright, Sec. 3.1)
_MAX_LINE_SEARCH = 30  # step halvings before a head is declared stalled
HISTORY = 10  # L-BFGS correction pairs per head (scipy's and sklearn's default)
MEMORY_BUDGET_BYTES = 4 * 2**30  # solver state of one batch of runs, see `runs_that_fit`
# Below this many multiply-adds per solver matmul, CPU solves run on one thread: each iteration is a handful of
# small ops, and intra-op threads cost more in synchronisation than they save (2 shared cores: a 22k-element
# `exp` took 12 ms on 2 threads and 0.02 ms on 1; the default benchmark ran 12x faster on 1 thread).
SINGLE_THREAD_WORK = 2**26
# Subsets of at most this fraction of the embedding's width are solved in their row space (`fit_logistic_heads`): the
# demo's probes ran 2.5-5x faster at 0.1-0.2 and no faster at 0.4 (QR, and the stopping bound's extra iterations).
ROW_SPACE_MAX_RATIO = 0.25


def _objective(
    theta: torch.Tensor, x: torch.Tensor, targets: torch.Tensor, decay: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head L2-regularised mean cross-entropy and its gradient.

    Args:
        theta: `(runs, dim + 1, K, C')` weights with the bias as the last row; C' = C, or 1 for a binary task
            (one logit against a fixed 0, sklearn's binomial parameterisation).
        x: `(runs, n, dim + 1)` features with a trailing column of ones.
        targets: `(runs, n, 1, C)` one-hot class codes.
        decay: `(1, 1, K, 1)` L2 coefficients (the bias row is not penalised).

    Returns:
        loss `(runs, K)` and gradient shaped like `theta`.
    """
    runs, n, width = x.shape
    logits = torch.bmm(x, theta.reshape(runs, width, -1)).view(runs, n, *theta.shape[2:])
    if targets.shape[-1] != theta.shape[-1]:  # binary: logits (0, z)
        logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
    log_probs = torch.log_softmax(logits, dim=-1)
    weights = theta[:, :-1]
    loss = -(log_probs * targets).sum(-1).mean(1) + 0.5 * decay[0, 0, :, 0] * weights.square().sum((1, 3))
    residual = (log_probs.exp() - targets)[..., -theta.shape[-1] :]  # d CE / d logits, (runs, n, K, C')
    gradient = torch.bmm(x.transpose(1, 2), residual.reshape(runs, n, -1)).view_as(theta) / n
    gradient[:, :-1] += decay * weights
    return loss, gradient


def _head_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Inner product per head of two `(runs, dim + 1, K, C')` tensors -> `(runs, K)`."""
    return (a * b).sum((1, 3))


def _per_head(values: torch.Tensor) -> torch.Tensor:
    """`(runs, K)` -> `(runs, 1, K, 1)`, broadcastable over a head's parameters."""
    return values[:, None, :, None]


def _two_loop(
    gradient: torch.Tensor, pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], scale: torch.Tensor
) -> torch.Tensor:
    """L-BFGS two-loop recursion per head: H gradient from the correction pairs (s, y, 1 / y.s) and H0 = scale * I."""
    q, alphas = gradient.clone(), []
    for s, y, rho in reversed(pairs):
        alpha = rho * _head_dot(s, q)
        q -= _per_head(alpha) * y
        alphas.append(alpha)
    q *= _per_head(scale)
    for (s, y, rho), alpha in zip(pairs, reversed(alphas)):
        q += _per_head(alpha - rho * _head_dot(y, q)) * s
    return q


@torch.no_grad()
def fit_logistic_heads(
    x_runs: torch.Tensor,
    y_runs: torch.Tensor,
    weight_decays: Sequence[float],
    num_classes: int,
    max_iter: int = 300,
    tol: float = 1e-4,
    history: int = 10,
    row_space: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Batched L-BFGS on many independent multinomial logistic-regression heads at once.

    Head (r, k) minimises mean_i CE(x_runs[r, i] W + b, y_runs[r, i]) + weight_decays[k] / 2 * ||W||^2,
    sklearn's `LogisticRegression(C=1 / (weight_decays[k] * n))` objective (a binary task uses its
    binomial form: one logit against 0). Every head keeps its own L-BFGS memory, step size (backtracking
    Armijo line search) and stopping test (max |gradient| <= `tol`, sklearn's `gtol`); converged heads
    stop moving while the others go on, so a head's result is the one it would reach alone.

    When subset_size <= `ROW_SPACE_MAX_RATIO` x dim, each run is solved in the row space of its features: with
    x = R^T Q^T (QR of x^T, Q `(dim, subset_size)` orthonormal) and W = Q B, the logits x W = R^T B and the penalty
    ||W||^2 = ||B||^2, and every L-BFGS iterate from W = 0 stays in that space (each gradient x^T residual + decay W
    does; representer theorem). The iterates and the first step (scaled by the gradient's 1-norm in the original
    coordinates) are those of the solve in dim coordinates (in exact arithmetic), at about subset_size / dim of its
    cost per iteration; the stopping test bounds max |gradient| in the original coordinates (`_converged`), so a head
    may take a few more iterations, never fewer.

    Args:
        x_runs: `(runs, subset_size, dim)` standardised features of each run's subset.
        y_runs: `(runs, subset_size)` int64 class codes.
        weight_decays: K L2 coefficients (0 = unregularised; then only `max_iter` bounds the fit).
        num_classes: C.
        max_iter: L-BFGS iterations at most.
        tol: stop a head once the max absolute entry of its gradient is <= tol.
        history: L-BFGS memory (correction pairs kept per head).
        row_space: solve subsets much smaller than dim in their row space (False: always in dim coordinates, the
            reference of `benchmarks/probe_row_space.py`).

    Returns:
        weights `(runs, dim, K, C)`, biases `(runs, K, C)` and the number of iterations run.
    """
    runs, n, dim = x_runs.shape
    columns = len(weight_decays) * (1 if num_classes == 2 else num_classes)
    basis = None
    if row_space and n <= ROW_SPACE_MAX_RATIO * dim:  # an orthonormal basis (runs, dim, n), features (runs, n, n)
        basis, triangle = torch.linalg.qr(x_runs.transpose(1, 2))
        x_runs = triangle.transpose(1, 2)
    with solver_threads(x_runs.device, runs * n * (x_runs.shape[2] + 1) * columns):
        theta, iterations = _lbfgs(x_runs, y_runs, weight_decays, num_classes, max_iter, tol, history, basis)
        if basis is not None:  # back to dim coordinates: W = Q B
            theta = _in_original_coordinates(theta, basis)
    if theta.shape[-1] == 1:  # binary: expand (0, z) into two class columns
        theta = torch.cat([torch.zeros_like(theta), theta], dim=-1)
    return theta[:, :-1], theta[:, -1], iterations


def _in_original_coordinates(values: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Parameters or a gradient `(runs, r + 1, K, C')` in the row-space basis `(runs, dim, r)` -> `(runs, dim + 1, K,
    C')`: the weight rows mapped by Q, the bias row kept."""
    runs, _, *head = values.shape
    weights = torch.bmm(basis, values[:, :-1].flatten(2)).view(runs, basis.shape[1], *head)
    return torch.cat([weights, values[:, -1:]], dim=1)


def _converged(gradient: torch.Tensor, tol: float, leverage: torch.Tensor | None) -> torch.Tensor:
    """`(runs, K)`: max |entry| of each head's gradient in the original coordinates <= tol (sklearn's gtol test).

    In row-space coordinates the weight rows of the original gradient are Q g, so |(Q g)_ic| <= ||Q_i|| ||g_:c||
    with `leverage` `(runs,)` the largest row norm of each basis Q: the test uses that bound (cheap: no mapping
    back), so a head never stops before the test in dim coordinates would stop it, and may go on a few iterations
    closer to the optimum."""
    if leverage is None:
        return gradient.abs().amax((1, 3)) <= tol
    bound = leverage[:, None] * gradient[:, :-1].square().sum(1).sqrt().amax(-1)
    return torch.maximum(bound, gradient[:, -1].abs().amax(-1)) <= tol


def _lbfgs(
    x_runs: torch.Tensor,
    y_runs: torch.Tensor,
    weight_decays: Sequence[float],
    num_classes: int,
    max_iter: int,
    tol: float,
    history: int,
    basis: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """The solver of `fit_logistic_heads`: parameters `(runs, width + 1, K, C')` (bias last) and iterations run.

    `basis` `(runs, dim, width)`: x_runs are row-space coordinates (see `fit_logistic_heads`); the first step and
    the stopping test then use the gradient in the original dim coordinates."""
    runs, n, dim = x_runs.shape
    k = len(weight_decays)
    x = torch.cat([x_runs, x_runs.new_ones(runs, n, 1)], dim=2)
    targets = torch.nn.functional.one_hot(y_runs, num_classes).to(x.dtype)[:, :, None, :]
    decay = torch.as_tensor(weight_decays, dtype=x.dtype, device=x.device).view(1, 1, k, 1)
    theta = x.new_zeros(runs, dim + 1, k, 1 if num_classes == 2 else num_classes)
    loss, gradient = _objective(theta, x, targets, decay)
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1 / y.s) per head, 0 where skipped
    original = gradient if basis is None else _in_original_coordinates(gradient, basis)
    leverage = None if basis is None else basis.square().sum(2).amax(1).sqrt()
    scale = 1.0 / original.abs().sum((1, 3)).clamp_min(1.0)  # first step: scaled steepest descent
    stalled = torch.zeros_like(loss, dtype=torch.bool)  # heads whose line search found no decrease
    iteration = 0
    for iteration in range(1, max_iter + 1):
        active = ~_converged(gradient, tol, leverage) & ~stalled
        if not bool(active.any()):
            iteration -= 1
            break
        direction = -_two_loop(gradient, pairs, scale)
        slope = _head_dot(gradient, direction)
        direction = torch.where(_per_head(slope < 0), direction, -gradient)  # safeguard: always a descent direction
        slope = torch.where(slope < 0, slope, -_head_dot(gradient, gradient))
        step = active.to(x.dtype)
        for _ in range(_MAX_LINE_SEARCH):  # halve each moving head's step until its loss decreases enough (Armijo)
            candidate = theta + _per_head(step) * direction
            new_loss, new_gradient = _objective(candidate, x, targets, decay)
            failed = (step > 0) & (new_loss > loss + _ARMIJO * step * slope)
            if not bool(failed.any()):
                break
            step = torch.where(failed, step * 0.5, step)
        else:
            stalled |= failed
            step = torch.where(failed, torch.zeros_like(step), step)
            candidate = theta + _per_head(step) * direction
            new_loss, new_gradient = _objective(candidate, x, targets, decay)
        s, y = candidate - theta, new_gradient - gradient
        curvature, y_norm = _head_dot(s, y), _head_dot(y, y)
        valid = curvature > 1e-10 * y_norm  # skip pairs of heads that did not move (or lack curvature)
        rho = torch.where(valid, 1.0 / curvature.clamp_min(1e-30), torch.zeros_like(curvature))
        pairs = (pairs + [(s, y, rho)])[-history:]
        scale = torch.where(valid, curvature / y_norm.clamp_min(1e-30), scale)
        theta, loss, gradient = candidate, new_loss, new_gradient
    return theta, iteration


@torch.no_grad()
def head_accuracy(weights: torch.Tensor, biases: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy `(runs, K)` of heads `(runs, dim, K, C)` (biases `(runs, K, C)`) on features `(n, dim)` and
    codes `(n,)`."""
    logits = torch.einsum("nd,rdkc->rknc", x, weights) + biases[..., None, :]
    return (logits.argmax(dim=-1) == y).float().mean(dim=-1)


@contextlib.contextmanager
def solver_threads(device: torch.device, work: int, single_thread_below: int = SINGLE_THREAD_WORK):
    """Run small CPU solves (< `single_thread_below` multiply-adds per matmul) on one torch thread, then restore."""
    if device.type != "cpu" or work >= single_thread_below:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def runs_that_fit(subset_size: int, dim: int, columns: int, history: int, budget: int = MEMORY_BUDGET_BYTES) -> int:
    """How many runs of one subset size fit in `budget` bytes of float32 solver state.

    Per run: the subset's features, logits and residuals of its `columns` (K x C') outputs, and the parameters,
    gradient, line-search candidate, direction and 2 x `history` correction pairs of all its heads (plus the
    row-space basis and its QR workspace when the run is solved in its row space).
    """
    parameters = (dim + 1) * columns
    per_run = 4 * (subset_size * (dim + 1) + 3 * subset_size * columns + (2 * history + 8) * parameters)
    if subset_size <= ROW_SPACE_MAX_RATIO * dim:  # the row-space basis and its QR workspace
        per_run += 4 * 2 * subset_size * dim
    return max(1, budget // per_run)


__all__ = [
    "HISTORY",
    "MEMORY_BUDGET_BYTES",
    "ROW_SPACE_MAX_RATIO",
    "SINGLE_THREAD_WORK",
    "fit_logistic_heads",
    "head_accuracy",
    "runs_that_fit",
    "solver_threads",
]
