"""Small factories shared by the tests: tiny model configs, training arguments and generated audio."""

import numpy as np
from transformers import TrainingArguments

import barlow_speech
from barlow_speech.recipes import BACKBONES


def tiny_config(**overrides) -> barlow_speech.BarlowSpeechConfig:
    """A ResNet with two 1-block stages and a 32-d latent: milliseconds per step on CPU.

    It records no front end (`num_frequency_bins=None`, as configs saved before the field), since the tests pair tiny
    models with several extractors; pass `num_frequency_bins=extractor.num_bins` to have the model check its input.
    """
    fields = {"backbone_config": dict(BACKBONES["tiny"]), "projector_dims": [32, 32], "num_frequency_bins": None}
    fields.update(overrides)
    return barlow_speech.BarlowSpeechConfig(**fields)


# pretrain flags of a quiet CPU test run: no reporting, no progress bars, no checkpoints
QUIET_PRETRAIN_FLAGS = ["--use_cpu", "true", "--report_to", "none", "--save_strategy", "no", "--disable_tqdm", "true"]


def tiny_training_arguments(output_dir, max_steps: int) -> TrainingArguments:
    """CPU training arguments of the trainer tests: batch 8, a log every step, a checkpoint every 2 steps, seed 7
    (`max_steps=-1`: one epoch)."""
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=8,
        max_steps=max_steps,
        num_train_epochs=1,
        logging_steps=1,
        save_steps=2,
        save_strategy="steps",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        learning_rate=1e-3,
        seed=7,
    )


def tone_clips(num: int, seconds: float = 1.0, sampling_rate: int = 16000, seed: int = 0) -> list[np.ndarray]:
    """`num` float32 clips of noisy harmonic tones with random pitch: cheap audio with structure."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    clips = []
    for _ in range(num):
        f0 = rng.uniform(80, 300)
        clip = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6)) * 0.1
        clips.append((clip + 0.01 * rng.standard_normal(t.size)).astype(np.float32))
    return clips


def tiny_checkpoint(path, **overrides) -> str:
    """Save a tiny `BarlowSpeechModel` and a default feature extractor to `path`, as `save_pretrained` folders are;
    the model records the extractor's frequency rows."""
    extractor = barlow_speech.BarlowSpeechFeatureExtractor()
    config = tiny_config(**{"num_frequency_bins": extractor.num_bins, **overrides})
    barlow_speech.BarlowSpeechModel(config).save_pretrained(path)
    extractor.save_pretrained(path)
    return str(path)
