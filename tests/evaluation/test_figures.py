import numpy as np
import pytest
from matplotlib import image as mpimg

from barlow_speech.evaluation import figures


def make_probe_result(model, task, means, rng):
    return {
        "model": model,
        "task": task,
        "fractions": {
            f"{f:g}": {"fraction": f, "mean": m, "std": 0.02, "runs": list(m + 0.02 * rng.normal(size=5))}
            for f, m in zip((0.05, 0.1, 0.5, 1.0), means)
        },
    }


def make_cross_correlations(d=160, seed=0):
    rng = np.random.default_rng(seed)
    untrained = np.clip(rng.normal(0.3, 0.4, size=(d, d)), -1, 1)
    trained = np.clip(np.eye(d) * 0.95 + rng.normal(0, 0.05, size=(d, d)), -1, 1)
    return untrained, trained


def read_png(path):
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05  # not a blank canvas
    return pixels


def test_cross_correlation_heatmap_is_written_as_png(tmp_path):
    path = figures.plot_cross_correlation(*make_cross_correlations(), tmp_path / "fig3.png")
    assert path.suffix == ".png"
    read_png(path)


def test_cross_correlation_rejects_non_square_input(tmp_path):
    with pytest.raises(ValueError, match="square"):
        figures.plot_cross_correlation(np.zeros((3, 4)), np.zeros((3, 3)), tmp_path / "x.png")


def test_accuracy_vs_fraction_and_boxplots_render(tmp_path):
    rng = np.random.default_rng(0)
    results = [
        make_probe_result(m, t, base + np.array([0, 0.05, 0.1, 0.15]), rng)
        for t in ("SR", "GR", "KWS")
        for m, base in (("Supervised", 0.4), ("BT-LS-100", 0.5))
    ]
    read_png(figures.plot_accuracy_vs_fraction(results, tmp_path / "fractions.png"))
    runs = {
        task: {
            name: list(0.5 + 0.1 * i + 0.05 * rng.normal(size=50))
            for i, name in enumerate(reversed(figures.ABLATION_ORDER))
        }
        for task in ("SR", "GR")
    }
    read_png(figures.plot_run_boxplots(runs, tmp_path / "box.png"))


def test_loss_curve_reads_trainer_log_history(tmp_path):
    history = [
        {"step": s, "loss": 100 / (s + 1), "invariance": 50 / (s + 1), "redundancy": 10 / (s + 1)}
        for s in range(0, 200, 10)
    ] + [{"train_runtime": 3.0}]
    read_png(figures.plot_loss_curve(history, tmp_path / "loss.png"))
    with pytest.raises(ValueError, match="log_history"):
        figures.plot_loss_curve([{"train_runtime": 3.0}], tmp_path / "none.png")
