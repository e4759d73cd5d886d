"""Frame embeddings on an absolute time grid: what the HEAR API (`hear.py`) and the s3prl upstream (`s3prl.py`) share.

The encoder sees back-to-back 1-s segments; segment k of a clip starts at sample `k * segment_samples`. In a hidden
state `(channels, freq', frames')` of that segment, frame j is centred on sample
`k * segment_samples + j * stride * hop_length`: the STFT frames are centred (frame i on sample i * hop_length) and
every ResNet convolution and pooling is padded by half its kernel, so a layer of time stride s puts frame j over STFT
frame s * j. `time_strides` gives s for every hidden state: 4 for the stem (its 7x7 convolution and its max pool each
halve time), then x2 per stage (except the first, unless `downsample_in_first_stage`). With the default 8-ms hop
that is 32 ms for the stem and ResNet-50's first stage, then 64, 128 and 256 ms.

A frame's embedding keeps frequency: the map is averaged into `bands` equal frequency bands, giving
`channels * bands` numbers per frame (the per-frame form of `pooling="time_mean"`: their mean over a segment's frames
is `pool_feature_map(map, "time_mean", bands)`). The frames of all segments of a clip are then interpolated linearly
in time onto one uniform grid (sample 0, `frame_hop`, 2 * `frame_hop`, ...), so a coarse layer still gives a frame
every `frame_hop` samples and every layer shares one frame rate.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .feature_extraction_barlow import BarlowSpeechFeatureExtractor, pad_segments
from .modeling_barlow import BarlowSpeechModel, band_feature_map
from .repo_folder import load_pretrained


def time_strides(model: BarlowSpeechModel) -> list[int]:
    """Time stride, in STFT frames, of every entry of `hidden_states`: the stem, then each stage."""
    backbone = model.config.backbone_config
    strides = [4]
    for stage in range(len(backbone.hidden_sizes)):
        strides.append(strides[-1] * (2 if stage > 0 or backbone.downsample_in_first_stage else 1))
    return strides


def frame_features(feature_map: torch.Tensor, bands: int) -> torch.Tensor:
    """`(n, channels, freq', frames')` -> `(n, frames', channels * bands)`: frequency averaged into `bands` bands.

    Channel-major like `pool_feature_map`, so the mean over frames equals its `"time_mean"` vector.
    """
    return band_feature_map(feature_map, bands).flatten(1, 2).transpose(1, 2)


def resample_frames(
    frames: torch.Tensor, num_segments: torch.Tensor, frame_samples: int, segment_samples: int, grid: torch.Tensor
) -> torch.Tensor:
    """Interpolate per-segment frames linearly in time onto sample positions.

    Args:
        frames: `(clips, segments, frames', dim)`; segments after a clip's `num_segments` are padding, never read.
        num_segments: `(clips,)` real segments of each clip.
        frame_samples: samples between consecutive frame centres of a segment (stride * hop_length).
        segment_samples: samples between segment starts.
        grid: `(steps,)` increasing sample positions, from 0.

    Returns:
        `(clips, steps, dim)`; a position after a clip's last frame centre takes that frame's value.
    """
    clips, segments, per_segment, dim = frames.shape
    device = frames.device
    centres = (
        torch.arange(segments, device=device)[:, None] * segment_samples
        + torch.arange(per_segment, device=device) * frame_samples
    ).flatten()
    last = (num_segments.to(device) * per_segment - 1)[:, None]
    lo = torch.minimum((torch.searchsorted(centres, grid, right=True) - 1).clamp_min(0)[None], last)
    hi = torch.minimum(lo + 1, last)
    weight = ((grid[None] - centres[lo]) / (centres[hi] - centres[lo]).clamp_min(1)).clamp(0, 1) * (hi > lo)
    weight = weight.unsqueeze(-1).to(frames.dtype)
    flat = frames.reshape(clips, segments * per_segment, dim)
    rows = torch.arange(clips, device=device)[:, None]
    return flat[rows, lo] * (1 - weight) + flat[rows, hi] * weight


@dataclass
class FrameEncoding:
    """
    Args:
        pooler_output: `(clips, hidden)` the model's `pooler_output` (mean over the clip's segments).
        frames: one `(clips, steps, dim)` float32 tensor per requested layer, zeros after a clip's `num_frames`.
        num_frames: `(clips,)` long, `ceil(length / frame_hop)`: the grid positions inside each clip.
        positions: `(steps,)` long sample position of every grid step (`step * frame_hop`).
    """

    pooler_output: torch.Tensor
    frames: list[torch.Tensor]
    num_frames: torch.Tensor
    positions: torch.Tensor


def encode_frames(
    model: BarlowSpeechModel,
    feature_extractor: BarlowSpeechFeatureExtractor,
    audio: torch.Tensor | Sequence[torch.Tensor],
    layers: Sequence[int],
    bands: Sequence[int],
    frame_hop: int,
    chunk_segments: int = 32,
) -> FrameEncoding:
    """Encode clips of any length on the model's device, `chunk_segments` segments per forward pass.

    Args:
        audio: `(clips, samples)` or a list of 1-D clips of any lengths, at the extractor's rate.
        layers: indices into `hidden_states` (0 the stem, -1 the last stage) whose frames to return.
        bands: frequency bands per layer (`frame_features`).
        frame_hop: grid step in samples.

    Memory holds one chunk's segments and activations plus the native-rate frames of the requested layers, so 20
    minutes of audio cost what 32 s do, plus the output. Segments are encoded independently, so a clip's result does
    not depend on the other clips of the call.
    """
    if feature_extractor.segment_overlap != 0 or feature_extractor.last_segment != "pad":
        raise ValueError(
            f"segment_overlap={feature_extractor.segment_overlap}, last_segment={feature_extractor.last_segment!r}: "
            "frame times need back-to-back segments that cover the whole clip; load the extractor with "
            "segment_overlap=0.0 and last_segment='pad' (`load_encoder` does)."
        )
    if isinstance(chunk_segments, bool) or not isinstance(chunk_segments, int) or chunk_segments < 1:
        raise ValueError(f"chunk_segments={chunk_segments!r} must be a positive int (segments per forward pass).")
    device = model.device
    lengths = [clip.shape[-1] for clip in audio]
    pooled, per_layer, owners = [], [[] for _ in layers], []
    for segments, chunk_owners, _ in feature_extractor.segment_chunks(audio, chunk_segments, device):
        spectrograms = feature_extractor.spectrogram(segments).to(model.dtype)
        outputs = model(spectrograms, output_hidden_states=True)  # (chunk, 1 segment, freq, frames) per row
        pooled.append(outputs.pooler_output.float())
        owners.append(chunk_owners)
        for store, layer, layer_bands in zip(per_layer, layers, bands):
            store.append(frame_features(outputs.hidden_states[layer][:, 0].float(), layer_bands))
    owners = torch.cat(owners)
    num_clips = len(lengths)
    pooled, mask = pad_segments(torch.cat(pooled), owners, num_clips)
    num_segments = mask.sum(1)
    lengths = torch.tensor(lengths, device=device)
    num_frames = torch.div(lengths + frame_hop - 1, frame_hop, rounding_mode="floor")
    positions = torch.arange(math.ceil(int(lengths.max()) / frame_hop), device=device) * frame_hop
    inside = (positions[None] < lengths[:, None]).unsqueeze(-1)
    strides = time_strides(model)
    frames = []
    for store, layer in zip(per_layer, layers):
        padded, _ = pad_segments(torch.cat(store), owners, num_clips)
        frame_samples = strides[layer] * feature_extractor.hop_length
        resampled = resample_frames(padded, num_segments, frame_samples, feature_extractor.segment_samples, positions)
        frames.append(resampled * inside)
    return FrameEncoding(pooled.sum(1) / num_segments[:, None], frames, num_frames, positions)


def load_encoder(checkpoint: str, **kwargs) -> tuple[BarlowSpeechModel, BarlowSpeechFeatureExtractor]:
    """The encoder (eval mode) and its feature extractor from a local folder or a Hub id (`load_pretrained`: errors
    name a missing folder and the fix).

    The extractor cuts clips into back-to-back segments with a padded last one, whatever the checkpoint's segmentation,
    so that frame times follow from segment indices. `kwargs` go to both `from_pretrained` calls (revision, token,
    cache_dir, ...).
    """
    model = load_pretrained(BarlowSpeechModel, checkpoint, **kwargs).eval()
    extractor = load_pretrained(
        BarlowSpeechFeatureExtractor, checkpoint, segment_overlap=0.0, last_segment="pad", **kwargs
    )
    return model, extractor


__all__ = [
    "FrameEncoding",
    "encode_frames",
    "frame_features",
    "load_encoder",
    "resample_frames",
    "time_strides",
]
