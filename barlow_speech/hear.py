"""The HEAR 2021 API (Turian et al. 2022, "HEAR: Holistic Evaluation of Audio Representations") over the encoder.

```python
>>> from barlow_speech import hear
>>> model = hear.load_model("runs/bt-ls100")  # a save_pretrained folder or a Hub id; "" loads the shipped bt-small
>>> scene = hear.get_scene_embeddings(audio, model)  # audio (n_sounds, n_samples) at 16 kHz -> (n_sounds, 2048)
>>> embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)  # (n_sounds, steps, 8192), (n_sounds, steps)
```

- Scene embedding: the model's `pooler_output`, the mean over the clip's 1-s segments of each segment's pooled
  layers (`config.pooler_layers`, the last stage by default; `config.pooling`; 2048-d for ResNet-50 with the paper's
  global pooling, every layer of `bt-small`).
- Timestamp embeddings: frames of one hidden state (default the last stage), frequency kept as `bands` bands
  (`channels * bands` numbers, default that layer's `config.layer_bands`), interpolated linearly in time from the
  layer's own frame centres onto a uniform grid of `timestamp_hop_ms` (default 50 ms, the HEAR maximum).
  ResNet-50's last stage has one frame per 256 ms, so its frames are interpolated; pass `timestamp_layer=1` (32 ms,
  the first stage) for frames the encoder computed at that rate. Timestamp i is at `i * timestamp_hop_ms` ms, the
  centre of its frame, for every position inside the clip (`barlow_speech.frames` maps frames of consecutive
  segments to times).
- Any clip length (a clip shorter than a segment is zero-padded to one), batched on the model's device,
  `chunk_segments` segments per forward pass so that 20 minutes of audio fit in the memory 32 s need.
"""

import math

import torch
from torch import nn

from .feature_extraction_barlow import BarlowSpeechFeatureExtractor
from .frames import FrameEncoding, encode_frames, load_encoder
from .modeling_barlow import BarlowSpeechModel
from .shipped import pretrained

# HEAR 2021 rules: timestamp embeddings at most 50 ms apart.
MAX_TIMESTAMP_HOP_MS = 50.0


class HearEncoder(nn.Module):
    """A `BarlowSpeechModel` with its feature extractor and the HEAR attributes `sample_rate`,
    `scene_embedding_size` and `timestamp_embedding_size`.

    Args:
        timestamp_layer: index into `hidden_states` (0 the stem, -1 the last stage) whose frames give timestamps.
        timestamp_bands: frequency bands kept per frame (default: the timestamp layer's `config.layer_bands`).
        timestamp_hop_ms: spacing of timestamps, in (0, 50] ms.
        chunk_segments: 1-s segments per forward pass (bounds memory).
    """

    def __init__(
        self,
        model: BarlowSpeechModel,
        feature_extractor: BarlowSpeechFeatureExtractor,
        timestamp_layer: int = -1,
        timestamp_bands: int | None = None,
        timestamp_hop_ms: float = MAX_TIMESTAMP_HOP_MS,
        chunk_segments: int = 32,
    ):
        super().__init__()
        self.model = model
        self.feature_extractor = feature_extractor
        self.sample_rate = feature_extractor.sampling_rate
        hop = round(timestamp_hop_ms * self.sample_rate / 1000)
        if not 0 < timestamp_hop_ms <= MAX_TIMESTAMP_HOP_MS or hop < 1:
            raise ValueError(
                f"timestamp_hop_ms={timestamp_hop_ms} must be in (0, {MAX_TIMESTAMP_HOP_MS}] (HEAR asks for at most "
                "50 ms between timestamps) and at least one sample."
            )
        channels = model.config.layer_channels
        if not -len(channels) <= timestamp_layer < len(channels):
            raise ValueError(
                f"timestamp_layer={timestamp_layer} is not an index into the {len(channels)} hidden states "
                "(0 the stem, -1 the last stage)."
            )
        bands = model.config.layer_bands[timestamp_layer] if timestamp_bands is None else timestamp_bands
        if isinstance(bands, bool) or not isinstance(bands, int) or bands < 1:
            raise ValueError(f"timestamp_bands={timestamp_bands!r} must be an int >= 1 (frequency bands per frame).")
        self.timestamp_layer = timestamp_layer
        self.timestamp_bands = bands
        self.timestamp_hop = hop
        self.chunk_segments = chunk_segments
        self.scene_embedding_size = model.config.hidden_size
        self.timestamp_embedding_size = channels[timestamp_layer] * bands

    def encode(self, audio: torch.Tensor, layers: list[int]) -> FrameEncoding:
        """`encode_frames` of `(n_sounds, n_samples)` audio with this module's settings, without gradients.

        No sounds, `(0, n_samples)`, give empty results of the documented shapes (`n_sounds` = 0, the timestamps of
        `n_samples`): HEAR defines every output by its shape in `n_sounds`, so an empty batch is not an error.
        """
        if not isinstance(audio, torch.Tensor) or audio.ndim != 2:
            shape = tuple(audio.shape) if hasattr(audio, "shape") else type(audio).__name__
            raise ValueError(f"audio is {shape}; HEAR passes a (n_sounds, n_samples) tensor at {self.sample_rate} Hz.")
        if len(audio) == 0:
            return self._no_sounds(audio.shape[1], layers)
        with torch.no_grad():
            return encode_frames(
                self.model,
                self.feature_extractor,
                audio,
                layers,
                [self.timestamp_bands] * len(layers),
                self.timestamp_hop,
                self.chunk_segments,
            )

    def _no_sounds(self, num_samples: int, layers: list[int]) -> FrameEncoding:
        """What `encode` returns for zero sounds of `num_samples` samples: empty tensors of the documented shapes."""
        device = self.model.device
        positions = torch.arange(math.ceil(num_samples / self.timestamp_hop), device=device) * self.timestamp_hop
        channels = self.model.config.layer_channels
        return FrameEncoding(
            pooler_output=torch.zeros((0, self.scene_embedding_size), device=device),
            frames=[
                torch.zeros((0, len(positions), channels[layer] * self.timestamp_bands), device=device)
                for layer in layers
            ],
            num_frames=torch.zeros(0, dtype=torch.long, device=device),
            positions=positions,
        )


def load_model(model_file_path: str = "", **kwargs) -> HearEncoder:
    """Load a checkpoint folder (`barlow-speech pretrain` output, any `save_pretrained` folder) or a Hub id; an empty
    path loads the encoder shipped in the package, `bt-small` (`barlow_speech.pretrained`).

    Keyword arguments are `HearEncoder`'s (`timestamp_layer`, `timestamp_bands`, `timestamp_hop_ms`,
    `chunk_segments`); any others go to `from_pretrained` (`revision`, `token`, ...).
    """
    options = {
        name: kwargs.pop(name)
        for name in ("timestamp_layer", "timestamp_bands", "timestamp_hop_ms", "chunk_segments")
        if name in kwargs
    }
    model, feature_extractor = load_encoder(model_file_path or pretrained("bt-small"), **kwargs)
    return HearEncoder(model, feature_extractor, **options)


def get_scene_embeddings(audio: torch.Tensor, model: HearEncoder) -> torch.Tensor:
    """`(n_sounds, n_samples)` audio -> `(n_sounds, scene_embedding_size)` float32: the model's `pooler_output`
    (`(0, scene_embedding_size)` for no sounds)."""
    return model.encode(audio, layers=[]).pooler_output


def get_timestamp_embeddings(audio: torch.Tensor, model: HearEncoder) -> tuple[torch.Tensor, torch.Tensor]:
    """`(n_sounds, n_samples)` audio -> embeddings `(n_sounds, n_timestamps, timestamp_embedding_size)` float32 and
    timestamps `(n_sounds, n_timestamps)` in ms, the centre of each frame, `timestamp_hop_ms` apart from 0 (for no
    sounds, empty tensors with the `n_timestamps` of `n_samples`)."""
    encoding = model.encode(audio, layers=[model.timestamp_layer])
    timestamps = encoding.positions.float() * (1000.0 / model.sample_rate)
    return encoding.frames[0], timestamps.repeat(audio.shape[0], 1)


__all__ = ["HearEncoder", "get_scene_embeddings", "get_timestamp_embeddings", "load_model"]
