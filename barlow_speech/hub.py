"""Publish a Barlow Twins speech checkpoint to the Hugging Face Hub with its remote code and a measured model card.

`build_repo_folder` turns a checkpoint (a `save_pretrained` folder of a barlow_speech model + its feature extractor)
into the complete repo folder; `publish` builds it, then uploads it in ONE commit (`HfApi.create_commit`) after
`create_repo`. The folder holds:

* `model.safetensors`, `config.json` (with `auto_map`), `preprocessor_config.json` (with `auto_map`);
* the self-contained remote code: `configuration_barlow.py`, `modeling_barlow.py`, `feature_extraction_barlow.py`,
  so `AutoModel.from_pretrained(repo, trust_remote_code=True)` works in a Python without barlow_speech;
* `projector.safetensors`: the projector alone (as the reference Barlow Twins released its projector), metadata
  `input_size` / `projector_dims`; `load_projector` rebuilds it;
* `README.md`: the model card (`barlow_speech.model_card`), model-index from measured results only;
* `requirements.txt`: what loading the remote code needs.

Result JSON: see `barlow_speech.model_card` (flat records `{"task", "dataset", "dataset_config", "split", "metric",
"label_fraction", "value", "std", "n_runs"}`, or the probe / disentanglement results of `barlow_speech.evaluation`).

`BarlowTwinsTrainer` produces the same contents from its `create_model_card` override, which calls
`write_trainer_repo_contents(self)` (a thin wrapper of `write_repo_contents(model, feature_extractor, folder, ...)`).

`ModelCard.validate()` / `ModelCard.push_to_hub()` call the public Hub, so the card is only saved here and uploaded
with the folder. Tests point `HF_ENDPOINT` at a local Hub-compatible server (docs/hub.md).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitOperationAdd, HfApi, get_token, hf_hub_download
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers.utils import logging

from . import (
    BarlowSpeechConfig,
    BarlowSpeechFeatureExtractor,
    BarlowSpeechForAudioClassification,
    BarlowSpeechForPreTraining,
    BarlowSpeechModel,
    DinoSpeechForPreTraining,
)
from .model_card import ResultRecord, load_results, render_model_card
from .model_family import FAMILY, FamilyMember, family_member, find_family_member
from .modeling_barlow import AUTO_MAP, build_projector

logger = logging.get_logger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
REMOTE_CODE_FILES = ("configuration_barlow.py", "modeling_barlow.py", "feature_extraction_barlow.py")
FEATURE_EXTRACTOR_AUTO_MAP = {"AutoFeatureExtractor": "feature_extraction_barlow.BarlowSpeechFeatureExtractor"}
PROJECTOR_FILE = "projector.safetensors"
REQUIREMENTS_FILE = "requirements.txt"
# Packages the remote code imports (configuration/feature extraction/modeling files) + safetensors for the weights.
REMOTE_CODE_REQUIREMENTS = ("torch", "transformers", "numpy", "safetensors")
REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
TOKEN_HELP = (
    "no Hugging Face token found. Set the HF_TOKEN environment variable to a token with write access "
    "(https://huggingface.co/settings/tokens), run `hf auth login` (formerly `huggingface-cli login`), "
    "or pass token=... / --token."
)
_MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (
        BarlowSpeechForPreTraining,
        BarlowSpeechModel,
        BarlowSpeechForAudioClassification,
        DinoSpeechForPreTraining,
    )
}


class HubPublishError(RuntimeError):
    """Publishing failed (no token, or the Hub refused or dropped the upload); the message says how to retry."""


def check_repo_id(repo_id: str) -> str:
    """`"org/name"` or a ValueError that shows the expected form."""
    try:
        if not isinstance(repo_id, str) or not REPO_ID_PATTERN.match(repo_id):
            raise HFValidationError("expected exactly one '/' between a namespace and a name")
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(
            f"repo id {repo_id!r} is malformed ({error}); expected 'namespace/name' with letters, digits, '-', '_' "
            "or '.', e.g. 'my-org/bt-ls100'."
        ) from None
    return repo_id


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
    if not any((path / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        missing.append("model.safetensors (model.save_pretrained)")
    if not (path / "preprocessor_config.json").is_file():
        missing.append("preprocessor_config.json (feature_extractor.save_pretrained)")
    if missing:
        raise FileNotFoundError(
            f"checkpoint folder {path} lacks {', '.join(missing)}. Save the model and its BarlowSpeechFeatureExtractor"
            " into it with save_pretrained (the Trainer saves both when given processing_class=extractor)."
        )
    return path


def load_checkpoint(checkpoint_dir: str | Path) -> tuple[torch.nn.Module, BarlowSpeechFeatureExtractor]:
    """The model (the class named in config.json's `architectures`) and feature extractor of a checkpoint."""
    path = check_checkpoint(checkpoint_dir)
    config = BarlowSpeechConfig.from_pretrained(path)
    name = (config.architectures or [BarlowSpeechForPreTraining.__name__])[0]
    if name not in _MODEL_CLASSES:
        raise ValueError(f"{path}/config.json names architecture {name!r}; expected one of {sorted(_MODEL_CLASSES)}.")
    model = _MODEL_CLASSES[name].from_pretrained(path).eval()
    return model, BarlowSpeechFeatureExtractor.from_pretrained(path)


def _requirements() -> str:
    lines = [
        "# What loading this repo with trust_remote_code=True needs (lower bounds: the versions it was built with)."
    ]
    for package in REMOTE_CODE_REQUIREMENTS:
        major, minor = importlib_metadata.version(package).split(".")[:2]
        upper = f",<{int(major) + 1}" if package == "transformers" else ""
        lines.append(f"{package}>={major}.{minor}{upper}")
    return "\n".join(lines) + "\n"


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
    records = load_results(results)
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
    """Epochs and per-device batch size from a Trainer checkpoint's trainer_state.json (empty if there is none).

    trainer_state.json records neither the world size nor the gradient accumulation, so the batch size is
    `batch_size_per_device`, not the global `batch_size` (pass that from the run, e.g. `--batch-size`).
    """
    state_path = Path(checkpoint_dir) / "trainer_state.json"
    if not state_path.is_file():
        return {}
    state = json.loads(state_path.read_text())
    details = {}
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
            f"output_dir {output} is not an empty folder; build into a new or empty one (--output-dir), upload a "
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
    records = load_results(results)  # fail on bad result files before any writing
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


def _resolve_token(token: str | None) -> str:
    token = token or get_token()
    if not token:
        raise HubPublishError(TOKEN_HELP)
    return token


def _repo_files(folder: Path) -> list[Path]:
    """Every file of the built folder, hidden ones (e.g. `.cache`) excluded."""
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} is not a built repo folder (no config.json); build it with build_repo_folder."
        )
    relative = (path.relative_to(folder) for path in folder.rglob("*") if path.is_file())
    return sorted(folder / rel for rel in relative if not any(part.startswith(".") for part in rel.parts))


def upload_repo_folder(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    commit_message: str | None = None,
):
    """Create the repo (if needed) and upload every file of `folder` in one commit; returns the `CommitInfo`.

    Any failure raises `HubPublishError` saying where the folder is kept and how to retry.
    """
    folder = Path(folder)
    check_repo_id(repo_id)
    token = _resolve_token(token)
    operations = [
        CommitOperationAdd(path_in_repo=path.relative_to(folder).as_posix(), path_or_fileobj=str(path))
        for path in _repo_files(folder)
    ]
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None and revision != "main":
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        info = api.create_commit(
            repo_id,
            operations,
            revision=revision,
            commit_message=commit_message or f"Upload {repo_id.rsplit('/', 1)[-1]} (barlow-speech)",
        )
    except Exception as error:  # the client raises HfHubHTTPError, httpx, hf_xet and OS errors: all mean "retry"
        raise HubPublishError(
            f"uploading {folder} to {api.endpoint}/{repo_id} failed: {type(error).__name__}: {error}\n"
            f"The built repo folder is kept at {folder.resolve()}; retry with "
            f"`barlow-speech push --folder {folder} --repo-id {repo_id}` (or `hf upload {repo_id} {folder} .`)."
        ) from error
    logger.info(f"uploaded {len(operations)} files to {info.commit_url}")
    return info


def publish(
    checkpoint_dir: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    results: Iterable[str | Path | Mapping | list | ResultRecord] | None = None,
    token: str | None = None,
    commit_message: str | None = None,
    output_dir: str | Path | None = None,
    training_details: Mapping[str, Any] | None = None,
    family: str | FamilyMember | None = None,
):
    """Build the repo folder of a checkpoint and upload it to `repo_id` in one commit; returns the `CommitInfo`.

    The repo id and the token are checked before anything is built. The folder (default `<checkpoint_dir>-hub`)
    stays on disk, so a failed upload can be retried without rebuilding (`upload_repo_folder`).
    """
    check_repo_id(repo_id)
    token = _resolve_token(token)
    folder = build_repo_folder(
        checkpoint_dir,
        output_dir,
        results=results,
        model_name=repo_id,
        training_details=training_details,
        family=family,
    )
    return upload_repo_folder(
        folder, repo_id, private=private, revision=revision, token=token, commit_message=commit_message
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="barlow-speech push",
        description="Publish a checkpoint with remote code and a model card built from measured results.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="save_pretrained folder of the model and its feature extractor")
    source.add_argument("--folder", help="an already built repo folder to upload as is (retry of a failed push)")
    parser.add_argument("--repo-id", required=True, help="namespace/name on the Hub, e.g. my-org/bt-ls100")
    parser.add_argument("--results", nargs="*", default=[], help="probe / disentanglement result JSON files")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to commit to (created if missing); default main")
    parser.add_argument("--output-dir", help="a new or empty folder to build the repo in (default <checkpoint>-hub)")
    parser.add_argument("--family", help=f"family member for the card text, one of {sorted(FAMILY)}")
    parser.add_argument("--epochs", type=float, help="pretraining epochs for the card (else trainer_state.json)")
    parser.add_argument(
        "--batch-size",
        type=int,
        help="global pretraining batch size for the card (per device x GPUs x "
        "accumulation; trainer_state.json only records the per-device batch)",
    )
    parser.add_argument("--commit-message", help="commit summary")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the `hf auth login` token)")
    parser.add_argument("--build-only", action="store_true", help="build the repo folder, do not upload")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech push`: build the repo folder and upload it (`barlow_speech.cli` reports failures in one line)."""
    args = _parser().parse_args(argv)
    details = {key: value for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size)) if value}
    check_repo_id(args.repo_id)
    if args.folder:
        info = upload_repo_folder(
            args.folder,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            token=args.token,
            commit_message=args.commit_message,
        )
    elif args.build_only:
        folder = build_repo_folder(
            args.checkpoint,
            args.output_dir,
            results=args.results,
            model_name=args.repo_id,
            training_details=details,
            family=args.family,
        )
        print(f"built {folder}")
        return 0
    else:
        info = publish(
            args.checkpoint,
            args.repo_id,
            private=args.private,
            revision=args.revision,
            results=args.results,
            token=args.token,
            commit_message=args.commit_message,
            output_dir=args.output_dir,
            training_details=details,
            family=args.family,
        )
    print(f"published {args.repo_id}: {info.commit_url}")
    return 0


__all__ = [
    "HubPublishError",
    "build_repo_folder",
    "check_checkpoint",
    "check_repo_id",
    "load_checkpoint",
    "load_projector",
    "main",
    "publish",
    "save_projector",
    "training_details_from_checkpoint",
    "training_details_from_trainer",
    "upload_repo_folder",
    "write_repo_contents",
    "write_trainer_repo_contents",
]
