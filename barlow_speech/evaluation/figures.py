"""Figures of the paper, drawn with matplotlib's Agg backend; each function writes one PNG and returns its path.

* `plot_cross_correlation`: Fig. 3, cross-correlation of the two views' latents, untrained vs trained.
* `plot_accuracy_vs_fraction`: linear-probe top-1 vs label fraction, one panel per task (Table 2 as curves).
* `plot_run_boxplots`: Fig. 4-5, top-1 over runs per loss variant, one panel per task.
* `plot_loss_curve`: training losses from a `Trainer` `log_history`.
* `plot_layer_information`, `plot_rank_correlation`, `plot_layer_similarity`: the layer-wise analysis
  (`barlow_speech.evaluation.analysis`): probe accuracy and MI over layers, MI against accuracy with Spearman's rho,
  and the layer x layer CKA / PWCCA heatmaps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after selecting the backend)
import numpy as np  # noqa: E402

from ..results import task_label  # noqa: E402

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

    `probe_results` are probe result dicts (schema in `barlow_speech.results`).
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
        ax.set_title(task_label(task))
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
        ax.set_title(task_label(task))
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


MODEL_LINESTYLES = ("-", "--", ":", "-.")


def _layer_axis(ax: plt.Axes, models: Sequence[Mapping], ylabel: str) -> None:
    names = max((m["layers"] for m in models), key=len)
    ax.set_xticks(range(len(names)), labels=names, rotation=20)
    ax.set_xlabel("layer")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _band(ax: plt.Axes, entries: Sequence[Mapping], label: str, color, linestyle: str) -> None:
    """Mean MI in bits over layers with its interval shaded."""
    x = np.arange(len(entries))
    ax.plot(
        x, [e["mutual_information_bits"] for e in entries], marker="o", color=color, linestyle=linestyle, label=label
    )
    low, high = zip(*(e["interval_bits"] for e in entries))
    ax.fill_between(x, low, high, color=color, alpha=0.15)


def plot_layer_information(analysis: Mapping, path: str | Path) -> Path:
    """Probe top-1 (%), supervised MI and unsupervised MI (bits, interval shaded) over layers, one panel each.

    Colours are tasks (pairings in the third panel), line styles models; dotted lines are the log N caps of InfoNCE.
    `analysis` is an `analyze_layers` result.
    """
    models, tasks = analysis["models"], analysis["tasks"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), constrained_layout=True)
    colours = plt.get_cmap("tab10").colors
    for m, (model, style) in enumerate(zip(models, MODEL_LINESTYLES * len(models))):
        for t, task in enumerate(tasks):
            label = f"{task} ({model['model']})"
            accuracy = 100 * np.asarray(model["probe_accuracy"][task])
            axes[0].plot(range(len(accuracy)), accuracy, marker="o", color=colours[t], linestyle=style, label=label)
            _band(axes[1], model["supervised_information"][task], label, colours[t], style)
        for p, (pairing, entries) in enumerate(model["unsupervised_information"].items()):
            _band(axes[2], entries, f"{pairing} ({model['model']})", colours[p], style)
            if m == 0:
                axes[2].axhline(entries[0]["cap_bits"], color=colours[p], linestyle=":", linewidth=1)
    titles = (
        "linear probe (100 % labels)",
        "supervised MI  I(Z;Y) >= H(Y) - CE",
        "unsupervised MI  I(A;B) >= log N - L_NCE",
    )
    for ax, title, ylabel in zip(axes, titles, ("test top-1 accuracy (%)", "bits", "bits (dotted: log N cap)")):
        ax.set_title(title)
        _layer_axis(ax, models, ylabel)
    return _save(fig, path)


def plot_rank_correlation(analysis: Mapping, path: str | Path) -> Path:
    """Each MI estimate (rows) against probe top-1 of each task (columns), one point per (model, layer).

    Points are numbered by layer (0 = stem) and coloured by model; titles give Spearman's rho over all points.
    """
    models, tasks, correlations = analysis["models"], analysis["tasks"], analysis["rank_correlation"]
    measures = list(correlations)
    fig, axes = plt.subplots(
        len(measures),
        len(tasks),
        figsize=(3.4 * len(tasks), 3.0 * len(measures)),
        squeeze=False,
        constrained_layout=True,
    )
    colours = plt.get_cmap("tab10").colors
    for row, measure in enumerate(measures):
        for column, task in enumerate(tasks):
            ax = axes[row, column]
            for m, model in enumerate(models):
                per_layer = (
                    model["supervised_information"][task]
                    if measure == "supervised"
                    else model["unsupervised_information"][measure]
                )
                x = [entry["mutual_information_bits"] for entry in per_layer]
                y = 100 * np.asarray(model["probe_accuracy"][task])
                ax.scatter(x, y, color=colours[m % len(colours)], label=model["model"])
                for layer, point in enumerate(zip(x, y)):
                    ax.annotate(str(layer), point, fontsize=7, xytext=(3, 3), textcoords="offset points")
            rho = correlations[measure][task]["spearman"]
            ax.set_title(f"{task} vs MI({measure}): rho = {'n/a' if rho is None else f'{rho:.2f}'}", fontsize=9)
            ax.set_xlabel(f"MI ({measure}), bits", fontsize=8)
            ax.set_ylabel("top-1 (%)", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=7)
    return _save(fig, path)


def plot_layer_similarity(analysis: Mapping, path: str | Path) -> Path:
    """Layer x layer linear CKA and PWCCA heatmaps (colours fixed to [0, 1]): within each model, then between the
    first model (rows) and each other one (columns)."""
    models = {model["model"]: model for model in analysis["models"]}
    if any("similarity" not in model for model in models.values()):
        raise ValueError("the analysis has no similarity matrices; run `barlow-speech analyze layers` (not `mi`).")
    panels = [(name, model["similarity"], model["layers"], model["layers"]) for name, model in models.items()]
    panels += [
        (f"{a} (rows) vs {b}", pair, models[a]["layers"], models[b]["layers"])
        for pair in analysis.get("between_models", [])
        for a, b in [pair["models"]]
    ]
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 4.2 * len(panels)), squeeze=False, constrained_layout=True)
    for row, (name, matrices, rows, columns) in enumerate(panels):
        for ax, (measure, title) in zip(axes[row], (("linear_cka", "linear CKA"), ("pwcca", "PWCCA"))):
            matrix = np.asarray(matrices[measure])
            image = ax.imshow(matrix, cmap="viridis", vmin=0.0, vmax=1.0)
            for (i, j), value in np.ndenumerate(matrix):
                ax.text(
                    j,
                    i,
                    f"{value:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value < 0.6 else "black",
                )
            ax.set_xticks(range(len(columns)), labels=columns, rotation=30, fontsize=8)
            ax.set_yticks(range(len(rows)), labels=rows, fontsize=8)
            ax.set_title(f"{title}: {name}", fontsize=9)
    fig.colorbar(image, ax=axes, shrink=0.6, label="similarity")
    return _save(fig, path)
