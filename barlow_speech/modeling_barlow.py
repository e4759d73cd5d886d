"""Barlow Twins speech encoder: ResNet over log-spectrograms, projector, and the Barlow Twins loss.

Brima et al. 2024, "Understanding Self-Supervised Learning of Speech Representation via Invariance and Redundancy
Reduction" (Information 15(2):114), Sec. 2.1, Eq. 1-2 and the loss ablation of Sec. 3.3; Zbontar et al. 2021,
"Barlow Twins: Self-Supervised Learning via Redundancy Reduction" (reference implementation: projector, lambda).

Self-contained (imports only torch, transformers and its sibling configuration file) so it can be shipped as remote
code.
"""

import warnings
from dataclasses import dataclass

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput, SequenceClassifierOutput
from transformers.modeling_utils import PreTrainedModel
from transformers.models.resnet.modeling_resnet import ResNetEmbeddings, ResNetEncoder

from .configuration_barlow import DEFAULT_FREQUENCY_BINS, LOSS_VARIANTS, BarlowSpeechConfig


@dataclass
class BarlowTwinsLossOutput(ModelOutput):
    """
    Args:
        loss: `()` scale * (invariance + lambda_offdiag * redundancy) (Eq. 1).
        invariance: `()` sum_i (1 - C_ii)^2.
        redundancy: `()` sum_{i != j} C_ij^2 (unweighted, so runs with different lambda compare).
        cross_correlation: `(latent, latent)` the matrix C, computed over the global batch.
    """

    loss: torch.Tensor | None = None
    invariance: torch.Tensor | None = None
    redundancy: torch.Tensor | None = None
    cross_correlation: torch.Tensor | None = None


def off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    """Flattened off-diagonal elements of a square `(d, d)` matrix (as in the reference Barlow Twins)."""
    d = matrix.shape[0]
    return matrix.flatten()[:-1].view(d - 1, d + 1)[:, 1:].flatten()


def _runs_distributed() -> bool:
    """Whether torch.distributed runs more than one process: the default of the pretraining models' `distributed`."""
    initialized = torch.distributed.is_available() and torch.distributed.is_initialized()
    return initialized and torch.distributed.get_world_size() > 1


def _global_sum(tensor: torch.Tensor, distributed: bool) -> torch.Tensor:
    """Sum over all processes, autograd-aware.

    A plain `torch.distributed.all_reduce` is not differentiable and leaves gradients world_size times too small
    once DDP averages them; the functional all_reduce sends the gradient back to every contributor.
    """
    if not distributed:
        return tensor
    import torch.distributed.nn.functional as dist_fn

    return dist_fn.all_reduce(tensor)


def cross_correlation(
    z_a: torch.Tensor, z_b: torch.Tensor, variant: str = "bt", eps: float = 1e-5, distributed: bool = False
) -> torch.Tensor:
    """The cross-correlation C `(latent, latent)` between two batches of latents `(batch, latent)`.

    Variants (paper Sec. 3.3): `bt` is Eq. 2 (columns divided by their L2 norm over the batch); `mbt_bn` standardises
    columns over the batch (BatchNorm without affine, the reference implementation) and divides by N; `mbt_ln`
    layer-normalises each latent vector, then applies Eq. 2; `mbt_bn_ln` layer-normalises, then standardises.
    With `distributed=True` every batch statistic is a sum over all processes, so C is that of the global batch.
    Computed in float32 whatever the autocast dtype.
    """
    if variant not in LOSS_VARIANTS:
        raise ValueError(f"variant={variant!r} is not one of {list(LOSS_VARIANTS)}.")
    if z_a.ndim != 2 or z_a.shape != z_b.shape:
        raise ValueError(f"z_a and z_b must both be (batch, latent); got {tuple(z_a.shape)} and {tuple(z_b.shape)}.")
    world_size = torch.distributed.get_world_size() if distributed else 1
    if z_a.shape[0] * world_size < 2:
        raise ValueError(
            f"the Barlow Twins loss needs at least 2 samples per (global) batch, got {z_a.shape[0] * world_size}; "
            "increase the batch size."
        )
    with torch.autocast(device_type=z_a.device.type, enabled=False):
        z_a, z_b = z_a.float(), z_b.float()
        # The global batch size as a tensor: no host sync, and uneven per-rank batches are counted exactly.
        n = _global_sum(torch.tensor(float(z_a.shape[0]), device=z_a.device), distributed)
        if variant in ("mbt_ln", "mbt_bn_ln"):
            z_a = nn.functional.layer_norm(z_a, z_a.shape[-1:], eps=eps)
            z_b = nn.functional.layer_norm(z_b, z_b.shape[-1:], eps=eps)
        if variant in ("mbt_bn", "mbt_bn_ln"):
            z_a, z_b = (_standardize_columns(z, n, eps, distributed) for z in (z_a, z_b))
            return _global_sum(z_a.T @ z_b, distributed) / n
        norm_a = _global_sum(z_a.square().sum(0), distributed).sqrt()
        norm_b = _global_sum(z_b.square().sum(0), distributed).sqrt()
        return _global_sum(z_a.T @ z_b, distributed) / (torch.outer(norm_a, norm_b) + eps)


def _standardize_columns(z: torch.Tensor, n: torch.Tensor, eps: float, distributed: bool) -> torch.Tensor:
    """BatchNorm1d(affine=False) in training mode over the (global) batch: biased variance, like torch's BN."""
    mean = _global_sum(z.sum(0), distributed) / n
    var = _global_sum((z - mean).square().sum(0), distributed) / n
    return (z - mean) / torch.sqrt(var + eps)


def barlow_twins_loss(
    z_a: torch.Tensor,
    z_b: torch.Tensor,
    lambda_offdiag: float = 5.1e-3,
    variant: str = "bt",
    eps: float = 1e-5,
    scale: float = 1.0,
    distributed: bool = False,
) -> BarlowTwinsLossOutput:
    """Barlow Twins loss (Eq. 1) of two views' latents `(batch, latent)`.

    L = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2, with C from `cross_correlation`. Under DDP pass
    `distributed=True`: C is then computed over the global batch and the gradients DDP averages equal those of one
    process holding the whole batch.

    Example:
    ```python
    >>> z_a, z_b = torch.randn(64, 2048), torch.randn(64, 2048)
    >>> out = barlow_twins_loss(z_a, z_b, lambda_offdiag=5.1e-3, variant="mbt_bn")
    >>> out.loss, out.invariance, out.redundancy
    ```
    """
    c = cross_correlation(z_a, z_b, variant=variant, eps=eps, distributed=distributed)
    invariance = (1 - torch.diagonal(c)).square().sum()
    redundancy = off_diagonal(c).square().sum()
    loss = scale * (invariance + lambda_offdiag * redundancy)
    return BarlowTwinsLossOutput(loss=loss, invariance=invariance, redundancy=redundancy, cross_correlation=c)


def band_feature_map(feature_map: torch.Tensor, bands: int) -> torch.Tensor:
    """`(n, channels, freq, frames)` -> `(n, channels, bands, frames)`: frequency averaged into `bands` equal bands
    (adaptive average pooling; when the bands divide the rows, a reshape and a mean: the same numbers, ~3x faster)."""
    rows = feature_map.shape[2]
    if rows % bands == 0:
        return feature_map.unflatten(2, (bands, rows // bands)).mean(dim=3)
    return nn.functional.adaptive_avg_pool2d(feature_map, (bands, feature_map.shape[-1]))


def pool_feature_map(feature_map: torch.Tensor, pooling: str = "global", bands: int = 4) -> torch.Tensor:
    """Summarise `(n, channels, freq, frames)` maps as `(n, dim)` vectors (`BarlowSpeechConfig.pooling`).

    `"global"`: mean over frequency and time (paper), dim = channels. `"time_mean"`: frequency averaged into `bands`
    equal bands, then the mean over time, dim = channels * bands. `"time_mean_std"`: also the standard deviation over
    time (population, so one frame gives 0), dim = 2 * channels * bands, means first.
    """
    if pooling == "global":
        return feature_map.mean(dim=(2, 3))
    if feature_map.shape[2] < bands:
        warnings.warn(
            f"pooling_bands={bands} exceeds the {feature_map.shape[2]} frequency rows of a {feature_map.shape[1]}-"
            "channel map: adaptive pooling repeats rows, so pooled features are redundant (identical copies when the "
            "bands are a multiple of the rows; the disentanglement metrics that compare the two best latents, MIG "
            f"and SAP, then read 0). Use at most {feature_map.shape[2]} bands for this front end and layer (a list "
            "pooling_bands gives each layer its own).",
            stacklevel=2,
        )
    banded = band_feature_map(feature_map, bands)
    mean = banded.mean(dim=-1, keepdim=True)
    if pooling == "time_mean":
        return mean.flatten(1)
    # the population std written out (torch.std's CPU kernel is ~2.5x slower on these short time axes); a band constant
    # over time (one frame, or all zeros after a ReLU) gets std 0 and gradient 0, as with torch.std, not sqrt's
    # infinite slope at 0 (NaN)
    var = (banded - mean).square().mean(dim=-1)
    std = torch.where(var > 0, var.clamp_min(torch.finfo(var.dtype).tiny).sqrt(), torch.zeros_like(var))
    return torch.cat([mean.flatten(1), std.flatten(1)], dim=1)


def segments_and_mask(
    input_values: torch.Tensor, attention_mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Check the segment layout of the feature extractor's output and return `(input_values, attention_mask)`.

    `input_values` is `(batch, segments, freq, frames)`, one row per clip; `attention_mask` `(batch, segments)` marks
    the real segments (None: all are real). A `(batch, 1, segments, freq, frames)` input, which is what stacking the
    rows of a per-example `datasets.map` gives, is squeezed to that layout (and its `(batch, 1, segments)` mask).
    """
    if input_values.ndim == 5 and input_values.shape[1] == 1:
        input_values = input_values.squeeze(1)
        if attention_mask is not None and attention_mask.ndim == 3 and attention_mask.shape[1] == 1:
            attention_mask = attention_mask.squeeze(1)
    if input_values.ndim != 4:
        raise ValueError(
            f"input_values must be (batch, segments, freq, frames) log-spectrograms, got {tuple(input_values.shape)}; "
            "run the audio through BarlowSpeechFeatureExtractor first."
        )
    if attention_mask is None:
        return input_values, None
    if tuple(attention_mask.shape) != tuple(input_values.shape[:2]):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)} but input_values holds "
            f"{tuple(input_values.shape[:2])} (batch, segments); pass the feature extractor's attention_mask with its "
            "input_values, padded together (BarlowSpeechDataCollator does this)."
        )
    attention_mask = attention_mask.to(input_values.device).bool()
    empty = ~attention_mask.any(dim=1)
    if empty.any():
        raise ValueError(
            f"clips {empty.nonzero().flatten().tolist()} have no real segment in attention_mask; every row must be a "
            "clip with at least one segment marked 1."
        )
    return input_values, attention_mask


@dataclass
class SegmentedBatch:
    """Real segments of a `(batch, segments, freq, frames)` input as one `(n, 1, freq, frames)` backbone batch."""

    segments: torch.Tensor
    batch_size: int
    num_segments: int
    # Flat indices (row * num_segments + segment) of the real segments; None when all are real.
    index: torch.Tensor | None

    @classmethod
    def from_inputs(cls, input_values: torch.Tensor, attention_mask: torch.Tensor | None) -> "SegmentedBatch":
        input_values, attention_mask = segments_and_mask(input_values, attention_mask)
        batch, num_segments = input_values.shape[:2]
        flat = input_values.reshape(batch * num_segments, 1, *input_values.shape[2:])
        if attention_mask is None or bool(attention_mask.all()):
            return cls(flat, batch, num_segments, None)
        index = attention_mask.flatten().nonzero().squeeze(1)
        return cls(flat[index], batch, num_segments, index)

    def per_clip(self, values: torch.Tensor) -> torch.Tensor:
        """`(n, ...)` per real segment -> `(batch, segments, ...)`, zeros at padded segments."""
        if self.index is None:
            return values.reshape(self.batch_size, self.num_segments, *values.shape[1:])
        out = values.new_zeros((self.batch_size * self.num_segments, *values.shape[1:]))
        out[self.index] = values
        return out.reshape(self.batch_size, self.num_segments, *values.shape[1:])

    def owners(self) -> torch.Tensor:
        """`(n,)` the clip (row) of every real segment."""
        index = self.index if self.index is not None else torch.arange(len(self.segments), device=self.segments.device)
        return torch.div(index, self.num_segments, rounding_mode="floor")

    def mean_per_clip(self, values: torch.Tensor) -> torch.Tensor:
        """`(n, hidden)` per real segment -> `(batch, hidden)`, the mean over each clip's real segments."""
        if self.index is None:
            return values.reshape(self.batch_size, self.num_segments, -1).mean(dim=1)
        owner = self.owners()
        sums = values.new_zeros(self.batch_size, values.shape[-1]).index_add_(0, owner, values)
        counts = torch.bincount(owner, minlength=self.batch_size).to(values.dtype)
        return sums / counts.unsqueeze(-1)


@dataclass
class BarlowSpeechModelOutput(ModelOutput):
    """
    Args:
        last_hidden_state: `(batch, segments, hidden, freq', frames')` the last ResNet stage's feature map of every
            segment of every clip (zeros at padded segments).
        pooler_output: `(batch, config.hidden_size)` one embedding per clip (2048-d for ResNet-50 with global
            pooling): the mean over the clip's real segments of each segment's pooled last map (`config.pooling`),
            or of the maps of `config.pooler_layers`, concatenated.
        hidden_states: tuple of `(batch, segments, channels, freq', frames')`: the stem output and every stage, for
            layer-wise probes.
        pooled_hidden_states: tuple of `(batch, config.layer_sizes[k])`: every entry of `hidden_states` pooled like
            `pooler_output`, when `output_hidden_states=True` (`pooler_output` concatenates those of
            `config.pooler_layers`: by default it equals the last one).
    """

    last_hidden_state: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    pooled_hidden_states: tuple[torch.Tensor, ...] | None = None


@dataclass
class BarlowSpeechForPreTrainingOutput(ModelOutput):
    """
    Args:
        loss: `()` Barlow Twins loss, when both views were given.
        invariance_loss, redundancy_loss: `()` the two terms of Eq. 1 (log them separately: the total grows with the
            latent size).
        z_a, z_b: `(batch, latent)` projector outputs of the two views.
        cross_correlation: `(latent, latent)` C, when `return_cross_correlation=True`.
        pooler_output: `(batch, hidden)` encoder embedding of view A.
    """

    loss: torch.Tensor | None = None
    invariance_loss: torch.Tensor | None = None
    redundancy_loss: torch.Tensor | None = None
    z_a: torch.Tensor | None = None
    z_b: torch.Tensor | None = None
    cross_correlation: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None


# Every class a saved folder can be loaded as with trust_remote_code, whichever head saved it.
AUTO_MAP = {
    "AutoConfig": "configuration_barlow.BarlowSpeechConfig",
    "AutoModel": "modeling_barlow.BarlowSpeechModel",
    "AutoModelForPreTraining": "modeling_barlow.BarlowSpeechForPreTraining",
    "AutoModelForAudioClassification": "modeling_barlow.BarlowSpeechForAudioClassification",
}


class BarlowSpeechPreTrainedModel(PreTrainedModel):
    config: BarlowSpeechConfig
    config_class = BarlowSpeechConfig
    base_model_prefix = "barlow"
    main_input_name = "input_values"
    input_modalities = ("audio",)
    # Losses are batch means already; this tells Trainer to divide them for gradient accumulation.
    accepts_loss_kwargs = False
    _no_split_modules = ["ResNetConvLayer", "ResNetShortCut"]

    def __init__(self, config: BarlowSpeechConfig, *inputs, **kwargs):
        super().__init__(config, *inputs, **kwargs)
        # Keep entries already there (a Hub load prefixes them with the repo id).
        self.config.auto_map = {**AUTO_MAP, **(getattr(self.config, "auto_map", None) or {})}

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """ResNet convs: Kaiming normal (fan_out); linears: torch's default; norms: identity."""
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            init.kaiming_uniform_(module.weight, a=5**0.5)
            if module.bias is not None:
                bound = 1 / module.weight.shape[1] ** 0.5
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if module.weight is not None:
                init.ones_(module.weight)
                init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)


class BarlowSpeechModel(BarlowSpeechPreTrainedModel):
    """The encoder f_theta: `(batch, 1, freq, frames)` log-spectrogram -> ResNet -> pooled embedding."""

    # the pretraining heads of a Barlow Twins (projector) or DINO (student, heads, centre) checkpoint: loading one as
    # its encoder (or into the audio-classification model, which inherits these patterns) drops them by design, so
    # they are not reported as unexpected
    _keys_to_ignore_on_load_unexpected = [r"^projector\.", r"^center$", r"^student\.", r"^(student|teacher)_head\."]

    def __init__(self, config: BarlowSpeechConfig):
        super().__init__(config)
        self.embedder = ResNetEmbeddings(config.backbone_config)
        self.encoder = ResNetEncoder(config.backbone_config)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BarlowSpeechModelOutput | tuple:
        r"""
        input_values (`torch.Tensor` of shape `(batch, segments, freq, frames)`):
            Log-spectrograms from `BarlowSpeechFeatureExtractor` (513 x 126 for 1-s segments), one row per clip.
        attention_mask (`torch.Tensor` of shape `(batch, segments)`, *optional*):
            1 for real segments, 0 for padding; `pooler_output` is the mean over each clip's real segments.
        """
        _reject_segment_to_utterance(kwargs)
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        batch = SegmentedBatch.from_inputs(input_values, attention_mask)
        check_frequency_rows(self.config, batch.segments.shape[-2])
        every_layer = list(range(len(self.config.layer_sizes)))
        pooled_layers = every_layer if output_hidden_states else sorted(set(self.config.pooled_layers))
        maps, pooled = self._encode_in_chunks(batch, output_hidden_states, pooled_layers)
        pooler_output = self._pooler_output(pooled_layers, pooled)
        last_hidden_state = batch.per_clip(maps[-1])
        hidden_states = pooled_hidden_states = None
        if output_hidden_states:
            hidden_states = tuple(batch.per_clip(state) for state in maps)
            pooled_hidden_states = tuple(pooled)
        if not return_dict:
            outputs = (last_hidden_state, pooler_output, hidden_states, pooled_hidden_states)
            return tuple(v for v in outputs if v is not None)
        return BarlowSpeechModelOutput(
            last_hidden_state=last_hidden_state,
            pooler_output=pooler_output,
            hidden_states=hidden_states,
            pooled_hidden_states=pooled_hidden_states,
        )

    def _pooler_output(self, pooled_layers: list[int], pooled: list[torch.Tensor]) -> torch.Tensor:
        """`pooler_output` from the pooled vectors `pooled` of the layers `pooled_layers`: those of
        `config.pooler_layers`, concatenated."""
        read = self.config.pooled_layers
        by_layer = dict(zip(pooled_layers, pooled))
        return torch.cat([by_layer[layer] for layer in read], dim=-1) if len(read) > 1 else by_layer[read[0]]

    def segment_embeddings(self, segments: torch.Tensor) -> torch.Tensor:
        """`(n, 1, freq, frames)` segments -> `(n, config.hidden_size)`: each segment's `pooler_output`, before the
        mean over a clip's segments; one backbone pass and no mask (the graph `barlow_speech.export` exports)."""
        check_frequency_rows(self.config, segments.shape[-2])
        layers = sorted(set(self.config.pooled_layers))
        return self._pooler_output(layers, self._encode(segments, False, layers)[1])

    def _encode(
        self, segments: torch.Tensor, output_hidden_states: bool, pooled_layers: list[int]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One backbone pass over `(n, 1, freq, frames)` segments: the maps `(n, channels, freq', frames')` (every
        hidden state with `output_hidden_states`, else the last one) and the maps of `pooled_layers` (indices into
        `hidden_states`) pooled, `(n, layer size)` each."""
        last = len(self.config.layer_sizes) - 1
        every_state = output_hidden_states or pooled_layers != [last]
        outputs = self.encoder(self.embedder(segments), output_hidden_states=every_state, return_dict=True)
        states = list(outputs.hidden_states) if every_state else [outputs.last_hidden_state]
        maps = states if output_hidden_states else states[-1:]
        return maps, [self.pool(states[layer if every_state else -1], layer) for layer in pooled_layers]

    def _encode_in_chunks(
        self, batch: SegmentedBatch, output_hidden_states: bool, pooled_layers: list[int]
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The maps of every real segment `(n, channels, freq', frames')` and the pooled vectors of `pooled_layers`
        averaged per clip `(batch, layer size)`. In inference (eval mode, no gradients) the backbone runs over
        `config.max_segments_per_forward` segments at a time: each chunk's maps go into outputs allocated once and
        its pooled vectors into per-clip sums, so peak memory is one chunk's activations plus the outputs. Training
        (or any pass that keeps a graph) runs the whole batch at once."""
        segments, size = batch.segments, self.config.max_segments_per_forward
        if size is None or self.training or torch.is_grad_enabled() or len(segments) <= size:
            maps, pooled = self._encode(segments, output_hidden_states, pooled_layers)
            return maps, [batch.mean_per_clip(vectors) for vectors in pooled]
        owners = batch.owners()
        counts = torch.bincount(owners, minlength=batch.batch_size).unsqueeze(-1)
        outputs: list[torch.Tensor] = []
        sums: list[torch.Tensor] = []
        for start in range(0, len(segments), size):
            maps, pooled = self._encode(segments[start : start + size], output_hidden_states, pooled_layers)
            if not outputs:
                outputs = [state.new_empty((len(segments), *state.shape[1:])) for state in maps]
                sums = [vectors.new_zeros((batch.batch_size, vectors.shape[1])) for vectors in pooled]
            for output, state in zip(outputs, maps):
                output[start : start + len(state)] = state
            for total, vectors in zip(sums, pooled):
                total.index_add_(0, owners[start : start + len(vectors)], vectors)
        return outputs, [total / counts.to(total.dtype) for total in sums]

    def head_inputs(
        self, input_values: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """What a pretraining head reads under `config.projector_input`, `(batch, config.projector_input_size)`, and
        `pooler_output` `(batch, hidden)`: the same tensor for `"last"`, every layer's pooled vector concatenated
        for `"all_layers"`. Inputs as for `forward`."""
        every_layer = self.config.projector_input == "all_layers"
        outputs = self(input_values, attention_mask, output_hidden_states=every_layer, return_dict=True)
        features = torch.cat(outputs.pooled_hidden_states, dim=-1) if every_layer else outputs.pooler_output
        return features, outputs.pooler_output

    def pool(self, feature_map: torch.Tensor, layer: int = -1) -> torch.Tensor:
        """`(n, channels, freq', frames')` of entry `layer` of `hidden_states` -> `(n, config.layer_sizes[layer])`
        under `config.pooling` (`pool_feature_map`) with that layer's `config.layer_bands`."""
        return pool_feature_map(feature_map, self.config.pooling, self.config.layer_bands[layer])


def describe_front_end(rows: int) -> str:
    """A reader's name for a front end that gives `rows` frequency rows."""
    if rows == DEFAULT_FREQUENCY_BINS:
        return f"the default {rows}-bin linear STFT, n_fft=1024"
    linear = f", or a linear STFT with n_fft={2 * (rows - 1)}" if rows > 1 else ""
    return f"a {rows}-band log-mel front end, n_mels={rows}{linear}"


def check_frequency_rows(config: BarlowSpeechConfig, rows: int) -> None:
    """Raise unless spectrograms with `rows` frequency rows are what the model was built for
    (`config.num_frequency_bins`; None, a config saved before the field, checks nothing)."""
    expected = config.num_frequency_bins
    if expected is not None and rows != expected:
        raise ValueError(
            f"this model was trained on {expected} frequency rows ({describe_front_end(expected)}) but got {rows} "
            f"({describe_front_end(rows)}): load the feature extractor saved with the model "
            "(AutoFeatureExtractor.from_pretrained(<the same folder or Hub id>)); config.num_frequency_bins records "
            "the rows the model reads."
        )


def _reject_segment_to_utterance(kwargs: dict) -> None:
    """The flat segment layout is gone: an old caller must not have its argument silently ignored."""
    if "segment_to_utterance" in kwargs:
        raise ValueError(
            "segment_to_utterance is no longer an input: the feature extractor now returns one row per clip, "
            "input_values (batch, segments, freq, frames) with attention_mask (batch, segments). Pass those instead."
        )


def build_projector(input_size: int, dims: list[int]) -> nn.Sequential:
    """Projector of the reference Barlow Twins: (Linear-BN-ReLU) blocks, then a bias-free Linear to the latent."""
    sizes = [input_size, *dims]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 2):
        layers += [nn.Linear(sizes[i], sizes[i + 1], bias=False), nn.BatchNorm1d(sizes[i + 1]), nn.ReLU(inplace=True)]
    layers.append(nn.Linear(sizes[-2], sizes[-1], bias=False))
    return nn.Sequential(*layers)


class BarlowSpeechForPreTraining(BarlowSpeechPreTrainedModel):
    """Encoder + projector trained with the Barlow Twins loss on two views of the same clips (Fig. 1)."""

    def __init__(self, config: BarlowSpeechConfig):
        super().__init__(config)
        self.barlow = BarlowSpeechModel(config)
        self.projector = build_projector(config.projector_input_size, config.projector_dims)
        self.post_init()

    def forward(
        self,
        input_values: torch.Tensor,
        input_values_b: torch.Tensor | None = None,
        return_cross_correlation: bool = False,
        distributed: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BarlowSpeechForPreTrainingOutput | tuple:
        r"""
        input_values (`torch.Tensor` of shape `(batch, 1, freq, frames)`): view A.
        input_values_b (`torch.Tensor` of shape `(batch, 1, freq, frames)`, *optional*):
            View B of the same clips, in the same order. Without it only `z_a` is computed (no loss).
        return_cross_correlation (`bool`): also return C `(latent, latent)`.
        distributed (`bool`, *optional*):
            Compute C over the global batch of all processes. Defaults to whether torch.distributed is initialised
            with more than one process.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if self.training and input_values.shape[0] < 2:
            raise ValueError(
                f"got a per-device batch of {input_values.shape[0]}: the projector's BatchNorm and the loss's batch "
                "statistics need at least 2 samples (clips) per device in training mode. BarlowTwinsTrainer drops "
                "such a last batch; when calling the model yourself, pass >= 2 clips or call model.eval() to only "
                "encode."
            )
        features_a, pooled_a = self.barlow.head_inputs(input_values)
        z_a = self.projector(features_a)
        output = BarlowSpeechForPreTrainingOutput(z_a=z_a, pooler_output=pooled_a)
        if input_values_b is not None:
            if input_values_b.shape != input_values.shape:
                raise ValueError(
                    f"the two views must have the same shape, got {tuple(input_values.shape)} and "
                    f"{tuple(input_values_b.shape)}."
                )
            if distributed is None:
                distributed = _runs_distributed()
            z_b = self.projector(self.barlow.head_inputs(input_values_b)[0])
            loss = barlow_twins_loss(
                z_a,
                z_b,
                lambda_offdiag=self.config.lambda_offdiag,
                variant=self.config.loss_variant,
                eps=self.config.loss_eps,
                scale=self.config.loss_scale,
                distributed=distributed,
            )
            output.loss, output.invariance_loss, output.redundancy_loss = loss.loss, loss.invariance, loss.redundancy
            output.z_b = z_b
            if return_cross_correlation:
                output.cross_correlation = loss.cross_correlation
        return output if return_dict else output.to_tuple()


class BarlowSpeechForAudioClassification(BarlowSpeechPreTrainedModel):
    """Encoder + linear head on `pooler_output`; `config.freeze_encoder=True` is linear evaluation."""

    def __init__(self, config: BarlowSpeechConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.barlow = BarlowSpeechModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()
        if config.freeze_encoder:
            self.freeze_encoder()

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> "BarlowSpeechForAudioClassification | tuple":
        """`PreTrainedModel.from_pretrained`, then `freeze_encoder()` when `config.freeze_encoder`: loading replaces
        every parameter with a new one that requires gradients, undoing the freeze of the constructor. Returns what
        transformers returns: the model, or `(model, loading_info)` with `output_loading_info=True`."""
        loaded = super().from_pretrained(*args, **kwargs)
        model = loaded[0] if kwargs.get("output_loading_info") else loaded
        if model.config.freeze_encoder:
            model.freeze_encoder()
        return loaded

    def freeze_encoder(self) -> None:
        """Train only the head: encoder weights fixed and its BatchNorm statistics kept in eval mode."""
        self.config.freeze_encoder = True
        self.barlow.requires_grad_(False)
        self.barlow.eval()

    def train(self, mode: bool = True) -> "BarlowSpeechForAudioClassification":
        super().train(mode)
        if self.config.freeze_encoder:
            self.barlow.eval()
        return self

    def forward(
        self,
        input_values: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput | tuple:
        r"""
        input_values (`torch.Tensor` of shape `(batch, segments, freq, frames)`): log-spectrograms, one row per clip.
        attention_mask (`torch.Tensor` of shape `(batch, segments)`, *optional*):
            1 for real segments; each clip is classified from the mean of its real segments' embeddings.
        labels (`torch.Tensor` of shape `(batch,)`, *optional*): class indices in `[0, num_labels)`; gives a
            cross-entropy `loss`.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze_encoder):
            outputs = self.barlow(
                input_values, attention_mask=attention_mask, output_hidden_states=output_hidden_states, **kwargs
            )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            labels = labels.to(logits.device).long()
            if labels.shape != logits.shape[:1]:
                raise ValueError(
                    f"labels has shape {tuple(labels.shape)} but there are {logits.shape[0]} clips; pass one label "
                    "per clip (row of input_values)."
                )
            loss = nn.functional.cross_entropy(logits, labels)
        output = SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=outputs.hidden_states)
        return output if return_dict else output.to_tuple()


__all__ = [
    "BarlowSpeechPreTrainedModel",
    "BarlowSpeechModel",
    "BarlowSpeechForPreTraining",
    "BarlowSpeechForAudioClassification",
    "band_feature_map",
    "barlow_twins_loss",
    "check_frequency_rows",
    "cross_correlation",
    "off_diagonal",
    "pool_feature_map",
    "segments_and_mask",
]
