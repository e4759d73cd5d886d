"""Dataset loaders: one module per dataset, each returning the common schema (schema.py).

`load_dataset_by_name("librispeech", source=..., subset="train-clean-100")` dispatches by name; each dataset's
special cases (splits, subsets, its folder under a data root) are in `registry.DATASETS`. `effects.py` holds the
waveform effects (equaliser, rooms, noise, ...) that the multilingual corpus and the pretraining views share.
"""

from __future__ import annotations

from .audio import BadFiles, SegmentConfig, decode_audio, resample, segment_waveform, to_mono
from .esd import load_esd
from .folder import load_audio_folder
from .librispeech import load_librispeech
from .registry import DATASET_NAMES, DATASETS, DatasetSpec, dataset_folder, dataset_spec, load_dataset_by_name
from .schema import common_features
from .speech_commands import load_speech_commands
from .synthetic import load_synthetic
from .tts_speech import TTSSpeechConfig, load_tts_speech
from .voxceleb1 import load_voxceleb1
from .wluc import load_wluc

__all__ = [
    "DATASETS",
    "DATASET_NAMES",
    "BadFiles",
    "DatasetSpec",
    "SegmentConfig",
    "TTSSpeechConfig",
    "common_features",
    "dataset_folder",
    "dataset_spec",
    "decode_audio",
    "load_audio_folder",
    "load_dataset_by_name",
    "load_esd",
    "load_librispeech",
    "load_speech_commands",
    "load_synthetic",
    "load_tts_speech",
    "load_voxceleb1",
    "load_wluc",
    "resample",
    "segment_waveform",
    "to_mono",
]
