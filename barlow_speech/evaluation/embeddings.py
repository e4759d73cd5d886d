"""Frozen-encoder embeddings for probes: batched on the model's device, one vector per utterance, cached on disk.

An utterance's embedding is the mean of its 1-s segment embeddings (`pooler_output`, one row per clip).
The cache key covers the model (its config and a hash of its weights), the feature extractor's settings, the dataset
fingerprint and the layer, so a changed model or dataset never reads a stale file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Iterable, Sequence

import datasets
import numpy as np
import torch
from tqdm.auto import tqdm

from ..feature_extraction_barlow import BarlowSpeechFeatureExtractor

logger = logging.getLogger(__name__)


def _model_fingerprint(model: torch.nn.Module) -> str:
    digest = hashlib.sha256(json.dumps(model.config.to_dict(), sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _waveforms(audio: datasets.Dataset | Sequence[np.ndarray], sampling_rate: int) -> Iterable[np.ndarray]:
    """The clips of a common-schema dataset (checked to be at `sampling_rate`) or of a sequence of arrays."""
    if not isinstance(audio, datasets.Dataset):
        yield from audio
        return
    for index, example in enumerate(audio.select_columns(["audio"])):
        rate = example["audio"].get("sampling_rate", sampling_rate)
        if rate != sampling_rate:
            raise ValueError(
                f"example {index} is sampled at {rate} Hz but the model expects {sampling_rate} Hz; load the dataset "
                f"with a barlow_speech loader (they resample) or resample to {sampling_rate} Hz."
            )
        yield np.asarray(example["audio"]["array"], dtype=np.float32)


def cache_key(model: torch.nn.Module, extractor: BarlowSpeechFeatureExtractor, dataset_id: str, layer: int | None) -> str:
    """Key of one (model weights + config, front end, dataset, layer) combination."""
    front_end = json.dumps(extractor.to_dict(), sort_keys=True, default=str)
    parts = [_model_fingerprint(model), hashlib.sha256(front_end.encode()).hexdigest()[:16], dataset_id, str(layer)]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]


@torch.no_grad()
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
        layer: None for `pooler_output`; an index into `hidden_states` (0 = stem) for layer-wise probes, averaged
            over frequency and time.
        cache_dir: where to keep `<key>.npy`; needs `dataset_id` (or a `datasets.Dataset`, whose fingerprint is
            used) to name the data.
    """
    encoder = getattr(model, "barlow", model)
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    encoder = encoder.to(device).eval()
    cache_file = None
    if cache_dir is not None:
        dataset_id = dataset_id or (audio._fingerprint if isinstance(audio, datasets.Dataset) else None)
        if dataset_id is None:
            raise ValueError("caching embeddings of a plain list needs dataset_id= to name the data.")
        cache_file = Path(cache_dir) / f"{cache_key(encoder, extractor, dataset_id, layer)}.npy"
        if cache_file.is_file():
            logger.info(f"reading cached embeddings {cache_file}")
            return np.load(cache_file)
    outputs: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    total = len(audio)

    def flush(batch: list[np.ndarray]) -> None:
        features = extractor(batch, sampling_rate=extractor.sampling_rate, return_tensors="pt", device=device)
        result = encoder(**features, output_hidden_states=layer is not None)
        if layer is None:
            embeddings = result.pooler_output
        else:
            # (batch, segments, channels, freq', frames') -> mean over frequency, time and the real segments.
            mask = features["attention_mask"].to(result.hidden_states[layer].dtype)
            per_segment = result.hidden_states[layer].mean(dim=(3, 4))
            embeddings = (per_segment * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        outputs.append(embeddings.float().cpu().numpy())

    for waveform in tqdm(_waveforms(audio, extractor.sampling_rate), total=total, desc="embeddings", unit="clip", leave=False):
        batch.append(waveform)
        if len(batch) == batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    if not outputs:
        raise ValueError("no audio to embed: the dataset is empty.")
    embeddings = np.concatenate(outputs)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache_file, embeddings)
    return embeddings
