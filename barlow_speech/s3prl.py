"""An s3prl upstream over the encoder, for SUPERB (Yang et al. 2021) and every s3prl downstream task.

`UpstreamExpert(ckpt)` follows s3prl's upstream interface (`s3prl/upstream/example/expert.py`): `forward` takes a
list of unpadded 16 kHz waveforms and returns `hidden_states`, the stem and every ResNet stage as
`(batch, frames, dim)`. SUPERB's learned weighted sum stacks the layers, so all of them share:

- one frame rate: every layer's frames are interpolated in time onto the stem's own grid (one frame per
  `4 * hop_length` samples: 512 samples = 32 ms with the default front end; `get_downsample_rates`), the frames of
  consecutive 1-s segments placed at their absolute times (`barlow_speech.frames`). A clip of n samples has
  `ceil(n / 512)` frames; frames after its end are zeros, and a clip's frames do not depend on the other clips.
- one width: a layer with c channels keeps `max_channels * bands / c` frequency bands per frame, so channels x
  bands is the same for every layer (ResNet-50, bands 4: stem 64 x 128, then 256 x 32, 512 x 16, 1024 x 8,
  2048 x 4 = 8192); a width that does not divide is zero-padded.

Register it in an s3prl checkout as the README shows ("Use it in SUPERB (s3prl)"), then
`python run_downstream.py -m train -u barlow_speech_local -k <checkpoint folder or Hub id> -d <task> -n <name>`.
"""

import yaml
from torch import Tensor, nn

from .frames import encode_frames, load_encoder, time_strides

# Keys a `-g` model_config YAML may set (the same as the keyword arguments).
MODEL_CONFIG_KEYS = ("bands", "chunk_segments")


class UpstreamExpert(nn.Module):
    """s3prl upstream: every hidden state of a `BarlowSpeechModel` as `(batch, frames, dim)` on one frame grid.

    Args:
        ckpt: a `save_pretrained` folder (`barlow-speech pretrain` output) or a Hub id (s3prl's `-k`).
        model_config: optional YAML file (s3prl's `-g`) setting `bands` and/or `chunk_segments`.
        bands: frequency bands of the last (widest) layer (default its `config.layer_bands`); sets every layer's width.
        chunk_segments: 1-s segments per forward pass.
        kwargs: what s3prl adds to every upstream (e.g. `refresh`); not used.

    The encoder follows the module's train/eval mode: call `.eval()` (s3prl does for a frozen upstream) so that
    BatchNorm uses its running statistics and a clip's features do not depend on its batch.
    """

    def __init__(
        self,
        ckpt: str,
        model_config: str | None = None,
        bands: int | None = None,
        chunk_segments: int | None = None,
        **kwargs,
    ):
        super().__init__()
        options = {}
        if model_config:
            with open(model_config) as file:
                options = yaml.safe_load(file) or {}
            unknown = sorted(set(options) - set(MODEL_CONFIG_KEYS))
            if unknown:
                raise ValueError(
                    f"model_config {model_config} sets {unknown}; an s3prl model_config for barlow-speech may set "
                    f"only {list(MODEL_CONFIG_KEYS)}."
                )
        self.model, self.feature_extractor = load_encoder(ckpt)
        bands = bands if bands is not None else options.get("bands", self.model.config.layer_bands[-1])
        if isinstance(bands, bool) or not isinstance(bands, int) or bands < 1:
            raise ValueError(f"bands={bands!r} must be an int >= 1 (frequency bands of the widest layer).")
        self.chunk_segments = chunk_segments if chunk_segments is not None else options.get("chunk_segments", 32)
        channels = self.model.config.layer_channels
        self.hidden_size = max(channels) * bands
        self.layer_bands = [self.hidden_size // c for c in channels]
        self.frame_hop = time_strides(self.model)[0] * self.feature_extractor.hop_length

    def get_downsample_rates(self, key: str) -> int:
        """Waveform samples per frame, the same for every key and layer: a clip of n samples has ceil(n / rate)."""
        return self.frame_hop

    def forward(self, wavs: list[Tensor]) -> dict[str, list[Tensor] | Tensor]:
        """Unpadded 1-D 16 kHz waveforms -> `hidden_states`: `len(hidden_states)` tensors `(batch, frames, dim)`
        (stem, then each stage), zeros after each clip's `ceil(length / rate)` frames; `last_hidden_state` is the
        last of them."""
        encoding = encode_frames(
            self.model,
            self.feature_extractor,
            list(wavs),
            range(len(self.layer_bands)),
            self.layer_bands,
            self.frame_hop,
            self.chunk_segments,
        )
        hidden_states = [
            nn.functional.pad(frames, (0, self.hidden_size - frames.shape[-1])) for frames in encoding.frames
        ]
        return {"hidden_states": hidden_states, "last_hidden_state": hidden_states[-1]}


def barlow_speech_local(ckpt: str, *args, **kwargs) -> UpstreamExpert:
    """s3prl hub entry (a `hubconf.py` function): `-u barlow_speech_local -k <checkpoint folder or Hub id>`."""
    return UpstreamExpert(ckpt, *args, **kwargs)


__all__ = ["UpstreamExpert", "barlow_speech_local"]
