"""Named recipes: the backbone presets and the small CPU encoder of the demo and of the shipped `bt-small`.

One definition each, imported by the model family (`barlow_speech.model_family`), the demo (`DemoSettings`' defaults),
`barlow-speech pretrain` (`--backbone`, and its defaults per backbone: `PRETRAINING_DEFAULTS`) and the tests. A recipe
is data: `BarlowSpeechConfig` keyword arguments and the front end of its `BarlowSpeechFeatureExtractor`.

    >>> from barlow_speech import BarlowSpeechConfig
    >>> from barlow_speech.recipes import BT_SMALL
    >>> config, extractor = BarlowSpeechConfig(**BT_SMALL.config_kwargs()), BT_SMALL.feature_extractor()
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .feature_extraction_barlow import BarlowSpeechFeatureExtractor

# Backbone presets: the paper's ResNet-50 and smaller ResNets for CPUs and quick experiments.
BACKBONES: dict[str, dict[str, Any]] = {
    "resnet50": {
        "layer_type": "bottleneck",
        "depths": [3, 4, 6, 3],
        "hidden_sizes": [256, 512, 1024, 2048],
        "embedding_size": 64,
    },
    "resnet18": {
        "layer_type": "basic",
        "depths": [2, 2, 2, 2],
        "hidden_sizes": [64, 128, 256, 512],
        "embedding_size": 64,
    },
    "small": {"layer_type": "basic", "depths": [1, 1, 1], "hidden_sizes": [32, 64, 128], "embedding_size": 16},
    "tiny": {"layer_type": "basic", "depths": [1, 1], "hidden_sizes": [8, 16], "embedding_size": 8},
}


@dataclass(frozen=True)
class PretrainingDefaults:
    """What `barlow-speech pretrain` uses for a backbone where the user set no flag (command line or `--config`).

    Args:
        max_steps: optimiser steps (only when neither `--max_steps` nor `--num_train_epochs` is given).
        learning_rate: AdamW's peak learning rate.
        per_device_train_batch_size: segments per step and device.
        latent_size: the projector's width, scaled to the backbone's: 4 x its last stage's channels, at most the
            paper's 2048.
    """

    max_steps: int
    learning_rate: float
    per_device_train_batch_size: int
    latent_size: int

    def flags(self) -> dict[str, Any]:
        """The defaults as `barlow-speech pretrain` flag -> value."""
        return dataclasses.asdict(self)


def _latent_size(backbone: str) -> int:
    return min(4 * BACKBONES[backbone]["hidden_sizes"][-1], 2048)


# Per backbone: the paper's batch (64) for the ResNets, the demo's and bt-small's recipe (AdamW 2e-3, batch 64, 300
# steps in the demo, 9,000 for bt-small) for `small`, a few minutes on a CPU for `tiny`; the ResNets' learning rate
# and steps are a starting point (the paper states neither), not a measured optimum.
PRETRAINING_DEFAULTS: dict[str, PretrainingDefaults] = {
    "resnet50": PretrainingDefaults(20000, 1e-3, 64, _latent_size("resnet50")),
    "resnet18": PretrainingDefaults(10000, 1e-3, 64, _latent_size("resnet18")),
    "small": PretrainingDefaults(3000, 2e-3, 64, _latent_size("small")),
    "tiny": PretrainingDefaults(300, 2e-3, 32, _latent_size("tiny")),
}


@dataclass(frozen=True)
class EncoderRecipe:
    """An encoder's architecture (`config_kwargs`) and its front end (`feature_extractor`).

    Args:
        backbone: a key of `BACKBONES`.
        latent_size: width of each of the projector's three layers (latent m).
        pooling, pooling_bands, projector_input, pooler_layers: the `BarlowSpeechConfig` fields of the same names
            (`pooler_layers` None: the config's default, the last stage).
        n_fft, hop_length, n_mels: the front end (`n_mels` None: linear bins).
    """

    backbone: str
    latent_size: int
    loss_variant: str
    pooling: str
    pooling_bands: int | tuple[int, ...]
    projector_input: str
    n_fft: int
    hop_length: int
    n_mels: int | None
    pooler_layers: tuple[int, ...] | None = None

    def feature_extractor(self) -> BarlowSpeechFeatureExtractor:
        """The recipe's front end (normalisation not fitted yet)."""
        return BarlowSpeechFeatureExtractor(n_fft=self.n_fft, hop_length=self.hop_length, n_mels=self.n_mels)

    def config_kwargs(self) -> dict[str, Any]:
        """`BarlowSpeechConfig` keyword arguments of the recipe's architecture (pretraining heads: Barlow Twins)."""
        kwargs = {
            "backbone_config": dict(BACKBONES[self.backbone]),
            "projector_dims": [self.latent_size] * 3,
            "loss_variant": self.loss_variant,
            "pooling": self.pooling,
            "pooling_bands": self.pooling_bands,  # the config stores a per-layer tuple as a list
            "projector_input": self.projector_input,
            "num_frequency_bins": self.feature_extractor().num_bins,  # the model checks its input against this
        }
        if self.pooler_layers is not None:
            kwargs["pooler_layers"] = list(self.pooler_layers)
        return kwargs


# The small CPU encoder of `barlow-speech demo` (the family member `bt-small-synthetic`), chosen by the ablations of
# docs/representations.md: a ResNet 32-64-128 on 128 log-mel bands (32-ms window, hop 16 ms: 128 x 63 per second);
# frequency-preserving pooling in bands of at most each map's frequency rows for 128 mels (32, 32, 16, 8: more bands
# would repeat rows; "Ablation 3"); a projector that reads every layer's pooled vector, so the loss trains the early
# layers the probes choose directly ("Ablation 5").
SMALL_ENCODER = EncoderRecipe(
    backbone="small",
    latent_size=512,
    loss_variant="mbt_bn",
    pooling="time_mean_std",
    pooling_bands=(16, 16, 16, 8),
    projector_input="all_layers",
    n_fft=512,
    hop_length=256,
    n_mels=128,
)
# The shipped `bt-small` (`barlow_speech.pretrained("bt-small")`): the same encoder, whose default embedding
# (`pooler_output`) concatenates every layer's pooled vector, pretrained on the multilingual speech corpus
# (`tts_speech`) by configs/upstream/bt-small.yaml.
BT_SMALL = dataclasses.replace(SMALL_ENCODER, pooler_layers=(0, 1, 2, 3))

__all__ = ["BACKBONES", "BT_SMALL", "PRETRAINING_DEFAULTS", "SMALL_ENCODER", "EncoderRecipe", "PretrainingDefaults"]
