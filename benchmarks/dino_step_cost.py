"""DINO's pretraining step against Barlow Twins' on the demo's encoder, views and clips, measured in the same run.

Both steps go through their trainers' own code, the trainers `barlow-speech demo --compare_dino` trains
(`demo_trainer`): device copy, views (BT) or multi-crop (DINO), forward, loss, backward, gradient clipping, optimizer
step and the step's callbacks (DINO's teacher EMA update). Prints samples/s of each, the ratio BT / DINO (how many
times longer a DINO step takes), the ratio of their model FLOPs (torch's FlopCounterMode: the encoder work the crops
ask for), and where DINO's step goes: drawing its crops, the teacher's forward (no gradient), the EMA update, and the
rest (the student's forward and backward, the heads, the loss, the optimizer).

    python benchmarks/dino_step_cost.py                        # the demo's settings, CPU, about a minute
    python benchmarks/dino_step_cost.py --batch-size 8 --steps 2 --repeats 1
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import torch
from train_throughput import BarlowTwinsStep, count_flops, describe_device, measure

from barlow_speech.demo import DemoSettings, demo_trainer


def stage_rates(trainer, batch: dict[str, torch.Tensor], batch_size: int, steps: int) -> dict[str, float]:
    """Samples/s of DINO's stages alone on `batch`: its crops, the teacher's forward on the long crops, the EMA."""
    model, device = trainer.model, trainer.args.device
    waveforms = batch["waveforms"].to(device)
    with torch.no_grad():
        long, _ = trainer.make_views(waveforms)

    stages = {
        "crops": lambda: trainer.make_views(waveforms),
        "teacher forward": lambda: model.teacher_head(model.barlow.head_inputs(long)[0]),
        "teacher EMA update": lambda: model.update_teacher(0.99),
    }
    with torch.no_grad():
        rates = {name: measure(stage, batch_size, steps, 1, device) for name, stage in stages.items()}
    return {name: m.samples_per_second for name, m in rates.items()}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64, help="clips per step (the demo: 64)")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps before each round")
    parser.add_argument("--repeats", type=int, default=2, help="alternating rounds; the best round of each counts")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    settings = DemoSettings(batch_size=args.batch_size, pretrain_clips=args.batch_size)
    with tempfile.TemporaryDirectory() as folder:
        bt_trainer, _ = demo_trainer(settings, Path(folder))
        corpus, extractor = bt_trainer.train_dataset, bt_trainer.feature_extractor
        dino_trainer, _ = demo_trainer(settings, Path(folder), "dino", corpus, extractor)
        batch = bt_trainer.data_collator([corpus[i] for i in range(args.batch_size)])
        steps = {name: partial(BarlowTwinsStep(t), batch) for name, t in (("bt", bt_trainer), ("dino", dino_trainer))}
        dino_trainer.state.max_steps = settings.max_steps  # the teacher's momentum schedule
        device = bt_trainer.args.device
        rounds: dict[str, list[float]] = {"bt": [], "dino": []}
        for _ in range(args.repeats):
            for name, step in steps.items():
                rounds[name].append(measure(step, args.batch_size, args.steps, args.warmup, device).samples_per_second)
        flops = {name: count_flops(step) for name, step in steps.items()}
        stages = stage_rates(dino_trainer, batch, args.batch_size, args.steps)
    best = {name: max(values) for name, values in rounds.items()}
    crops = dino_trainer.augmentation.config
    print(
        f"device: {describe_device(device)}; the demo's encoder ({settings.backbone}), front end and views, batch "
        f"{args.batch_size} one-second clips; DINO: {crops.num_long} x {crops.long_seconds:g} s teacher and student "
        f"crops, {crops.num_short} x {crops.short_seconds:g} s student crops, K = {settings.dino_num_prototypes}"
    )
    for name, label in (("bt", "Barlow Twins step"), ("dino", "DINO step")):
        print(
            f"  {label:<18} {best[name]:8.1f} samples/s   {flops[name] / args.batch_size / 1e9:6.2f} GFLOP/sample   "
            f"rounds {', '.join(f'{r:.1f}' for r in rounds[name])}"
        )
    seconds_per_sample = 1 / best["dino"]
    print("  DINO's step, share of its time:")
    for name, rate in stages.items():
        print(f"    {name:<20} {100 / rate / seconds_per_sample:5.1f} %")
    rest = 1 - sum(1 / rate for rate in stages.values()) / seconds_per_sample
    print(f"    {'the rest':<20} {100 * rest:5.1f} % (student forward and backward, heads, loss, optimizer)")
    flop_ratio = flops["dino"] / flops["bt"]
    time_ratio = best["bt"] / best["dino"]
    print(f"  model FLOPs DINO / BT: {flop_ratio:.2f}x")
    print(f"  step time DINO / BT: {time_ratio:.2f}x")
    return {"time_ratio": time_ratio, "flop_ratio": flop_ratio, "stages": stages, "rest": rest}


if __name__ == "__main__":
    main()
