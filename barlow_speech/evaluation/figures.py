"""Figures of the paper, drawn with matplotlib's Agg backend; each function writes one PNG and returns its path.

* `plot_cross_correlation`: Fig. 3, cross-correlation of the two views' latents, untrained vs trained.
* `plot_accuracy_vs_fraction`: linear-probe top-1 vs label fraction, one panel per task (Table 2 as curves).
* `plot_run_boxplots`: Fig. 4-5, top-1 over runs per loss variant, one panel per task.
* `plot_loss_curve`: training losses from a `Trainer` `log_history`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)
import numpy as np  # noqa: E402

ABLATION_ORDER = ("BT", "MBT w/LN", "MBT w/BN/LN", "MBT w/BN", "Supervised")  # paper Fig. 4-5, left to right


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_cross_correlation(
    untrained: np.ndarray, trained: np.ndarray, path: str | Path, max_latents: int = 128
) -> Path:
    """Fig. 3: two `(d, d)` cross-correlation matrices side by side, first `max_latents` latents, colours on [-1, 1]"""
    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    for ax, matrix, title in zip(axes, (untrained, trained), ("untrained", "trained")):
        matrix = np.asarray(matrix, dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(
                f"cross-correlation of the {title} model must be a square (d, d) matrix, got shape {matrix.shape}."
            )
        image = ax.imshow(
            matrix[:max_latents, :max_latents], cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest"
        )
        ax.set_title(f"{title} (first {min(max_latents, matrix.shape[0])} latents)")
        ax.set_xlabel("latent of view B")
        ax.set_ylabel("latent of view A")
    fig.colorbar(image, ax=axes, shrink=0.8, label="cross-correlation $C_{ij}$")
    return _save(fig, path)


def _grid(count: int, width: float = 4.5, height: float = 3.8) -> tuple[plt.Figure, np.ndarray]:
    columns = min(count, 2)
    rows = int(np.ceil(count / columns))
    fig, axes = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False, constrained_layout=True
    )
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    return fig, axes.ravel()


def plot_accuracy_vs_fraction(probe_results: Sequence[Mapping], path: str | Path) -> Path:
    """Top-1 (mean ± std over seeds, in %) vs label fraction; one panel per task, one line per model.

    `probe_results` are probe result dicts (schema in `barlow_speech.evaluation.report`).
    """
    if not probe_results:
        raise ValueError("no probe results to plot; run `barlow-speech probe` first.")
    tasks = list(dict.fromkeys(r["task"] for r in probe_results))
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        for result in (r for r in probe_results if r["task"] == task):
            entries = sorted(result["fractions"].values(), key=lambda e: e["fraction"])
            x = [100 * e["fraction"] for e in entries]
            mean = np.array([100 * e["mean"] for e in entries])
            std = np.array([100 * e["std"] for e in entries])
            ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=result["model"])
        ax.set_xscale("log")
        ax.set_xticks([5, 10, 50, 100], labels=["5", "10", "50", "100"])
        ax.set_title(task)
        ax.set_xlabel("labelled fraction (%)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _save(fig, path)


def plot_run_boxplots(
    runs: Mapping[str, Mapping[str, Sequence[float]]], path: str | Path, order: Sequence[str] = ABLATION_ORDER
) -> Path:
    """Fig. 4-5: box plots of top-1 (%) over runs. `runs[task][model]` = accuracies in [0, 1].

    Models follow `order` (the paper's BT, MBT w/LN, MBT w/BN/LN, MBT w/BN, Supervised), then any others.
    """
    if not runs:
        raise ValueError("no runs to plot; pass {task: {model: [accuracy, ...]}}.")
    fig, axes = _grid(len(runs))
    for ax, (task, per_model) in zip(axes, runs.items()):
        models = [m for m in order if m in per_model] + [m for m in per_model if m not in order]
        ax.boxplot([100 * np.asarray(per_model[m]) for m in models], tick_labels=models)
        ax.set_title(task)
        ax.set_ylabel("top-1 accuracy (%)")
        ax.tick_params(axis="x", labelrotation=20)
        ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_loss_curve(
    log_history: Sequence[Mapping],
    path: str | Path,
    keys: Sequence[str] = ("loss", "invariance", "redundancy", "eval_loss"),
    separate_axis: Sequence[str] = ("redundancy",),
) -> Path:
    """Training curves from `Trainer.state.log_history` (list of dicts with "step" and logged values).

    Keys in `separate_axis` get their own panel: the unweighted redundancy term is ~1/lambda times larger than the
    loss and would flatten every other curve on a shared axis.
    """
    curves = {}
    for key in keys:
        points = [(entry["step"], entry[key]) for entry in log_history if key in entry and "step" in entry]
        if points:
            curves[key] = tuple(zip(*points))
    if not curves:
        raise ValueError(
            f"log_history has none of the keys {list(keys)} with a 'step'; pass trainer.state.log_history."
        )
    groups = [[k for k in curves if k not in separate_axis], [k for k in curves if k in separate_axis]]
    groups = [group for group in groups if group]
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4), constrained_layout=True, squeeze=False)
    for ax, group in zip(axes[0], groups):
        for key in group:
            ax.plot(*curves[key], label=key)
        ax.set_xlabel("step")
        ax.set_ylabel("loss" if group is groups[0] else " / ".join(group))
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)
