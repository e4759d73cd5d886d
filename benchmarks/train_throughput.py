"""Barlow Twins step vs the bare backbone forward/backward on the same two-view batch, measured in the same run.

BT step (what `barlow-speech pretrain` runs each step, through BarlowTwinsTrainer's own code): move the waveforms to
the device, draw two augmented views and their log-spectrograms (`make_views`), forward both views through the
backbone and the projector, Barlow Twins loss, backward, gradient clipping, optimizer step.
Bare step: the same model's backbone forward on both (pre-computed) views and backward, nothing else.

Prints samples/s of both (a sample = one clip, two views), their ratio (issue 8 target >= 0.9x on a GPU), peak memory
(torch.cuda.max_memory_allocated on CUDA, peak RSS of the process on CPU), model FLOPs per sample
(torch.utils.flop_counter) and, on CUDA, model FLOPs utilisation against the GPU's dense peak.

    python benchmarks/train_throughput.py                                   # CPU, tiny ResNet, seconds
    python benchmarks/train_throughput.py --device cuda --backbone resnet50 --latent-size 2048 \\
        --batch-size 64 128 256 --bf16 --channels-last --compile           # paper scale on a GPU
    python benchmarks/train_throughput.py --backbone resnet50 --batch-size 4 --profile   # where CPU time goes
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import TrainingArguments

from barlow_speech.feature_extraction_barlow import BarlowSpeechFeatureExtractor
from barlow_speech.modeling_barlow import BarlowSpeechForPreTraining
from barlow_speech.recipes import BACKBONES
from barlow_speech.training.pretrain import ModelArguments
from barlow_speech.training.trainer import BarlowTwinsArguments, BarlowTwinsTrainer

# Dense peak tensor throughput (TFLOP/s) by GPU name fragment: (bf16, tf32). NVIDIA data sheets, SXM parts.
PEAK_TFLOPS = {
    "H200": (989.0, 494.0),
    "H100": (989.0, 494.0),
    "A100": (312.0, 156.0),
    "L40S": (362.0, 183.0),
    "A10G": (70.0, 35.0),
    "L4": (121.0, 60.0),
}
TARGET_RATIO = 0.9


@dataclass
class Measurement:
    """Throughput and memory of one kind of step."""

    samples_per_second: float
    peak_memory_bytes: int
    baseline_memory_bytes: int
    flops_per_step: int


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak_memory(device: torch.device) -> None:
    """Start a fresh peak: CUDA allocator statistics, or the process's peak RSS (Linux /proc/self/clear_refs)."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    with contextlib.suppress(OSError):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")


def _proc_status_bytes(field: str) -> int | None:
    with contextlib.suppress(OSError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    return None


def current_memory(device: torch.device) -> int:
    """Bytes in use now: CUDA memory_allocated, or the process's resident set (VmRSS)."""
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    return _proc_status_bytes("VmRSS") or 0


def peak_memory(device: torch.device) -> int:
    """Bytes: CUDA max_memory_allocated, or the process's peak resident set (VmHWM) since the last reset."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    peak = _proc_status_bytes("VmHWM")
    if peak is not None:
        return peak
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def count_flops(step: Callable[[], object]) -> int:
    """FLOPs of one call of `step` (matmuls and convolutions, forward and backward) by torch's FlopCounterMode."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def measure(step: Callable[[], object], batch_size: int, steps: int, warmup: int, device: torch.device) -> Measurement:
    """Run `warmup` untimed then `steps` timed calls of `step`; samples/s, peak memory and FLOPs per step."""
    for _ in range(warmup):
        step()
    synchronize(device)
    reset_peak_memory(device)
    baseline = current_memory(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    elapsed = time.perf_counter() - start
    memory = peak_memory(device)
    return Measurement(batch_size * steps / elapsed, memory, baseline, count_flops(step))


def build_trainer(
    backbone: str,
    batch_size: int,
    device: torch.device,
    output_dir: str,
    latent_size: int = 2048,
    bf16: bool = False,
    channels_last: bool = False,
    compile: bool = False,
    optimizer: str = "adamw",
    train_dataset=None,
    num_workers: int = 0,
) -> BarlowTwinsTrainer:
    """A BarlowTwinsTrainer configured as `barlow-speech pretrain` would be for these options (seed 0)."""
    args = TrainingArguments(
        output_dir=output_dir,
        per_device_train_batch_size=batch_size,
        bf16=bf16,
        use_cpu=device.type == "cpu",
        torch_compile=compile,
        report_to=[],
        seed=0,
        dataloader_num_workers=num_workers,
        dataloader_pin_memory=device.type == "cuda",
        dataloader_persistent_workers=num_workers > 0,
        dataloader_drop_last=True,
    )
    torch.manual_seed(0)
    model_args = ModelArguments(backbone=backbone, latent_size=latent_size)
    model = BarlowSpeechForPreTraining(model_args.build_config())
    return BarlowTwinsTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        feature_extractor=BarlowSpeechFeatureExtractor(),
        barlow_args=BarlowTwinsArguments(optimizer=optimizer, channels_last=channels_last),
    )


class BarlowTwinsStep:
    """One optimizer step of BarlowTwinsTrainer on a batch, as its training loop runs it.

    `trainer.training_step` (device copy, `make_views`, forward under the accelerator's autocast, loss, backward),
    then gradient clipping, the optimizer step and the callbacks' `on_optimizer_step` (`DinoTrainer`'s teacher EMA
    update; none for Barlow Twins). The model is prepared by the trainer's accelerator, so bf16 autocast and
    torch.compile (TrainingArguments.torch_compile) are applied exactly as in `trainer.train()`.
    """

    def __init__(self, trainer: BarlowTwinsTrainer):
        self.trainer = trainer
        trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps  # set by train()
        self.model = trainer.accelerator.prepare_model(trainer.model)
        self.optimizer = trainer.create_optimizer(trainer.model)

    def __call__(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        loss = self.trainer.training_step(self.model, batch)
        if self.trainer.args.max_grad_norm:
            self.trainer.accelerator.clip_grad_norm_(self.model.parameters(), self.trainer.args.max_grad_norm)
        self.optimizer.step()
        trainer = self.trainer
        trainer.control = trainer.callback_handler.on_optimizer_step(trainer.args, trainer.state, trainer.control)
        self.optimizer.zero_grad(set_to_none=True)
        return loss


def backbone_step(
    trainer: BarlowTwinsTrainer, view_a: torch.Tensor, view_b: torch.Tensor, compile: bool
) -> Callable[[], None]:
    """The bare reference: the trainer's backbone forward on both views (same autocast) and backward."""
    backbone = trainer.model.barlow
    forward = torch.compile(backbone) if compile else backbone
    autocast = torch.autocast(trainer.args.device.type, dtype=torch.bfloat16, enabled=trainer.args.bf16)

    def step() -> None:
        with autocast:
            pooled = forward(view_a).pooler_output.float().sum() + forward(view_b).pooler_output.float().sum()
        pooled.backward()
        backbone.zero_grad(set_to_none=True)

    return step


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available here; use --device cpu.")
    return device


def peak_tflops(device: torch.device, bf16: bool, override: float | None) -> float | None:
    """The GPU's dense peak for the compute dtype (bf16, or TF32 for fp32), None when unknown or on CPU."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for fragment, (bf16_peak, tf32_peak) in PEAK_TFLOPS.items():
        if fragment in name:
            return bf16_peak if bf16 else tf32_peak
    return None


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads, {os.cpu_count()} cores)"


def profile_step(step: Callable[[], object], rows: int) -> str:
    """torch.profiler table of one step, top `rows` ops by self CPU time (CUDA time too on a GPU)."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities) as prof:
        step()
    sort = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    return prof.key_averages().table(sort_by=sort, row_limit=rows)


def run_batch_size(args: argparse.Namespace, batch_size: int, device: torch.device, output_dir: str) -> dict:
    """Both measurements (alternating rounds, best of `--repeats`) for one batch size; prints its rows."""
    trainer = build_trainer(
        args.backbone,
        batch_size,
        device,
        output_dir,
        args.latent_size,
        args.bf16,
        args.channels_last,
        args.compile,
        args.optimizer,
    )
    step = BarlowTwinsStep(trainer)
    generator = torch.Generator().manual_seed(0)
    waveforms = 0.1 * torch.randn(batch_size, trainer.feature_extractor.segment_samples, generator=generator)
    batch = {"waveforms": waveforms.pin_memory() if device.type == "cuda" else waveforms}
    with torch.no_grad():
        view_a, view_b = trainer.make_views(waveforms.to(device))
    bare = backbone_step(trainer, view_a, view_b, args.compile)
    rounds = {"bt": [], "bare": [], "views": []}
    for _ in range(args.repeats):
        rounds["bare"].append(measure(bare, batch_size, args.steps, args.warmup, device))
        rounds["bt"].append(measure(lambda: step(batch), batch_size, args.steps, args.warmup, device))
    with torch.no_grad():
        views_only = measure(
            lambda: trainer.make_views(batch["waveforms"].to(device)), batch_size, args.steps, 1, device
        )
    best = {key: max(values, key=lambda m: m.samples_per_second) for key, values in rounds.items() if values}
    bt, reference = best["bt"], best["bare"]
    peak = peak_tflops(device, args.bf16, args.peak_tflops)
    print(f"batch {batch_size}:")
    for label, m in (("Barlow Twins step", bt), ("bare backbone fwd/bwd", reference)):
        achieved = m.flops_per_step * m.samples_per_second / batch_size
        mfu = (
            f"MFU {100 * achieved / (peak * 1e12):5.1f} %"
            if peak
            else f"{achieved / 1e9:8.1f} GFLOP/s (MFU: no peak known)"
        )
        print(
            f"  {label:<22} {m.samples_per_second:9.1f} samples/s   "
            f"peak memory {m.peak_memory_bytes / 2**20:7.0f} MiB "
            f"(+{(m.peak_memory_bytes - m.baseline_memory_bytes) / 2**20:.0f} during the steps)   "
            f"{m.flops_per_step / batch_size / 1e9:7.2f} GFLOP/sample   {mfu}"
        )
    views_share = bt.samples_per_second / views_only.samples_per_second
    print(
        f"  views only (augment + spectrogram): {views_only.samples_per_second:9.1f} samples/s "
        f"(~{100 * views_share:.0f} % of the BT step time)"
    )
    ratio = bt.samples_per_second / reference.samples_per_second
    print(f"  ratio BT step / bare backbone: {ratio:.2f}x (target >= {TARGET_RATIO}x on a GPU)")
    if args.profile:
        print(profile_step(lambda: step(batch), args.profile_rows))
    return {"batch_size": batch_size, "ratio": ratio, "bt": bt, "bare": reference}


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", choices=list(BACKBONES), default="tiny")
    parser.add_argument("--latent-size", type=int, default=256, help="projector width m (paper: 2048)")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[8], help="one or more per-device batch sizes")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before each round (more with --compile)")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds; the best round of each counts")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (TrainingArguments.bf16)")
    parser.add_argument("--channels-last", action="store_true", help="BarlowTwinsArguments.channels_last")
    parser.add_argument("--compile", action="store_true", help="TrainingArguments.torch_compile")
    parser.add_argument("--optimizer", choices=["adamw", "lars"], default="adamw")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--peak-tflops", type=float, default=None, help="override the GPU's dense peak for MFU")
    parser.add_argument("--profile", action="store_true", help="print a torch.profiler table of one BT step")
    parser.add_argument("--profile-rows", type=int, default=20)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    device = resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    print(
        f"device: {describe_device(device)}; backbone {args.backbone}, latent {args.latent_size}, "
        f"input 1x513x126, bf16={args.bf16}, channels_last={args.channels_last}, compile={args.compile}, "
        f"optimizer={args.optimizer}"
    )
    with tempfile.TemporaryDirectory() as output_dir:
        results = [run_batch_size(args, batch_size, device, output_dir) for batch_size in args.batch_size]
    if len(results) > 1:
        fastest = max(results, key=lambda r: r["bt"].samples_per_second)
        print(
            f"fastest batch size: {fastest['batch_size']} ({fastest['bt'].samples_per_second:.1f} BT samples/s, "
            f"ratio {fastest['ratio']:.2f}x)"
        )
    return results


if __name__ == "__main__":
    main()
