"""`barlow-speech pretrain`: Barlow Twins (or, with `--objective dino`, DINO) pretraining from the command line or a
YAML/JSON config file.

Arguments are TrainingArguments plus ModelArguments, DataArguments, BarlowTwinsArguments and DinoArguments
(HfArgumentParser).
`--config run.yaml` reads the same fields from a file; flags given on the command line override it. Every value is
checked before any data is loaded: a bad one is a ValueError naming the flag (or the config file's key), the value
and what is allowed.

    barlow-speech pretrain --output_dir runs/bt-synthetic --max_steps 200            # synthetic corpus
    barlow-speech pretrain --dataset librispeech --data_path /data/LibriSpeech --subset train-clean-100 \\
        --output_dir runs/bt-ls100 --num_train_epochs 50 --per_device_train_batch_size 64 --bf16 true
    barlow-speech pretrain --objective dino --output_dir runs/dino-synthetic --max_steps 200  # DINO, same encoder

From Python (the demo): `build_trainer(ModelArguments(objective="dino", ...), DataArguments(...),
BarlowTwinsArguments(), TrainingArguments(...), DinoArguments(...)).train()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import datasets
import numpy as np
import torch
from transformers import TrainingArguments

from ..arguments import CommandParser, check_at_least, check_choice, did_you_mean
from ..configuration_barlow import (
    DINO_CENTERINGS,
    LOSS_VARIANTS,
    OBJECTIVES,
    POOLING_MODES,
    PROJECTOR_INPUTS,
    BarlowSpeechConfig,
)
from ..data.registry import DATASETS as REGISTERED_DATASETS
from ..data.registry import parse_loader_args
from ..data.schema import iter_clips
from ..data_collator import WaveformCollator, waveform_of
from ..feature_extraction_barlow import BarlowSpeechFeatureExtractor
from ..modeling_barlow import BarlowSpeechForPreTraining
from ..modeling_dino import DinoSpeechForPreTraining
from ..recipes import BACKBONES, PRETRAINING_DEFAULTS, PretrainingDefaults
from ..repo_folder import load_pretrained
from .augment import (
    VIEW_PRESETS,
    MultiCropAugmentation,
    TwoViewAugmentation,
    TwoViewAugmentationConfig,
    load_noise_bank,
)
from .checkpoints import (
    checkpoint_folders,
    checkpoint_problem,
    checkpoint_step,
    last_complete_checkpoint,
    output_dir_lock,
    previous_run,
)
from .dino import DinoArguments, DinoTrainer
from .trainer import MIN_BATCH_PER_DEVICE, BarlowTwinsArguments, BarlowTwinsTrainer

logger = logging.getLogger(__name__)

# how `fit_feature_extractor` chooses the segments that fit the input's mean/std
NORMALIZATION_SAMPLES = ("random", "first")
# every registered dataset, plus "cached": the segments written by `barlow-speech prepare`
DATASETS = (*REGISTERED_DATASETS, "cached")
LOCAL_DATASETS = (*(name for name, spec in REGISTERED_DATASETS.items() if spec.local_only), "cached")


@dataclass
class ModelArguments:
    """The model to pretrain (defaults: the paper's ResNet-50 with latent m = 2048)."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "start from this checkpoint or Hub id instead of a fresh model."}
    )
    backbone: str = field(default="resnet50", metadata={"help": f"one of {list(BACKBONES)}."})
    latent_size: int = field(default=2048, metadata={"help": "latent size m (paper: 2048)."})
    projector_layers: int = field(default=3, metadata={"help": "linear layers in the projector (reference: 3)."})
    loss_variant: str = field(default="bt", metadata={"help": f"one of {list(LOSS_VARIANTS)}."})
    lambda_offdiag: float = field(default=5.1e-3, metadata={"help": "redundancy weight lambda (reference 5.1e-3)."})
    objective: str = field(default="barlow_twins", metadata={"help": f"one of {list(OBJECTIVES)}."})
    dino_num_prototypes: int = field(default=65536, metadata={"help": "DINO prototypes K (reference: 65536)."})
    dino_hidden_size: int = field(default=2048, metadata={"help": "DINO head MLP width (reference: 2048)."})
    dino_bottleneck_size: int = field(default=256, metadata={"help": "DINO head bottleneck (reference: 256)."})
    dino_head_batchnorm: bool = field(
        default=False, metadata={"help": "DINO head: Linear-BN-GELU blocks (reference `use_bn_in_head`: off)."}
    )
    dino_teacher_temperature: float = field(
        default=0.04, metadata={"help": "DINO teacher temperature after the warm-up (reference: 0.04)."}
    )
    dino_centering: str = field(
        default="centering",
        metadata={"help": f"one of {list(DINO_CENTERINGS)}: DINO's running centre or DINOv2's Sinkhorn-Knopp."},
    )
    pooling: str = field(
        default="global",
        metadata={"help": f"one of {list(POOLING_MODES)}: how each layer's map becomes a vector (paper: global)."},
    )
    pooling_bands: list[int] = field(
        default_factory=lambda: [4],
        metadata={"help": "frequency bands of the time_* poolings: one number, or one per layer (stem, then stages)."},
    )
    pooler_layers: list[int] | None = field(
        default=None,
        metadata={
            "help": "layers whose pooled vectors pooler_output concatenates (0 = stem, then stages; default: the last "
            "stage, the paper); bt-small reads every layer."
        },
    )
    projector_input: str = field(
        default="last",
        metadata={"help": f"one of {list(PROJECTOR_INPUTS)}: what the pretraining heads read (paper: last)."},
    )
    n_fft: int | None = field(
        default=None, metadata={"help": "front end: STFT window in samples (default: the paper's 1024, 513 bins)."}
    )
    hop_length: int | None = field(
        default=None, metadata={"help": "front end: STFT hop in samples (default: the paper's 128)."}
    )
    n_mels: int | None = field(
        default=None,
        metadata={"help": "front end: log-mel bands from 60 to 7,800 Hz instead of linear bins (the demo: 128)."},
    )

    def __post_init__(self):
        # the architecture's values are checked by the config it builds (below); these fields are this class's own
        check_choice("backbone", self.backbone, list(BACKBONES))
        check_at_least("latent_size", self.latent_size, 1, " (the paper: 2048; the tests: 16)")
        check_at_least("projector_layers", self.projector_layers, 1)
        front_end = self.feature_extractor_kwargs()
        flags = " ".join(f"--{name} {value}" for name, value in front_end.items())
        if front_end and self.model_name_or_path:
            raise ValueError(
                f"{flags} with --model_name_or_path: a checkpoint keeps the front end it was trained with; drop the "
                "front-end flags."
            )
        try:
            BarlowSpeechFeatureExtractor(**front_end)
        except ValueError as error:
            raise ValueError(f"{flags}: {error}") from None
        self.build_config()  # the config checks what it owns (e.g. pooler_layers) before any data loads

    def feature_extractor_kwargs(self) -> dict[str, int]:
        """The front-end flags that were set, as `BarlowSpeechFeatureExtractor` arguments (the rest: its defaults,
        the one definition of the paper's front end)."""
        names = ("n_fft", "hop_length", "n_mels")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    def build_config(self) -> BarlowSpeechConfig:
        return BarlowSpeechConfig(
            backbone_config=dict(BACKBONES[self.backbone]),
            projector_dims=[self.latent_size] * self.projector_layers,
            loss_variant=self.loss_variant,
            lambda_offdiag=self.lambda_offdiag,
            objective=self.objective,
            dino_num_prototypes=self.dino_num_prototypes,
            dino_hidden_size=self.dino_hidden_size,
            dino_bottleneck_size=self.dino_bottleneck_size,
            dino_head_batchnorm=self.dino_head_batchnorm,
            dino_teacher_temperature=self.dino_teacher_temperature,
            dino_centering=self.dino_centering,
            pooling=self.pooling,
            pooling_bands=list(self.pooling_bands),
            projector_input=self.projector_input,
            pooler_layers=list(self.pooler_layers) if self.pooler_layers else None,
            num_frequency_bins=BarlowSpeechFeatureExtractor(**self.feature_extractor_kwargs()).num_bins,
        )


@dataclass
class DataArguments:
    """Where the unlabelled audio comes from."""

    dataset: str = field(default="synthetic", metadata={"help": f"one of {list(DATASETS)}."})
    data_path: str | None = field(
        default=None,
        metadata={"help": "dataset root, Hub id (librispeech) or `barlow-speech prepare` output dir (cached)."},
    )
    subset: str = field(default="train-clean-100", metadata={"help": "subset (LibriSpeech: train-clean-100/-360)."})
    split: str | None = field(
        default=None,
        metadata={
            "help": "split to train on, for datasets that have splits (default: the dataset's pretraining split: "
            "train; tts_speech: pretrain, its pretraining languages and voices)."
        },
    )
    num_clips: int = field(default=4000, metadata={"help": "size of a generated corpus (synthetic, tts_speech)."})
    loader_args: list[str] = field(
        default_factory=list,
        metadata={
            "help": "KEY=VALUE settings of a generated corpus: fields of its configuration, e.g. segment_seconds=1.0 "
            "of TTSSpeechConfig (tts_speech) or num_speakers=16 of SyntheticSpeechConfig (synthetic)."
        },
    )
    max_train_clips: int | None = field(default=None, metadata={"help": "use at most this many segments."})
    normalization_clips: int = field(default=512, metadata={"help": "segments used to fit mean/std of the input."})
    noise_dir: str | None = field(
        default=None, metadata={"help": "folder of noise recordings (e.g. _background_noise_) for the views."}
    )
    views: str = field(
        default="default",
        metadata={
            "help": f"one of {list(VIEW_PRESETS)}: the augmentations of each view (DINO: of each crop); default: "
            "BYOL-A style for the paper's 513 linear bins, demo: the demo's (docs/representations.md)."
        },
    )
    view_args: list[str] = field(
        default_factory=list,
        metadata={
            "help": "KEY=VALUE fields of TwoViewAugmentationConfig over the --views preset, e.g. freq_mask_width=10 "
            "reverb_prob=0.5 view_segment_seconds=1.0."
        },
    )
    normalization_sample: str = field(
        default="random",
        metadata={
            "help": f"one of {list(NORMALIZATION_SAMPLES)}: the --normalization_clips segments that fit the input's "
            "mean/std, a seeded random sample or the first ones (the demo's)."
        },
    )
    clip_seconds: float | None = field(
        default=None,
        metadata={
            "help": "seconds of each training clip the views see (longer clips keep their start, shorter ones are "
            "zero-padded); default: one segment of the front end. Longer clips need view_segment_seconds in "
            "--view_args, so that each view draws its own segment of the utterance."
        },
    )

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASETS)
        check_choice("views", self.views, list(VIEW_PRESETS))
        check_choice("normalization_sample", self.normalization_sample, NORMALIZATION_SAMPLES)
        check_at_least("clip_seconds", self.clip_seconds, 1e-3)
        try:
            TwoViewAugmentation(self.views_config())  # the views check their values (drawing nothing)
        except ValueError as error:
            given = f" --view_args {' '.join(self.view_args)}" if self.view_args else ""
            raise ValueError(f"--views {self.views}{given}: {error}") from None
        if not getattr(REGISTERED_DATASETS.get(self.dataset), "generated", False) and not self.data_path:
            raise ValueError(f"--dataset {self.dataset} needs --data_path (its root folder, Hub id or cache dir).")
        if self.dataset in LOCAL_DATASETS and not Path(self.data_path).is_dir():
            raise FileNotFoundError(
                f"--data_path {self.data_path}: no such folder; pass the {self.dataset} root folder."
            )
        if self.noise_dir and not Path(self.noise_dir).is_dir():
            raise FileNotFoundError(
                f"--noise_dir {self.noise_dir}: no such folder; pass a folder of noise recordings."
            )
        for flag in ("num_clips", "max_train_clips", "normalization_clips"):
            check_at_least(flag, getattr(self, flag), 1)
        if self.loader_args:
            spec = REGISTERED_DATASETS.get(self.dataset)
            if spec is None or not spec.generated:
                raise ValueError(f"--loader_args: --dataset {self.dataset} is not generated and takes none.")
            try:
                spec.generator_arguments(parse_loader_args(self.loader_args))
            except (TypeError, ValueError) as error:
                raise ValueError(f"--loader_args {' '.join(self.loader_args)}: {error}") from None

    def views_config(self) -> TwoViewAugmentationConfig:
        """The views of this run: the `--views` preset with `--view_args` over it (a new object: the presets stay
        as defined)."""
        overrides = parse_loader_args(self.view_args, "--view_args")
        known = [item.name for item in dataclasses.fields(TwoViewAugmentationConfig)]
        for key in overrides:
            if key not in known:
                raise ValueError(
                    f"--view_args {key}: not a field of TwoViewAugmentationConfig{did_you_mean(key, known)}."
                )
        # lists (from JSON) as the tuples the config holds
        overrides = {key: tuple(value) if isinstance(value, list) else value for key, value in overrides.items()}
        return dataclasses.replace(VIEW_PRESETS[self.views], **overrides)

    def describe(self) -> str:
        """The training data as the model card names it, e.g. `"tts_speech (split pretrain, 4000 generated clips)"`
        or `"librispeech (subset train-clean-100)"`."""
        if self.dataset == "cached":
            return f"segments cached by barlow-speech prepare ({Path(self.data_path).name})"
        spec = REGISTERED_DATASETS[self.dataset]
        chosen = spec.split_arguments(self.split or spec.pretraining_split, self.subset)
        details = [f"{key} {value}" for key, value in chosen.items()]
        details += [f"{self.num_clips} generated clips"] if spec.generated else []
        return f"{self.dataset} ({', '.join(details)})" if details else self.dataset


class _CachedAudio(torch.utils.data.Dataset):
    """`barlow-speech prepare` segments in the common schema's shape (`{"audio": waveform}`)."""

    def __init__(self, path: str):
        from ..data.prepare import CachedSegments

        self.segments = CachedSegments(path)

    def __len__(self) -> int:
        return len(self.segments)

    def __getitem__(self, index: int) -> dict:
        return {"audio": self.segments[index]["input_values"].numpy()}


def load_training_audio(data_args: DataArguments, seed: int) -> datasets.Dataset | torch.utils.data.Dataset:
    """The unlabelled 1-s segments to pretrain on, in the common schema."""
    spec = REGISTERED_DATASETS.get(data_args.dataset)
    split = data_args.split or (spec.pretraining_split if spec else None)
    if data_args.dataset == "cached":
        dataset = _CachedAudio(data_args.data_path)
    elif spec.generated:
        dataset = spec.generate(data_args.num_clips, seed, split, parse_loader_args(data_args.loader_args))
    else:
        dataset = spec.loader(data_args.data_path, segment=True, **spec.split_arguments(split, data_args.subset))
    if len(dataset) == 0:
        raise ValueError(f"the {data_args.dataset} training set at {data_args.data_path} is empty.")
    if data_args.max_train_clips is not None and data_args.max_train_clips < len(dataset):
        if isinstance(dataset, datasets.Dataset):
            dataset = dataset.select(range(data_args.max_train_clips))
        else:
            dataset = torch.utils.data.Subset(dataset, range(data_args.max_train_clips))
    return dataset


def fit_feature_extractor(
    dataset, num_clips: int, seed: int, sample: str = "random", **front_end: Any
) -> BarlowSpeechFeatureExtractor:
    """A feature extractor (`front_end`: its arguments, e.g. `n_mels`) whose mean/std are fitted on `num_clips` of the
    training segments: a random sample drawn with `seed` (`sample="random"`) or the first ones (`"first"`)."""
    size = min(num_clips, len(dataset))
    if sample == "first":
        rows = list(range(size))
    else:
        rng = np.random.default_rng(seed)
        rows = sorted(int(i) for i in rng.choice(len(dataset), size=size, replace=False))
    if isinstance(dataset, datasets.Dataset):  # the Arrow column in chunks, not a row at a time
        clips = iter_clips(dataset, sampling_rate=None, rows=rows)
    else:
        clips = (waveform_of(dataset[row]) for row in rows)
    return BarlowSpeechFeatureExtractor(**front_end).fit_normalization(clips)


ARGUMENT_CLASSES = (ModelArguments, DataArguments, BarlowTwinsArguments, DinoArguments, TrainingArguments)


class PretrainingArguments(NamedTuple):
    """Everything one pretraining run reads, in `run_pretraining`'s argument order."""

    model: ModelArguments
    data: DataArguments
    barlow: BarlowTwinsArguments
    dino: DinoArguments
    training: TrainingArguments


# the TrainingArguments flags `pretrain --help` lists (`--help_all`: every one)
COMMON_TRAINING_FLAGS = (
    "output_dir",
    "max_steps",
    "num_train_epochs",
    "per_device_train_batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "gradient_accumulation_steps",
    "bf16",
    "seed",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "resume_from_checkpoint",
    "dataloader_num_workers",
    "report_to",
    "push_to_hub",
    "hub_model_id",
)


def backbone_defaults_text() -> str:
    """`PRETRAINING_DEFAULTS` for `--help`: one line per backbone."""
    lines = [
        f"  {name:<9} " + ", ".join(f"--{flag} {value:g}" for flag, value in defaults.flags().items())
        for name, defaults in PRETRAINING_DEFAULTS.items()
    ]
    return (
        "Defaults per --backbone (barlow_speech.recipes.PRETRAINING_DEFAULTS), used where no flag (command line or "
        "--config) sets them;\n--max_steps only without --num_train_epochs; the run's log says which applied:\n"
        + "\n".join(lines)
    )


def argument_parser() -> CommandParser:
    """The parser of `barlow-speech pretrain`; its `--help` lists `COMMON_TRAINING_FLAGS` of TrainingArguments."""
    parser = CommandParser(
        ARGUMENT_CLASSES,
        "pretrain",
        f"{__doc__}\n{backbone_defaults_text()}",
        brief={TrainingArguments: COMMON_TRAINING_FLAGS},
    )
    for group in parser._action_groups:
        if group.title == TrainingArguments.__name__:
            group.description = (
                "transformers' TrainingArguments: the common flags (--help_all lists every one; "
                "https://huggingface.co/docs/transformers/main_classes/trainer#transformers.TrainingArguments)."
            )
    per_backbone = set(PretrainingDefaults.__dataclass_fields__)
    for action in parser._actions:
        if action.dest in per_backbone:
            action.help = f"{action.help} (default: per --backbone, listed above)"
        elif action.dest == "output_dir":
            action.help = f"{action.help} Required: each run its own folder (no default)."
    return parser


def apply_backbone_defaults(parsed: PretrainingArguments, given: set[str]) -> PretrainingArguments:
    """`parsed` with the backbone's `PRETRAINING_DEFAULTS` where no flag in `given` (the flags set on the command line
    or in `--config`) sets them, logged; a run without `--output_dir` is a ValueError."""
    if "output_dir" not in given:
        raise ValueError(
            "--output_dir is required: the run's folder for its checkpoints and final model (e.g. runs/bt-tiny); "
            "each run gets its own, so none is chosen for you."
        )
    defaults = PRETRAINING_DEFAULTS[parsed.model.backbone].flags()
    if "num_train_epochs" in given:
        defaults.pop("max_steps")
    if parsed.model.model_name_or_path:
        defaults.pop("latent_size")  # the checkpoint's
    applied = {flag: value for flag, value in defaults.items() if flag not in given}
    if not applied:
        return parsed
    model = parsed.model
    if "latent_size" in applied:
        model = dataclasses.replace(model, latent_size=applied["latent_size"])
    for flag, value in applied.items():
        if flag != "latent_size":
            setattr(parsed.training, flag, value)
    flags = " ".join(f"--{flag} {value:g}" for flag, value in applied.items())
    logger.info(f"--backbone {model.backbone} defaults: {flags} (PRETRAINING_DEFAULTS; a flag sets another value)")
    return parsed._replace(model=model)


def parse_arguments(argv: Sequence[str]) -> PretrainingArguments:
    """(ModelArguments, DataArguments, BarlowTwinsArguments, DinoArguments, TrainingArguments) from flags and
    `--config`, each value checked (a ValueError / FileNotFoundError naming the flag) before any data is loaded, with
    the backbone's defaults where no flag sets them (`apply_backbone_defaults`)."""
    parser = argument_parser()
    parsed = apply_backbone_defaults(PretrainingArguments(*parser.parse(argv)), parser.given)
    check_at_least(
        "per_device_train_batch_size",
        parsed.training.per_device_train_batch_size,
        MIN_BATCH_PER_DEVICE,
        " (the projector's BatchNorm and the loss's batch statistics need 2 segments per device)",
    )
    training = parsed.training
    if training.max_steps == 0 or (training.max_steps < 0 and training.num_train_epochs <= 0):
        raise ValueError(
            f"--max_steps {training.max_steps} --num_train_epochs {training.num_train_epochs:g}: nothing to train; "
            "pass --max_steps > 0, or --max_steps -1 (the default) with --num_train_epochs > 0."
        )
    return parsed


def build_trainer(
    model_args: ModelArguments,
    data_args: DataArguments,
    barlow_args: BarlowTwinsArguments,
    args: TrainingArguments,
    dino_args: DinoArguments | None = None,
    train_dataset: datasets.Dataset | torch.utils.data.Dataset | None = None,
    feature_extractor: BarlowSpeechFeatureExtractor | None = None,
) -> BarlowTwinsTrainer:
    """Dataset, feature extractor (normalisation fitted on it), model, views and trainer for one run:
    `BarlowTwinsTrainer` or, for `model_args.objective == "dino"`, `DinoTrainer`.

    `train_dataset` and `feature_extractor` (fitted) default to `data_args`' audio and a front end normalised on it;
    pass a previous run's to train a second objective on the same data and front end (the demo's DINO).
    """
    if train_dataset is None:
        train_dataset = load_training_audio(data_args, args.seed)
    dino = model_args.objective == "dino"
    model_class = DinoSpeechForPreTraining if dino else BarlowSpeechForPreTraining
    if model_args.model_name_or_path:
        model = load_pretrained(model_class, model_args.model_name_or_path)
        feature_extractor = feature_extractor or load_pretrained(
            BarlowSpeechFeatureExtractor, model_args.model_name_or_path
        )
    else:
        torch.manual_seed(args.seed)
        model = model_class(model_args.build_config())
        if feature_extractor is None:
            feature_extractor = fit_feature_extractor(
                train_dataset,
                data_args.normalization_clips,
                args.seed,
                data_args.normalization_sample,
                **model_args.feature_extractor_kwargs(),
            )
    rate = feature_extractor.sampling_rate  # the views run at the front end's rate
    noise = load_noise_bank(data_args.noise_dir, rate) if data_args.noise_dir else None
    views = data_args.views_config()
    common = {
        "model": model,
        "args": args,
        "train_dataset": train_dataset,
        "feature_extractor": feature_extractor,
        "barlow_args": barlow_args,
        "pretraining_dataset": data_args.describe(),
    }
    if data_args.clip_seconds is not None:  # utterances reach the views whole (they draw their own segments)
        common["data_collator"] = WaveformCollator(round(data_args.clip_seconds * rate))
    if dino:
        dino_args = dino_args or DinoArguments()
        if views.view_segment_seconds is not None:  # the crops are DINO's segments
            logger.info(
                f"DINO draws its own crops ({dino_args.long_crop_seconds} s and {dino_args.short_crop_seconds} s): "
                f"view_segment_seconds={views.view_segment_seconds} applies to Barlow Twins only"
            )
            views = dataclasses.replace(views, view_segment_seconds=None)
        crops = dataclasses.replace(dino_args.multi_crop_config(), views=views)
        crops = MultiCropAugmentation(crops, noise_bank=noise, sampling_rate=rate)
        return DinoTrainer(**common, augmentation=crops, dino_args=dino_args)
    return BarlowTwinsTrainer(**common, augmentation=TwoViewAugmentation(views, noise_bank=noise, sampling_rate=rate))


def resolve_checkpoint(args: TrainingArguments) -> str | None:
    """The checkpoint to resume from, logged as "resuming from checkpoint-N at step N".

    `--resume_from_checkpoint last` (or true): the newest COMPLETE checkpoint of output_dir; incomplete ones (killed
    while saving, truncated weights) are skipped with a warning, and an output_dir without checkpoints starts from
    scratch. A path: that checkpoint, which must be complete.
    """
    wanted = args.resume_from_checkpoint
    if wanted is None or str(wanted).lower() in ("false", "none", ""):
        return None
    if str(wanted).lower() in ("last", "true"):
        checkpoint = last_complete_checkpoint(args.output_dir)
        if checkpoint is None:
            logger.warning(f"no checkpoint in {args.output_dir} to resume from; starting from scratch.")
            return None
    else:
        checkpoint = Path(wanted)
        if not checkpoint.is_dir():
            raise FileNotFoundError(
                f"--resume_from_checkpoint {wanted}: no such folder; pass a run's checkpoint-N folder, or `last`."
            )
        problem = checkpoint_problem(checkpoint)
        if problem:
            raise ValueError(
                f"--resume_from_checkpoint {wanted}: the checkpoint {problem}; pass `last` to resume from the newest "
                "complete one."
            )
    logger.info(f"resuming from {checkpoint.name} at step {checkpoint_step(checkpoint)}")
    return str(checkpoint)


# config fields that describe the file, not the model
CONFIG_METADATA = ("architectures", "auto_map", "dtype", "torch_dtype", "transformers_version", "_name_or_path")


def config_differences(saved: dict[str, Any], wanted: dict[str, Any], prefix: str = "") -> list[str]:
    """`field: saved -> wanted` for every config field (nested ones as `backbone_config.depths`) that differs; a
    field `saved` does not record (a checkpoint older than the field) is not compared."""
    differences = []
    for key, value in wanted.items():
        if key in CONFIG_METADATA or key not in saved:
            continue
        old = saved[key]
        if isinstance(old, dict) and isinstance(value, dict):
            differences += config_differences(old, value, f"{prefix}{key}.")
        elif old != value:
            differences.append(f"{prefix}{key}: {old!r} -> {value!r}")
    return differences


def check_resumable(checkpoint: str, model_args: ModelArguments) -> None:
    """A ValueError naming the config fields in which `checkpoint`'s model differs from the one the flags build,
    instead of a size mismatch when its weights load (checkpoints of `--model_name_or_path` runs are not compared)."""
    if model_args.model_name_or_path:
        return
    saved = json.loads((Path(checkpoint) / "config.json").read_text())
    wanted = json.loads(model_args.build_config().to_json_string(use_diff=False))  # as a config.json holds it
    differences = config_differences(saved, wanted)
    if differences:
        raise ValueError(
            f"--resume_from_checkpoint {checkpoint}: the checkpoint's model differs from the one these flags build "
            f"({'; '.join(differences)}; checkpoint -> flags). Resume with the flags the run started with (its "
            "config.json), or start the new model in another --output_dir."
        )


def claim_output_dir(args: TrainingArguments, overwrite: bool) -> None:
    """Refuse to start a run in an output_dir that holds one, unless `overwrite`: then the old run's checkpoint
    folders are deleted (so `--resume_from_checkpoint last` can never resume them) and its final files are
    replaced when this run saves."""
    found = previous_run(args.output_dir)
    if not found:
        return
    listed = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
    if not overwrite:
        raise ValueError(
            f"--output_dir {args.output_dir} already holds a run ({listed}): pass --resume_from_checkpoint last to "
            "continue it, --overwrite_output_dir true to replace it, or choose a new --output_dir."
        )
    logger.warning(f"--overwrite_output_dir: replacing the run in {args.output_dir} ({listed}).")
    if args.process_index == 0:
        for folder in checkpoint_folders(args.output_dir):
            shutil.rmtree(folder)


def run_pretraining(
    model_args: ModelArguments,
    data_args: DataArguments,
    barlow_args: BarlowTwinsArguments,
    dino_args: DinoArguments,
    args: TrainingArguments,
) -> Path:
    """Train one run (resuming as `--resume_from_checkpoint` says) and save model + feature extractor to output_dir.

    The output_dir is locked while the run writes to it (`output_dir_lock`, by the main process); one that holds
    another run is refused unless resumed or `--overwrite_output_dir` (`claim_output_dir`); a run whose loss or
    weights become NaN or infinite stops with `TrainingDivergedError` and saves nothing.
    """
    lock = output_dir_lock(args.output_dir) if args.process_index == 0 else contextlib.nullcontext()
    with lock:
        checkpoint = resolve_checkpoint(args)  # before the data: a run that cannot resume fails at once
        if checkpoint is None:
            claim_output_dir(args, barlow_args.overwrite_output_dir)
        else:
            check_resumable(checkpoint, model_args)
        trainer = build_trainer(model_args, data_args, barlow_args, args, dino_args)
        result = trainer.train(resume_from_checkpoint=checkpoint)
        trainer.save_model(args.output_dir)
        trainer.save_state()
        trainer.log_metrics("train", result.metrics)
        trainer.save_metrics("train", result.metrics)
    logger.info(f"saved the pretrained model to {args.output_dir}; load it with AutoModel.from_pretrained.")
    return Path(args.output_dir)


def main(argv: Sequence[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parsed = parse_arguments(argv)
    run_pretraining(*parsed)
    return 0
