"""barlow-speech: Barlow Twins self-supervised speech representations (Brima et al. 2024) for the Hugging Face stack.

Importing the package registers the model with the Auto classes and marks every class for remote-code export, so a
`save_pretrained` folder carries `auto_map` and the self-contained modeling files and loads with
`trust_remote_code=True` in a Python that has never installed barlow_speech.

`BarlowTwinsTrainer` and `BarlowTwinsArguments` are loaded on first access (PEP 562 `__getattr__`): they import
`transformers.Trainer`, which costs seconds that a user who only loads a model should not pay.
"""

import importlib

from transformers import (
    AutoConfig,
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForPreTraining,
)

from .configuration_barlow import LOSS_VARIANTS, BarlowSpeechConfig
from .data_collator import BarlowSpeechDataCollator
from .feature_extraction_barlow import BarlowSpeechFeatureExtractor, log_spectrogram, pad_segments, segment_waveforms
from .modeling_barlow import (
    BarlowSpeechForAudioClassification,
    BarlowSpeechForPreTraining,
    BarlowSpeechModel,
    BarlowSpeechPreTrainedModel,
    barlow_twins_loss,
    cross_correlation,
    segments_and_mask,
)
from .modeling_dino import DinoSpeechForPreTraining, dino_loss
from .shipped import pretrained

__version__ = "0.1.0"

AutoConfig.register(BarlowSpeechConfig.model_type, BarlowSpeechConfig, exist_ok=True)
AutoModel.register(BarlowSpeechConfig, BarlowSpeechModel, exist_ok=True)
AutoModelForPreTraining.register(BarlowSpeechConfig, BarlowSpeechForPreTraining, exist_ok=True)
AutoModelForAudioClassification.register(BarlowSpeechConfig, BarlowSpeechForAudioClassification, exist_ok=True)
AutoFeatureExtractor.register(BarlowSpeechConfig, BarlowSpeechFeatureExtractor, exist_ok=True)

BarlowSpeechConfig.register_for_auto_class()
BarlowSpeechModel.register_for_auto_class("AutoModel")
BarlowSpeechForPreTraining.register_for_auto_class("AutoModelForPreTraining")
BarlowSpeechForAudioClassification.register_for_auto_class("AutoModelForAudioClassification")
BarlowSpeechFeatureExtractor.register_for_auto_class("AutoFeatureExtractor")

# Public names imported on first access: {name: module}.
_LAZY_IMPORTS = {"BarlowTwinsArguments": ".training.trainer", "BarlowTwinsTrainer": ".training.trainer"}


def __getattr__(name: str) -> type:
    if name in _LAZY_IMPORTS:
        value = getattr(importlib.import_module(_LAZY_IMPORTS[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY_IMPORTS})


__all__ = [
    "LOSS_VARIANTS",
    "BarlowSpeechConfig",
    "BarlowSpeechDataCollator",
    "BarlowSpeechFeatureExtractor",
    "BarlowSpeechForAudioClassification",
    "BarlowSpeechForPreTraining",
    "BarlowSpeechModel",
    "BarlowSpeechPreTrainedModel",
    "BarlowTwinsArguments",
    "BarlowTwinsTrainer",
    "DinoSpeechForPreTraining",
    "barlow_twins_loss",
    "cross_correlation",
    "dino_loss",
    "log_spectrogram",
    "pad_segments",
    "pretrained",
    "segment_waveforms",
    "segments_and_mask",
]
