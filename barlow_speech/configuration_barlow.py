"""BarlowSpeech model configuration.

Self-contained (imports only transformers) so it can be shipped as remote code.
Defaults follow Brima et al. 2024, "Understanding Self-Supervised Learning of Speech Representation via
Invariance and Redundancy Reduction" (Sec. 2.1, 2.3), and the reference Barlow Twins (Zbontar et al. 2021).
"""

import dataclasses
import difflib
import math

from transformers import ResNetConfig
from transformers.configuration_utils import PreTrainedConfig, SubConfigSpec

LOSS_VARIANTS = ("bt", "mbt_bn", "mbt_ln", "mbt_bn_ln")
# How a stage's (channels, freq, frames) map becomes one vector: "global" is the paper's average over frequency and
# time; the others keep frequency (pooled into `pooling_bands` bands) and summarise time, as x-vectors / BYOL-A do.
POOLING_MODES = ("global", "time_mean", "time_mean_std")
# What the pretraining heads read: the last stage's pooled vector (the paper) or every layer's, concatenated.
PROJECTOR_INPUTS = ("last", "all_layers")
# Self-supervised objectives on the same encoder: Barlow Twins (the paper) or DINO (Caron et al. 2021; for speech, Cho
# et al. 2022, shared/paper/004), trained by BarlowSpeechForPreTraining / DinoSpeechForPreTraining respectively.
OBJECTIVES = ("barlow_twins", "dino")
# how DINO's teacher outputs are centred (`dino_centering`), and how reports name it
DINO_CENTERINGS = {"centering": "running centre (DINO)", "sinkhorn_knopp": "Sinkhorn-Knopp over the batch (DINOv2)"}
# Front-end settings: they live in BarlowSpeechFeatureExtractor only; the config records only what the architecture
# reads from it, the number of frequency rows (`num_frequency_bins`), so that a mismatched extractor is an error.
FRONT_END_FIELDS = frozenset({"sampling_rate", "n_fft", "hop_length", "segment_seconds", "n_mels"})
# frequency rows of the default feature extractor's input (n_fft 1024: 513 linear STFT bins), the paper's front end
DEFAULT_FREQUENCY_BINS = 513
# ResNet-50 on a 1-channel spectrogram (paper Sec. 2.3); users pass any ResNetConfig kwargs to resize it.
RESNET50_SPECTROGRAM = {"num_channels": 1}
# Keys a `backbone_config` dict may hold: ResNetConfig's arguments plus what its `to_dict()` writes to config.json.
RESNET_KEYS = frozenset(field.name for field in dataclasses.fields(ResNetConfig)) | frozenset(ResNetConfig().to_dict())
RESNET_ARCHITECTURE_KEYS = sorted(
    {field.name for field in dataclasses.fields(ResNetConfig)}
    - {field.name for field in dataclasses.fields(PreTrainedConfig)}
)


class BarlowSpeechConfig(PreTrainedConfig):
    r"""
    Configuration of a Barlow Twins speech encoder: a ResNet over log-spectrograms plus a projector.

    Args:
        backbone_config (`ResNetConfig` or `dict`, *optional*):
            The ResNet encoder f_theta. Defaults to ResNet-50 with `num_channels=1` (paper Sec. 2.3).
        projector_dims (`list[int]`, *optional*, defaults to `[2048, 2048, 2048]`):
            Output sizes of the projector's linear layers (Linear-BN-ReLU blocks, last layer linear only, as in the
            reference Barlow Twins). The last entry is the latent size m of the loss: the paper uses m = 2048
            (its "2028" is a typo: 2048 is the ResNet-50 width and the bt-2048 model name).
        loss_variant (`str`, *optional*, defaults to `"bt"`):
            How latents are normalised before the cross-correlation C (paper Sec. 3.3): `"bt"` (Eq. 2, columns
            divided by their L2 norm over the batch), `"mbt_bn"` (columns standardised over the batch, as the
            reference implementation's BatchNorm), `"mbt_ln"` (each latent vector layer-normalised, then Eq. 2),
            `"mbt_bn_ln"` (layer-normalised, then standardised).
        lambda_offdiag (`float`, *optional*, defaults to 5.1e-3):
            Weight lambda of the redundancy-reduction term (Eq. 1); 5.1e-3 is the reference Barlow Twins value.
        loss_scale (`float`, *optional*, defaults to 1.0):
            Multiplies the whole loss (the reference code exposes it as `scale-loss`).
        loss_eps (`float`, *optional*, defaults to 1e-5):
            Added to norms / variances so a dead latent gives a finite loss.
        pooling (`str`, *optional*, defaults to `"global"`):
            How `pooler_output` (and every layer's pooled vector) summarises a `(channels, freq', frames')` map:
            `"global"` averages over frequency and time (the paper; `channels` numbers), `"time_mean"` averages
            over time only and frequency into `pooling_bands` bands (`channels * bands`), `"time_mean_std"` adds
            the standard deviation over time (`2 * channels * bands`). Frequency-preserving pooling keeps where
            energy sits in the spectrum (pitch, formants), which identifies speakers (docs/representations.md).
        pooling_bands (`int` or `list[int]`, *optional*, defaults to 4): frequency bands kept by the
            frequency-preserving modes: one number for every layer (also as a one-element list, which is stored as
            the number), or one per entry of `hidden_states` (the stem, then each stage). A band never needs more
            than the map's frequency rows (more repeat rows: redundant features, `pool_feature_map` warns), and the
            rows halve at every downsampling stage, so a per-layer list such as `[16, 16, 16, 8]` keeps the early
            layers' resolution without repeating the last map's 8 rows.

        pooler_layers (`list[int]`, *optional*):
            Entries of `hidden_states` (0 = the stem, then each stage; negative counts from the last) whose pooled
            vectors `pooler_output` concatenates, in this order. None (the paper): the last stage only. The early
            and middle stages of a small encoder transfer better to held-out speakers and languages than its last
            (docs/representations.md), so `bt-small` reads every layer: its default embedding is its best.
        projector_input (`str`, *optional*, defaults to `"last"`):
            What the projector (and the DINO heads) read: `"last"` the `pooler_output` (the paper: the last stage's
            pooled vector), or `"all_layers"` every entry of `pooled_hidden_states` (the stem, then each stage)
            concatenated, so the loss shapes every layer's pooled embedding directly, not only through the stages
            above it (docs/representations.md, "Ablation 5"). Embeddings are the same either way.
        classifier_dropout (`float`, *optional*, defaults to 0.0): dropout before the audio-classification head.
        freeze_encoder (`bool`, *optional*, defaults to `False`):
            Audio classification trains only the linear head (linear evaluation) when set.
        objective (`str`, *optional*, defaults to `"barlow_twins"`):
            What pretrains the encoder: `"barlow_twins"` (`BarlowSpeechForPreTraining`, the paper) or `"dino"`
            (`DinoSpeechForPreTraining`: self-distillation with a momentum teacher). Model cards report it.
        dino_num_prototypes (`int`, *optional*, defaults to 65536): K, the DINO head's output size (reference DINO).
        dino_hidden_size (`int`, *optional*, defaults to 2048): width of the DINO head's MLP (reference DINO).
        dino_bottleneck_size (`int`, *optional*, defaults to 256): the l2-normalised bottleneck before the prototypes.
        dino_head_layers (`int`, *optional*, defaults to 3): linear layers of the head's MLP (reference DINO).
        dino_norm_last_layer (`bool`, *optional*, defaults to `True`):
            Fix the norm of each prototype to 1 (weight normalisation with g = 1), as the reference's default.
        dino_head_batchnorm (`bool`, *optional*, defaults to `False`):
            Batch normalisation after each hidden linear layer of the DINO head (Linear-BN-GELU), the reference's
            `use_bn_in_head` (off by default there).
        dino_student_temperature (`float`, *optional*, defaults to 0.1): student softmax temperature.
        dino_teacher_temperature (`float`, *optional*, defaults to 0.04): teacher softmax temperature (sharpening),
            reached after the trainer's warm-up.
        dino_center_momentum (`float`, *optional*, defaults to 0.9): momentum of the centre of teacher outputs.
        dino_centering (`str`, *optional*, defaults to `"centering"`):
            `"centering"`: subtract the running centre before sharpening (DINO); `"sinkhorn_knopp"`: three
            Sinkhorn-Knopp iterations over the global batch instead, so every prototype gets the same share of the
            batch's teacher mass (Oquab et al. 2023, DINOv2, Sec. 4; the running centre is then unused).
        num_frequency_bins (`int`, *optional*, defaults to 513):
            Frequency rows of the spectrograms the model was built for (`input_values.shape[-2]`, the feature
            extractor's `num_bins`: 513 linear STFT bins for the default front end, `n_mels` for a log-mel one), as
            AST's `num_mel_bins` records its filterbank. Every forward pass checks it and raises a `ValueError`
            naming both front ends when another extractor's output comes in. `None` checks nothing: what configs
            saved before the field load as, since their front end is unknown.
        max_segments_per_forward (`int`, *optional*, defaults to 32):
            In inference (eval mode, no gradients), the backbone runs over at most this many segments at once and
            pools each chunk before the next, so a long clip's activations do not grow with its length (outputs
            are the same up to float rounding). `None` runs every segment at once. Training always runs the whole
            batch at once (BatchNorm's batch statistics and the backward pass need it).

    The front end's other numbers (rate, window, hop, mel bands, segment length) live only in the feature extractor's
    preprocessor_config.json.

    Example:
    ```python
    >>> from barlow_speech import BarlowSpeechConfig, BarlowSpeechModel
    >>> config = BarlowSpeechConfig()  # ResNet-50, m = 2048: the paper's model
    >>> model = BarlowSpeechModel(config)
    ```
    """

    model_type = "barlow_speech"
    sub_configs_defaults = {
        "backbone_config": SubConfigSpec(config_class=ResNetConfig, init_kwargs=RESNET50_SPECTROGRAM),
    }

    backbone_config: dict | PreTrainedConfig | None = None
    projector_dims: list[int] | tuple[int, ...] = (2048, 2048, 2048)
    loss_variant: str = "bt"
    lambda_offdiag: float = 5.1e-3
    loss_scale: float = 1.0
    loss_eps: float = 1e-5
    pooling: str = "global"
    pooling_bands: int | list[int] = 4
    pooler_layers: list[int] | None = None
    projector_input: str = "last"
    classifier_dropout: float = 0.0
    freeze_encoder: bool = False
    objective: str = "barlow_twins"
    dino_num_prototypes: int = 65536
    dino_hidden_size: int = 2048
    dino_bottleneck_size: int = 256
    dino_head_layers: int = 3
    dino_norm_last_layer: bool = True
    dino_head_batchnorm: bool = False
    dino_student_temperature: float = 0.1
    dino_teacher_temperature: float = 0.04
    dino_center_momentum: float = 0.9
    dino_centering: str = "centering"
    num_frequency_bins: int | None = DEFAULT_FREQUENCY_BINS
    max_segments_per_forward: int | None = 32

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs) -> "BarlowSpeechConfig":
        """`PreTrainedConfig.from_dict`; a config saved before `num_frequency_bins` existed loads with `None` (its
        front end is unknown, so nothing is checked) instead of the default front end's 513."""
        return super().from_dict({"num_frequency_bins": None, **config_dict}, **kwargs)

    def __post_init__(self, **kwargs):
        misplaced = sorted(FRONT_END_FIELDS & kwargs.keys())
        if misplaced:
            raise ValueError(
                f"{misplaced[0]} belongs to the feature extractor, not the model config (got {misplaced}); pass it to "
                "BarlowSpeechFeatureExtractor, whose preprocessor_config.json is the one place for front-end settings."
            )
        if isinstance(self.backbone_config, dict):
            # A plain dict of ResNetConfig kwargs (as users write it and as config.json stores it).
            fields = {key: value for key, value in self.backbone_config.items() if key != "model_type"}
            _check_backbone_keys(fields)
            self.backbone_config = ResNetConfig(**{**RESNET50_SPECTROGRAM, **fields})
        super().__post_init__(**kwargs)
        self.projector_dims = [int(d) for d in self.projector_dims]
        if self.backbone_config.num_channels != 1:
            raise ValueError(
                f"backbone_config.num_channels={self.backbone_config.num_channels}, but the input is a 1-channel "
                "log-spectrogram; pass num_channels=1."
            )
        backbone = self.backbone_config
        if len(backbone.depths) != len(backbone.hidden_sizes):
            raise ValueError(
                f"backbone_config has depths={list(backbone.depths)} but hidden_sizes={list(backbone.hidden_sizes)}: "
                "each ResNet stage needs one depth and one width; pass lists of the same length."
            )
        if self.num_labels is not None and self.num_labels < 1:
            raise ValueError(
                f"num_labels={self.num_labels}, but the audio-classification head needs at least one class; "
                "pass num_labels >= 1 (or id2label with one entry per class)."
            )
        _check_choice(self, "loss_variant", LOSS_VARIANTS)
        if not self.projector_dims or min(self.projector_dims) < 1:
            raise ValueError(f"projector_dims={self.projector_dims} must be a non-empty list of positive sizes.")
        _check_number(self, "lambda_offdiag", minimum=0.0, inclusive=True)
        for name in ("loss_scale", "loss_eps"):
            _check_number(self, name, minimum=0.0, inclusive=False)
        _check_choice(self, "pooling", POOLING_MODES)
        _check_pooling_bands(self)
        _check_pooler_layers(self)
        _check_choice(self, "projector_input", PROJECTOR_INPUTS)
        _check_number(self, "classifier_dropout", minimum=0.0, inclusive=True, below=1.0)
        _check_dino(self)
        for name in ("num_frequency_bins", "max_segments_per_forward"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name}={value!r} must be an int >= 1, or None.")

    @property
    def hidden_size(self) -> int:
        """Width of `pooler_output`: the pooled sizes of `pooler_layers` added up (the last stage's by default: 2048
        for ResNet-50 with global pooling)."""
        return sum(self.layer_sizes[layer] for layer in self.pooled_layers)

    @property
    def pooled_layers(self) -> list[int]:
        """The entries of `hidden_states` that `pooler_output` reads, as non-negative indices (`pooler_layers`)."""
        count = len(self.layer_channels)
        return [layer % count for layer in self.pooler_layers] if self.pooler_layers is not None else [count - 1]

    @property
    def layer_channels(self) -> list[int]:
        """Channels of every entry of `hidden_states`: the stem, then each stage."""
        return [self.backbone_config.embedding_size, *self.backbone_config.hidden_sizes]

    @property
    def layer_bands(self) -> list[int]:
        """Frequency bands of every entry of `hidden_states` under a frequency-preserving `pooling`."""
        if isinstance(self.pooling_bands, int):
            return [self.pooling_bands] * len(self.layer_channels)
        return list(self.pooling_bands)

    @property
    def layer_sizes(self) -> list[int]:
        """Pooled width of every entry of `hidden_states`: the stem, then each stage."""
        if self.pooling == "global":
            return self.layer_channels
        statistics = 2 if self.pooling == "time_mean_std" else 1
        pairs = zip(self.layer_channels, self.layer_bands, strict=True)
        return [channels * bands * statistics for channels, bands in pairs]

    @property
    def projector_input_size(self) -> int:
        """Width of what the projector reads (`projector_input`)."""
        return sum(self.layer_sizes) if self.projector_input == "all_layers" else self.hidden_size

    @property
    def latent_size(self) -> int:
        """Latent size m of the Barlow Twins loss (the projector's output)."""
        return self.projector_dims[-1]


def _check_pooling_bands(config: BarlowSpeechConfig) -> None:
    bands = config.pooling_bands
    layers = len(config.layer_channels)
    if isinstance(bands, (list, tuple)) and len(bands) == 1:
        bands = config.pooling_bands = bands[0]  # what a one-value flag (`--pooling_bands 4`) gives: every layer
    elif isinstance(bands, tuple):
        bands = config.pooling_bands = list(bands)
    if isinstance(bands, list):
        if len(bands) != layers or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bands):
            raise ValueError(
                f"pooling_bands={bands!r} must be one int >= 1 per entry of hidden_states ({layers}: the stem, then "
                "each stage), or a single int for every layer."
            )
    elif isinstance(bands, bool) or not isinstance(bands, int) or bands < 1:
        raise ValueError(f"pooling_bands={bands!r} must be an int >= 1 (frequency bands kept), or one per layer.")


def _check_pooler_layers(config: BarlowSpeechConfig) -> None:
    layers, count = config.pooler_layers, len(config.layer_channels)
    if layers is None:
        return
    if isinstance(layers, tuple):
        layers = config.pooler_layers = list(layers)
    valid = isinstance(layers, list) and layers and all(isinstance(x, int) and not isinstance(x, bool) for x in layers)
    if not valid or not all(-count <= layer < count for layer in layers):
        raise ValueError(
            f"pooler_layers={layers!r} must be a non-empty list of entries of hidden_states: ints in [{-count}, "
            f"{count}) (0 = the stem, {count - 1} = the last stage), or None for the last stage only."
        )
    if len({layer % count for layer in layers}) != len(layers):
        raise ValueError(f"pooler_layers={layers!r} names a layer twice; list each layer once.")


def _check_backbone_keys(fields: dict) -> None:
    unknown = sorted(set(fields) - RESNET_KEYS)
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, RESNET_KEYS, n=1)
            hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
        raise ValueError(
            f"backbone_config has unknown key(s) {', '.join(hints)}; they would be ignored and a default ResNet "
            f"built. Use ResNetConfig arguments such as {RESNET_ARCHITECTURE_KEYS}."
        )


def _check_choice(config: BarlowSpeechConfig, name: str, choices) -> None:
    """Raise unless `config.<name>` is one of `choices`, naming the closest one."""
    value = getattr(config, name)
    if value not in choices:
        close = difflib.get_close_matches(str(value), list(choices), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"{name}={value!r} is not one of {list(choices)}{hint}.")


def _check_number(
    config: BarlowSpeechConfig, name: str, minimum: float, inclusive: bool, below: float = math.inf
) -> None:
    """Raise unless `config.<name>` is a finite number above `minimum` (or equal, if `inclusive`) and below `below`."""
    value = getattr(config, name)
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    above_minimum = is_number and (value > minimum or (inclusive and value == minimum))
    if not (above_minimum and math.isfinite(value) and value < below):
        bound = f"{'>=' if inclusive else '>'} {minimum}" + (f" and < {below}" if below < math.inf else "")
        default = getattr(type(config), name)
        raise ValueError(f"{name}={value!r} must be a finite number {bound}; the default is {default!r}.")


def _check_dino(config: BarlowSpeechConfig) -> None:
    """The objective and DINO head / loss fields (reference DINO defaults in the class docstring)."""
    _check_choice(config, "objective", OBJECTIVES)
    for name in ("dino_num_prototypes", "dino_hidden_size", "dino_bottleneck_size", "dino_head_layers"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be an int >= 1.")
    for name in ("dino_student_temperature", "dino_teacher_temperature"):
        _check_number(config, name, minimum=0.0, inclusive=False)
    if not 0.0 <= config.dino_center_momentum < 1.0:
        raise ValueError(
            f"dino_center_momentum={config.dino_center_momentum} must be in [0, 1) (the reference DINO uses 0.9)."
        )
    _check_choice(config, "dino_centering", DINO_CENTERINGS)


__all__ = ["BarlowSpeechConfig", "DINO_CENTERINGS", "LOSS_VARIANTS", "OBJECTIVES", "POOLING_MODES"]
