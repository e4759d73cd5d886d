"""Frozen-encoder embeddings for probes: batched on the model's device, one vector per utterance, cached on disk.

An utterance's embedding is the mean of its 1-s segment embeddings (`pooler_output`, one row per clip).
The cache key covers the model (its config and a hash of its weights), the feature extractor's settings, the dataset
fingerprint and the layer, so a changed model or dataset never reads a stale file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.schema import iter_clips
from ..feature_extraction_barlow import BarlowSpeechFeatureExtractor

logger = logging.getLogger(__name__)


def _model_fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _waveforms(audio: datasets.Dataset | Sequence[np.ndarray], sampling_rate: int) -> Iterable[np.ndarray]:
    """The clips of a common-schema dataset (checked to be at `sampling_rate`, streamed) or of a sequence of arrays."""
    return iter_clips(audio, sampling_rate) if isinstance(audio, datasets.Dataset) else audio


def cache_key(
    model: torch.nn.Module, extractor: BarlowSpeechFeatureExtractor, dataset_id: str, layer: int | None
) -> str:
    """Key of one (model weights + config, front end, dataset, layer) combination."""
    front_end = json.dumps(extractor.to_dict(), sort_keys=True, default=str)
    parts = [_model_fingerprint(model), hashlib.sha256(front_end.encode()).hexdigest()[:16], dataset_id, str(layer)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


def extract_embeddings(
    model: torch.nn.Module,
    extractor: BarlowSpeechFeatureExtractor,
    audio: datasets.Dataset | Sequence[np.ndarray],
    batch_size: int = 64,
    device: str | torch.device | None = None,
    layer: int | None = None,
    cache_dir: str | Path | None = None,
    dataset_id: str | None = None,
) -> np.ndarray:
    """Utterance embeddings `(utterances, hidden)` of a frozen encoder.

    Args:
        model: `BarlowSpeechModel` or any head model holding one as `.barlow`; its encoder is moved to `device` and
            put in eval mode (BatchNorm uses its running statistics), as a frozen encoder should be.
        extractor: the checkpoint's feature extractor.
        audio: a dataset in the common schema or a sequence of 16 kHz mono arrays.
        batch_size: utterances per forward pass.
        device: defaults to the model's device.
        layer: None for `pooler_output`; an index into `hidden_states` (0 = stem, -1 = last stage) for layer-wise
            probes, pooled like `pooler_output` (`config.pooling`).
        cache_dir: where to keep `<key>.npy`; needs `dataset_id` (or a `datasets.Dataset`, whose fingerprint is
            used) to name the data.
    """
    return extract_layer_embeddings(model, extractor, audio, [layer], batch_size, device, cache_dir, dataset_id)[0]


@torch.no_grad()
def extract_layer_embeddings(
    model: torch.nn.Module,
    extractor: BarlowSpeechFeatureExtractor,
    audio: datasets.Dataset | Sequence[np.ndarray],
    layers: Sequence[int | None] | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    dataset_id: str | None = None,
) -> list[np.ndarray]:
    """Utterance embeddings of several layers in one pass: a list of `(utterances, config.layer_sizes[k])`.

    `layers` holds indices into `hidden_states` (None = `pooler_output`); the default is every layer, stem first.
    Other arguments as `extract_embeddings`; each layer is cached on its own.
    """
    encoder = getattr(model, "barlow", model)
    layer_count = len(encoder.config.layer_sizes)
    layers = list(range(layer_count)) if layers is None else list(layers)
    bad = [layer for layer in layers if layer is not None and not -layer_count <= layer < layer_count]
    if bad:
        raise ValueError(
            f"layers {bad} do not exist: the encoder has {layer_count} (0 = stem, {layer_count - 1} = last)."
        )
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    encoder = encoder.to(device).eval()
    cache_files: list[Path | None] = [None] * len(layers)
    if cache_dir is not None:
        dataset_id = dataset_id or (audio._fingerprint if isinstance(audio, datasets.Dataset) else None)
        if dataset_id is None:
            raise ValueError("caching embeddings of a plain list needs dataset_id= to name the data.")
        cache_files = [Path(cache_dir) / f"{cache_key(encoder, extractor, dataset_id, layer)}.npy" for layer in layers]
        if all(file.is_file() for file in cache_files):
            logger.info(f"reading cached embeddings from {cache_dir}")
            return [np.load(file) for file in cache_files]
    outputs: list[list[np.ndarray]] = [[] for _ in layers]
    hidden = any(layer is not None for layer in layers)
    batch: list[np.ndarray] = []

    def flush(batch: list[np.ndarray]) -> None:
        features = extractor(batch, sampling_rate=extractor.sampling_rate, return_tensors="pt", device=device)
        result = encoder(**features, output_hidden_states=hidden)
        for output, layer in zip(outputs, layers):
            embeddings = result.pooler_output if layer is None else result.pooled_hidden_states[layer]
            output.append(embeddings.float().cpu().numpy())

    clips = _waveforms(audio, extractor.sampling_rate)
    for waveform in tqdm(clips, total=len(audio), desc="embeddings", unit="clip", leave=False):
        batch.append(waveform)
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    if not outputs[0]:
        raise ValueError("no audio to embed: the dataset is empty.")
    embeddings = [np.concatenate(output) for output in outputs]
    for file, array in zip(cache_files, embeddings):
        if file is not None:
            file.parent.mkdir(parents=True, exist_ok=True)
            np.save(file, array)
    return embeddings
