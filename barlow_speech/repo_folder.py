"""A model's repo folder: checking and loading a checkpoint, the projector file, and writing the folder a Hub repo
holds. `barlow_speech.hub` uploads such a folder; the trainer's `push_to_hub`, the evaluation pipeline and the frame
encoder (`barlow_speech.frames`: HEAR, s3prl) load and write through this module.

Loading: `load_pretrained(cls, checkpoint)` is the one loader of a `save_pretrained` folder or a Hub id, for a model,
config or feature extractor class: a missing folder, a truncated weights file (`safetensors_problem`) and a Hub id that
cannot be loaded are each one `FileNotFoundError` / `ValueError` naming the path and the fix, never a traceback of
safetensors or huggingface_hub. `load_checkpoint` loads a complete checkpoint folder (`check_checkpoint`) as the class
its config names.

Writing (`write_repo_contents`, `build_repo_folder` from a checkpoint folder, `write_trainer_repo_contents` from a
Trainer), the folder holds:

* `model.safetensors`, `config.json` (with `auto_map`), `preprocessor_config.json` (with `auto_map`);
* the self-contained remote code: `configuration_barlow.py`, `modeling_barlow.py`, `feature_extraction_barlow.py`,
  so `AutoModel.from_pretrained(repo, trust_remote_code=True)` works in a Python without barlow_speech;
* `projector.safetensors`: the projector alone (as the reference Barlow Twins released its projector), metadata
  `input_size` / `projector_dims`; `load_projector` rebuilds it;
* `README.md`: the model card (`barlow_speech.model_card`), model-index from measured results only;
* `requirements.txt`: what loading the remote code needs.

Result JSON: see `barlow_speech.model_card` (flat records `{"task", "dataset", "dataset_config", "split", "metric",
"label_fraction", "value", "std", "n_runs"}`, or the probe / disentanglement results of `barlow_speech.evaluation`).

`ModelCard.validate()` / `ModelCard.push_to_hub()` call the public Hub, so the card is only saved here and uploaded
with the folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, TypeVar

import torch
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from packaging.requirements import Requirement
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import PretrainedConfig, PreTrainedModel
from transformers.utils import logging

from .configuration_barlow import BarlowSpeechConfig
from .feature_extraction_barlow import BarlowSpeechFeatureExtractor
from .model_card import ResultRecord, load_records, render_model_card
from .model_family import FamilyMember, family_member, find_family_member
from .modeling_barlow import (
    AUTO_MAP,
    BarlowSpeechForAudioClassification,
    BarlowSpeechForPreTraining,
    BarlowSpeechModel,
    build_projector,
)
from .modeling_dino import DinoSpeechForPreTraining

logger = logging.get_logger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
REMOTE_CODE_FILES = ("configuration_barlow.py", "modeling_barlow.py", "feature_extraction_barlow.py")
FEATURE_EXTRACTOR_AUTO_MAP = {"AutoFeatureExtractor": "feature_extraction_barlow.BarlowSpeechFeatureExtractor"}
WEIGHTS_FILE = "model.safetensors"
WEIGHTS_INDEX = "model.safetensors.index.json"  # a sharded model's map of tensors to shard files
PROJECTOR_FILE = "projector.safetensors"
REQUIREMENTS_FILE = "requirements.txt"
# what a run records for its model card that trainer_state.json does not (the pretraining dataset)
TRAINING_DETAILS_FILE = "training_details.json"
# Packages the remote code imports (configuration/feature extraction/modeling files) + safetensors for the weights.
REMOTE_CODE_REQUIREMENTS = ("torch", "transformers", "numpy", "safetensors")
_MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (
        BarlowSpeechForPreTraining,
        BarlowSpeechModel,
        BarlowSpeechForAudioClassification,
        DinoSpeechForPreTraining,
    )
}
Loaded = TypeVar("Loaded")


# ------------------------------------------------------------------------------------------------ file checks
def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unreadable (truncated, bad header), or None when its header matches its size."""
    size = path.stat().st_size
    if size < 8:
        return f"{path.name} is {size} bytes, shorter than a safetensors header (truncated)"
    with path.open("rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
        if handle.read(1) != b"{":
            return f"{path.name} is not a safetensors file (its header is not JSON)"
        handle.seek(8)
        if 8 + header_size > size:
            return f"{path.name} is {size} bytes but its header alone needs {8 + header_size} (truncated)"
        try:
            header = json.loads(handle.read(header_size))
        except ValueError:
            return f"{path.name} has an unreadable header"
    data_size = max((entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"), default=0)
    if 8 + header_size + data_size != size:
        return f"{path.name} is {size} bytes but its header describes {8 + header_size + data_size} (truncated)"
    return None


def weight_files(folder: Path) -> list[Path]:
    """The weights a `save_pretrained` folder should hold: model.safetensors, or every shard its index names."""
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        return sorted({folder / name for name in json.loads(index.read_text())["weight_map"].values()})
    return [folder / WEIGHTS_FILE]


def check_checkpoint(checkpoint_dir: str | Path) -> Path:
    """The checkpoint folder, or a FileNotFoundError naming every missing file and how to produce it."""
    path = Path(checkpoint_dir)
    if not path.is_dir():
        raise FileNotFoundError(
            f"checkpoint folder {path} does not exist; pass the folder written by save_pretrained."
        )
    missing = []
    if not (path / "config.json").is_file():
        missing.append("config.json (model.save_pretrained)")
    if not any((path / name).is_file() for name in (WEIGHTS_FILE, WEIGHTS_INDEX)):
        missing.append("model.safetensors (model.save_pretrained)")
    if not (path / "preprocessor_config.json").is_file():
        missing.append("preprocessor_config.json (feature_extractor.save_pretrained)")
    if missing:
        raise FileNotFoundError(
            f"checkpoint folder {path} lacks {', '.join(missing)}. Save the model and its BarlowSpeechFeatureExtractor"
            " into it with save_pretrained (the Trainer saves both when given processing_class=extractor)."
        )
    return path


# ------------------------------------------------------------------------------------------------ loading
def could_be_hub_id(name: str) -> bool:
    """Whether `name` has the form of a Hub model id ("name" or "org/name"), which a mistyped folder may also have."""
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return not name.startswith((".", "~"))


def _what(cls: type) -> str:
    """What `cls.from_pretrained` loads, for messages."""
    if issubclass(cls, PretrainedConfig):
        return "config"
    return "model" if issubclass(cls, PreTrainedModel) else "feature extractor"


def load_pretrained(cls: type[Loaded], checkpoint: str | Path, **kwargs: Any) -> Loaded:
    """`cls.from_pretrained(checkpoint, **kwargs)` for a model, config or feature extractor class, from a
    `save_pretrained` folder or a Hub id (`kwargs`: revision, token, cache_dir, output_loading_info, overrides...).

    Errors say what was looked for and the fix: no checkpoint (""), a missing path that cannot be a Hub id
    (`./runs/x`, `runs/bt/x`, `~/x`, an absolute path) and a folder without the file `cls` reads are a
    FileNotFoundError; a missing path that could be a Hub id is tried as one and the error names both readings. Before
    a model loads from a folder, every `*.safetensors` there is checked (`safetensors_problem`): a truncated file is a
    ValueError naming it, not safetensors' deserialisation traceback.
    """
    checkpoint = str(checkpoint)
    if not checkpoint:
        raise ValueError(
            f"checkpoint={checkpoint!r}: pass the folder written by `barlow-speech pretrain` (or any "
            "`save_pretrained` folder), the Hub id of a pushed model, or the encoder shipped in the package: "
            "barlow_speech.pretrained('bt-small')."
        )
    folder = Path(checkpoint).expanduser()
    if not folder.exists() and not could_be_hub_id(checkpoint):
        raise FileNotFoundError(
            f"no such folder: {str(folder.resolve())!r} (from {checkpoint!r}); pass the folder written by "
            "`barlow-speech pretrain` (or any save_pretrained folder)."
        )
    if folder.is_dir() and issubclass(cls, PreTrainedModel):
        for path in sorted(folder.glob("*.safetensors")):
            problem = safetensors_problem(path)
            if problem:
                raise ValueError(
                    f"checkpoint {checkpoint!r}: {problem}; copy or save the model again (an interrupted copy or "
                    "save, or a full disk, leaves a truncated file)."
                )
    try:
        return cls.from_pretrained(str(folder) if folder.exists() else checkpoint, **kwargs)
    except OSError as error:
        reason = str(error).strip().splitlines()[0]
        if folder.exists():
            raise FileNotFoundError(
                f"could not load the {_what(cls)} of {checkpoint!r}: {reason}. Pass a folder written by "
                "save_pretrained / `barlow-speech pretrain`."
            ) from error
        raise FileNotFoundError(
            f"no such folder: {str(folder.resolve())!r}, and {checkpoint!r} read as a Hub model id could not be "
            f"loaded ({reason}). Pass the folder written by `barlow-speech pretrain`, or the id of a pushed model "
            "that is online or already cached (HF_HUB_OFFLINE=1 reads only the cache)."
        ) from error


def load_checkpoint(checkpoint_dir: str | Path) -> tuple[torch.nn.Module, BarlowSpeechFeatureExtractor]:
    """The model (the class named in config.json's `architectures`, in eval mode) and feature extractor of a complete
    checkpoint folder (`check_checkpoint`)."""
    path = check_checkpoint(checkpoint_dir)
    config = load_pretrained(BarlowSpeechConfig, path)
    name = (config.architectures or [BarlowSpeechForPreTraining.__name__])[0]
    if name not in _MODEL_CLASSES:
        raise ValueError(f"{path}/config.json names architecture {name!r}; expected one of {sorted(_MODEL_CLASSES)}.")
    model = load_pretrained(_MODEL_CLASSES[name], path).eval()
    return model, load_pretrained(BarlowSpeechFeatureExtractor, path)


# ------------------------------------------------------------------------------------------------ writing
def _requirements() -> str:
    """requirements.txt: the ranges barlow-speech itself declares for the packages its remote code imports."""
    try:
        declared = importlib_metadata.requires("barlow-speech") or []
    except importlib_metadata.PackageNotFoundError:
        raise ValueError(
            "barlow-speech is not installed, so its requirement ranges are unknown; install it (pip install -e . in "
            "the repository) before writing a repo folder."
        ) from None
    ranges = {Requirement(line).name: Requirement(line) for line in declared if "extra ==" not in line}
    lines = ["# What loading this repo with trust_remote_code=True needs (the ranges barlow-speech declares)."]
    for package in REMOTE_CODE_REQUIREMENTS:  # lower bounds first: transformers>=5.0,<6
        lines.append(package + ",".join(sorted(map(str, ranges[package].specifier), key=lambda s: s[0] != ">")))
    return "\n".join(lines) + "\n"


def save_training_details(folder: str | Path, details: Mapping[str, Any]) -> None:
    """Write `details` (e.g. `{"upstream_dataset": "tts_speech (split pretrain, 4000 generated clips)"}`) to the
    folder's training_details.json, which `training_details_from_checkpoint` reads back for the model card."""
    (Path(folder) / TRAINING_DETAILS_FILE).write_text(json.dumps(dict(details), indent=2) + "\n")


def save_projector(projector: torch.nn.Module, config: BarlowSpeechConfig, path: str | Path) -> None:
    """Write the projector's weights alone, with the sizes that rebuild it (`build_projector`) as metadata."""
    tensors = {key: value.detach().contiguous().cpu() for key, value in projector.state_dict().items()}
    save_file(
        tensors,
        str(path),
        metadata={
            "format": "pt",
            "input_size": str(config.projector_input_size),
            "projector_dims": json.dumps(config.projector_dims),
        },
    )


def load_projector(repo_or_path: str | Path, revision: str | None = None) -> torch.nn.Sequential:
    """The projector of a published repo or built folder: `(batch, config.projector_input_size)` -> `(batch, latent)`,
    on what `BarlowSpeechModel.head_inputs` returns (`pooler_output`, or every layer's pooled vector concatenated)."""
    path = Path(repo_or_path) / PROJECTOR_FILE
    if not path.is_file():
        path = Path(hf_hub_download(str(repo_or_path), PROJECTOR_FILE, revision=revision))
    with safe_open(str(path), "pt") as handle:
        meta = handle.metadata()
    projector = build_projector(int(meta["input_size"]), json.loads(meta["projector_dims"]))
    projector.load_state_dict(load_file(str(path)))
    return projector.eval()


def _check_auto_maps(folder: Path) -> None:
    config_map = json.loads((folder / "config.json").read_text()).get("auto_map") or {}
    extractor_map = json.loads((folder / "preprocessor_config.json").read_text()).get("auto_map") or {}
    missing = sorted(set(AUTO_MAP) - set(config_map)) + sorted(set(FEATURE_EXTRACTOR_AUTO_MAP) - set(extractor_map))
    if missing:
        raise ValueError(
            f"{folder}: auto_map lacks {missing}, so the repo would not load with trust_remote_code. "
            "Save barlow_speech models (import barlow_speech first: it calls register_for_auto_class)."
        )


def write_repo_contents(
    model: torch.nn.Module,
    feature_extractor: BarlowSpeechFeatureExtractor,
    folder: str | Path,
    *,
    repo_id: str | None = None,
    results: Iterable[str | Path | Mapping | list | ResultRecord] | None = None,
    training_details: Mapping[str, Any] | None = None,
    family: str | FamilyMember | None = None,
) -> Path:
    """Write the complete repo contents of `model` + `feature_extractor` into `folder` (created if needed).

    Files: model.safetensors, config.json, preprocessor_config.json, the remote-code files, projector.safetensors
    (models with a projector), README.md (model card) and requirements.txt. The Trainer calls this from its
    `create_model_card`, so `Trainer.push_to_hub` uploads the same repo as `publish`.

    Args:
        repo_id: `"org/name"` shown in the card's usage snippets (default: the folder's name).
        results: result JSON paths, parsed results or `ResultRecord`s (`barlow_speech.model_card`).
        training_details: e.g. `{"epochs": 50, "batch_size": 64, "upstream_dataset": "LibriSpeech train-clean-100"}`;
            `training_details_from_trainer` builds it from a Trainer.
        family: a family member (`"bt-ls100"`, ...) for the card text; default: the one `repo_id` names, if any.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    repo_id = repo_id or folder.name
    member = family_member(family) if isinstance(family, str) else family or find_family_member(repo_id)
    records = load_records(results)
    model.save_pretrained(folder)
    feature_extractor.save_pretrained(folder)
    for name in REMOTE_CODE_FILES:  # save_pretrained copies them for registered classes; make sure all three are there
        shutil.copyfile(PACKAGE_DIR / name, folder / name)
    _check_auto_maps(folder)
    projector = getattr(model, "projector", None)
    if projector is not None:
        save_projector(projector, model.config, folder / PROJECTOR_FILE)
    (folder / REQUIREMENTS_FILE).write_text(_requirements())
    card = render_model_card(
        model.config,
        feature_extractor,
        repo_id=repo_id,
        results=records,
        training_details=training_details,
        member=member,
        has_projector=projector is not None,
    )
    card.save(folder / "README.md")
    logger.info(f"wrote the repo contents of {repo_id} to {folder} ({len(records)} result(s) in the card)")
    return folder


def training_details_from_checkpoint(checkpoint_dir: str | Path) -> dict:
    """Epochs and per-device batch size from a Trainer checkpoint's trainer_state.json, and what the run saved in
    training_details.json (`save_training_details`: the pretraining dataset); empty if there is neither.

    trainer_state.json records neither the world size nor the gradient accumulation, so the batch size is
    `batch_size_per_device`, not the global `batch_size` (pass that from the run, e.g. `--batch-size`).
    """
    details_path = Path(checkpoint_dir) / TRAINING_DETAILS_FILE
    details = json.loads(details_path.read_text()) if details_path.is_file() else {}
    state_path = Path(checkpoint_dir) / "trainer_state.json"
    if not state_path.is_file():
        return details
    state = json.loads(state_path.read_text())
    if state.get("epoch") is not None:
        details["epochs"] = round(float(state["epoch"]), 2)
    if state.get("train_batch_size") is not None:
        details["batch_size_per_device"] = int(state["train_batch_size"])
    if state.get("global_step"):
        details["optimizer_steps"] = state["global_step"]
    return details


def training_details_from_trainer(trainer: Any) -> dict:
    """Training details of a (BarlowTwins)Trainer for the card: epochs, global batch, learning rate, seed, steps."""
    args = trainer.args
    details = {
        "epochs": round(float(trainer.state.epoch), 2) if trainer.state.epoch else args.num_train_epochs,
        "batch_size": args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps,
        "learning_rate": args.learning_rate,
        "seed": args.seed,
    }
    if trainer.state.global_step:
        details["optimizer_steps"] = trainer.state.global_step
    if getattr(trainer, "pretraining_dataset", None):  # a BarlowTwinsTrainer's
        details["upstream_dataset"] = trainer.pretraining_dataset
    return details


def write_trainer_repo_contents(
    trainer: Any,
    results: Iterable[str | Path | Mapping | list | ResultRecord] | None = None,
    family: str | FamilyMember | None = None,
) -> Path:
    """What a Trainer's `create_model_card` override calls so `Trainer.push_to_hub` uploads the `publish` contents.

    Writes into `trainer.args.output_dir` (the folder the stock push uploads) the model, `trainer.processing_class`
    (the feature extractor), remote code, projector, requirements and our card in place of the stock one::

        class BarlowTwinsTrainer(Trainer):
            def create_model_card(self, **kwargs):  # stock arguments (language, tags, ...) are not used
                write_trainer_repo_contents(self)
    """
    extractor = trainer.processing_class
    if not isinstance(extractor, BarlowSpeechFeatureExtractor):
        raise ValueError(
            f"the Trainer's processing_class is {type(extractor).__name__}, but the repo needs the "
            "BarlowSpeechFeatureExtractor; pass processing_class=extractor to the Trainer."
        )
    output_dir = Path(trainer.args.output_dir)
    repo_id = getattr(trainer, "hub_model_id", None) or trainer.args.hub_model_id or output_dir.name
    return write_repo_contents(
        trainer.model,
        extractor,
        output_dir,
        repo_id=repo_id,
        results=results,
        training_details=training_details_from_trainer(trainer),
        family=family,
    )


def _prepare_output_dir(checkpoint_dir: Path, output_dir: str | Path | None) -> Path:
    """Where the repo folder goes (default: `<checkpoint>-hub` next to it): a new or empty folder, never cleared.

    Nothing there is deleted: a non-empty folder may hold a run's checkpoints (or be the checkpoint's parent), so it
    is refused with the fix instead.
    """
    output = Path(output_dir) if output_dir is not None else checkpoint_dir.with_name(checkpoint_dir.name + "-hub")
    if output.resolve() == checkpoint_dir.resolve():
        raise ValueError(f"output_dir {output} is the checkpoint folder itself; choose another folder.")
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(
            f"output_dir {output} is not an empty folder; build into a new or empty one (--output_dir), upload a "
            f"previous build as is with `barlow-speech push --folder {output}`, or delete it yourself first."
        )
    return output


def build_repo_folder(
    checkpoint_dir: str | Path,
    output_dir: str | Path | None = None,
    *,
    results: Iterable[str | Path | Mapping | list | ResultRecord] | None = None,
    model_name: str | None = None,
    training_details: Mapping[str, Any] | None = None,
    family: str | FamilyMember | None = None,
) -> Path:
    """Build the complete repo folder of a checkpoint (see the module docstring) and return its path.

    Args:
        checkpoint_dir: a `save_pretrained` folder with config.json, model.safetensors and preprocessor_config.json.
        output_dir: where to build (default `<checkpoint_dir>-hub`): a new or empty folder; nothing is deleted.
        results: result JSON files or parsed results for the card's model-index.
        model_name: the repo id (`"org/bt-ls100"`) or name shown in the card; default the checkpoint folder's name.
        training_details: overrides / additions to what trainer_state.json records (epochs, batch_size, ...).
        family: family member for the card text; default the one `model_name` names.
    """
    checkpoint = check_checkpoint(checkpoint_dir)
    records = load_records(results)  # fail on bad result files before any writing
    output = _prepare_output_dir(checkpoint, output_dir)
    model, extractor = load_checkpoint(checkpoint)
    details = {**training_details_from_checkpoint(checkpoint), **dict(training_details or {})}
    return write_repo_contents(
        model,
        extractor,
        output,
        repo_id=model_name or checkpoint.name,
        results=records,
        training_details=details,
        family=family,
    )


__all__ = [
    "build_repo_folder",
    "check_checkpoint",
    "load_checkpoint",
    "load_pretrained",
    "load_projector",
    "safetensors_problem",
    "save_projector",
    "training_details_from_checkpoint",
    "training_details_from_trainer",
    "weight_files",
    "write_repo_contents",
    "write_trainer_repo_contents",
]
