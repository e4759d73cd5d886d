"""Synthetic corpus benchmark: generation speed on one core, and the log-mel baseline per factor.

    OMP_NUM_THREADS=1 python benchmarks/synthetic_corpus.py              # speed vs the 1,000 clips/s target
    python benchmarks/synthetic_corpus.py --baseline --num_clips 4000   # + logistic-regression probes
    python benchmarks/synthetic_corpus.py --cnn --num_clips 16000        # + a small supervised CNN per factor

Speed runs pinned to one core (os.sched_setaffinity) and prints the best of `--repeats` batches,
in clips per CPU-second and per wall-second, and their ratio to the 1,000 clips/s target of issue 4. The baseline is
the number docs/synthetic.md reports: a logistic-regression probe on per-clip log-mel mean + std (64 mels,
25 ms / 10 ms), trained on `train` clips and scored on as many `test` clips (other seeds, same
speaker population).
"""

from __future__ import annotations

import argparse
import logging
import os
import time

import numpy as np
import torch

TARGET_CLIPS_PER_SECOND = 1000.0
logger = logging.getLogger("benchmarks.synthetic_corpus")


def pin_to_one_core() -> None:
    """Restrict this process, and so every BLAS/FFT thread it starts, to one CPU core."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def clips_per_second(batch_size: int, repeats: int) -> tuple[float, float]:
    """Best throughput of `repeats` calls of generate_batch(batch_size): (per wall second, per CPU second).

    On a shared machine the wall-clock figure drops with the load; the CPU-time figure (process
    time of this single-core process) is what one dedicated core delivers.
    """
    from barlow_speech.data.synthetic import generate_batch

    generate_batch(batch_size, seed=10**6)  # builds and caches the speaker population
    best_wall = best_cpu = 0.0
    for seed in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        generate_batch(batch_size, seed=seed)
        best_wall = max(best_wall, batch_size / (time.perf_counter() - wall))
        best_cpu = max(best_cpu, batch_size / (time.process_time() - cpu))
    return best_wall, best_cpu


def log_mel_stats(waveforms: np.ndarray, n_mels: int = 64) -> np.ndarray:
    """Per-clip mean and std over time of the log-mel spectrogram: (batch, 2 * n_mels)."""
    import librosa
    import scipy.signal

    _, _, stft = scipy.signal.stft(waveforms, fs=16000, nperseg=400, noverlap=240, nfft=512, axis=-1)
    mel = librosa.filters.mel(sr=16000, n_fft=512, n_mels=n_mels)
    log_mel = np.log(np.einsum("mf,bft->bmt", mel, np.abs(stft) ** 2) + 1e-8)
    return np.concatenate([log_mel.mean(axis=-1), log_mel.std(axis=-1)], axis=1)


def log_mel_baseline(num_clips: int) -> dict[str, float]:
    """Test accuracy of a logistic-regression probe per factor on log-mel mean/std features."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from barlow_speech.data.synthetic import FACTORS, generate_batch

    splits = {}
    for split, seed in (("train", 1000), ("test", 2000)):
        chunks = [generate_batch(1000, seed=seed + i) for i in range(max(1, num_clips // 1000))]
        features = np.concatenate([log_mel_stats(w) for w, _ in chunks])
        factors = {k: np.concatenate([f[k] for _, f in chunks]) for k in FACTORS}
        splits[split] = (features, factors)
    accuracy = {}
    for factor in FACTORS:
        probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=1.0))
        with threadpool_limits(1):  # small problems: BLAS threads only contend
            probe.fit(splits["train"][0], splits["train"][1][factor])
        accuracy[factor] = float(probe.score(splits["test"][0], splits["test"][1][factor]))
    return accuracy


def log_mel(waveforms: torch.Tensor, n_mels: int = 64) -> torch.Tensor:
    """(batch, samples) -> (batch, 1, n_mels, frames) log-mel, 25 ms / 10 ms (torch, for the CNN check)."""
    import librosa

    mel = torch.from_numpy(librosa.filters.mel(sr=16000, n_fft=512, n_mels=n_mels))
    spec = torch.stft(waveforms, 512, 160, win_length=400, window=torch.hann_window(400), return_complex=True)
    return torch.log(mel @ spec.abs().pow(2) + 1e-8).unsqueeze(1)


def cnn_learnability(num_clips: int, epochs: int, seed: int = 0) -> dict[str, float]:
    """Test accuracy per factor of a small CNN trained on log-mels with one head per factor.

    Shows the factors are learnable from the audio even where the log-mel mean/std baseline is not.
    """
    from barlow_speech.data.synthetic import FACTORS, SyntheticSpeechConfig, generate_batch

    torch.manual_seed(seed)
    sizes = {k: len(v) for k, v in SyntheticSpeechConfig().factor_names().items()}

    def data(first_seed: int, n: int):
        chunks = [generate_batch(1000, seed=first_seed + i) for i in range(max(1, n // 1000))]
        x = torch.cat([log_mel(torch.from_numpy(w)) for w, _ in chunks])
        return (x - x.mean()) / x.std(), {
            k: torch.from_numpy(np.concatenate([f[k] for _, f in chunks])) for k in FACTORS
        }

    train_x, train_y = data(3000, num_clips)
    test_x, test_y = data(4000, max(1000, num_clips // 4))
    block = lambda i, o: torch.nn.Sequential(  # noqa: E731
        torch.nn.Conv2d(i, o, 3, padding=1), torch.nn.BatchNorm2d(o), torch.nn.ReLU(), torch.nn.MaxPool2d(2)
    )
    body = torch.nn.Sequential(
        block(1, 16), block(16, 32), block(32, 64), block(64, 128), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    heads = torch.nn.ModuleDict({k: torch.nn.Linear(128, sizes[k]) for k in FACTORS})
    params = list(body.parameters()) + list(heads.parameters())
    optimizer = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
    steps = epochs * (len(train_x) // 64)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for epoch in range(epochs):
        body.train()
        order = torch.randperm(len(train_x))
        for start in range(0, len(order) - 63, 64):
            idx = order[start : start + 64]
            h = body(train_x[idx])
            loss = sum(torch.nn.functional.cross_entropy(heads[k](h), train_y[k][idx]) for k in FACTORS)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        logger.info("CNN epoch %d/%d: last batch loss %.3f", epoch + 1, epochs, loss.item())
    body.eval()
    with torch.no_grad():
        h = torch.cat([body(test_x[i : i + 256]) for i in range(0, len(test_x), 256)])
    return {k: float((heads[k](h).argmax(1) == test_y[k]).float().mean()) for k in FACTORS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", action="store_true", help="also run the log-mel probes (all cores)")
    parser.add_argument(
        "--num_clips", type=int, default=4000, help="train clips (and as many test clips) for --baseline"
    )
    parser.add_argument("--cnn", action="store_true", help="also train a small CNN per factor (learnability check)")
    parser.add_argument("--cnn_epochs", type=int, default=6)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    if args.baseline:
        from barlow_speech.data.synthetic import SyntheticSpeechConfig

        chance = {k: 1.0 / len(v) for k, v in SyntheticSpeechConfig().factor_names().items()}
        print(f"log-mel mean/std + logistic regression, {args.num_clips} train / {args.num_clips} test clips:")
        for factor, acc in log_mel_baseline(args.num_clips).items():
            print(f"  {factor:<11} accuracy {acc:.3f}   (chance {chance[factor]:.3f})")
    if args.cnn:
        print(f"small CNN on log-mels, {args.num_clips} train clips, {args.cnn_epochs} epochs:")
        for factor, acc in cnn_learnability(args.num_clips, args.cnn_epochs).items():
            print(f"  {factor:<11} accuracy {acc:.3f}")
    pin_to_one_core()
    wall, cpu = clips_per_second(args.batch_size, args.repeats)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"synthetic corpus, one core, 1-s clips, batch {args.batch_size} (load average {load:.1f}):")
    print(
        f"  {cpu:,.0f} clips per CPU-second: {cpu / TARGET_CLIPS_PER_SECOND:.2f}x "
        f"the {TARGET_CLIPS_PER_SECOND:,.0f} clips/s target"
    )
    print(
        f"  {wall:,.0f} clips per wall-second: {wall / TARGET_CLIPS_PER_SECOND:.2f}x "
        "(lower when other jobs share the core)"
    )


if __name__ == "__main__":
    main()
