"""Publish a Barlow Twins speech checkpoint to the Hugging Face Hub: `barlow-speech push` and `publish`.

`publish` builds the repo folder of a checkpoint (`barlow_speech.repo_folder.build_repo_folder`: weights, remote code,
projector, model card, requirements), then uploads it in ONE commit (`HfApi.create_commit`) after `create_repo`;
`upload_repo_folder` uploads an already built folder (the retry of a failed push). `BarlowTwinsTrainer.push_to_hub`
uploads the same contents (`barlow_speech.repo_folder.write_trainer_repo_contents`).

`build_repo_folder`, `write_repo_contents` and `load_projector` are documented at this path (docs/hub.md) and stay
importable from it. Tests point `HF_ENDPOINT` at a local Hub-compatible server (docs/hub.md).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import CommitOperationAdd, HfApi, get_token
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id
from transformers.utils import logging

from .arguments import CommandParser
from .model_card import ResultRecord
from .model_family import FAMILY, FamilyMember
from .repo_folder import build_repo_folder, load_projector, write_repo_contents

logger = logging.get_logger(__name__)

REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
TOKEN_HELP = (
    "no Hugging Face token found. Set the HF_TOKEN environment variable to a token with write access "
    "(https://huggingface.co/settings/tokens), run `hf auth login` (formerly `huggingface-cli login`), "
    "or pass token=... / --token."
)


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
            f"`barlow-speech push --folder {folder} --repo_id {repo_id}` (or `hf upload {repo_id} {folder} .`)."
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


@dataclass(kw_only=True)
class PushArguments:
    """What to publish (a checkpoint, or a repo folder built before) and where."""

    _argument_group_name = "push"
    checkpoint: str | None = field(
        default=None, metadata={"help": "save_pretrained folder of the model and its feature extractor."}
    )
    folder: str | None = field(
        default=None, metadata={"help": "an already built repo folder to upload as is (retry of a failed push)."}
    )
    repo_id: str = field(metadata={"help": "namespace/name on the Hub, e.g. my-org/bt-ls100."})
    results: list[str] = field(
        default_factory=list, metadata={"help": "probe / disentanglement result JSON files for the card."}
    )
    private: bool = field(default=False, metadata={"help": "create the repo as private."})
    revision: str | None = field(
        default=None, metadata={"help": "branch to commit to (created if missing; default: main)."}
    )
    output_dir: str | None = field(
        default=None, metadata={"help": "a new or empty folder to build the repo in (default: <checkpoint>-hub)."}
    )
    family: str | None = field(
        default=None, metadata={"help": f"family member for the card text, one of {sorted(FAMILY)}."}
    )
    epochs: float | None = field(
        default=None, metadata={"help": "pretraining epochs for the card (default: from trainer_state.json)."}
    )
    batch_size: int | None = field(
        default=None,
        metadata={
            "help": "global pretraining batch size for the card (per device x GPUs x accumulation; "
            "trainer_state.json only records the per-device batch)."
        },
    )
    commit_message: str | None = field(default=None, metadata={"help": "commit summary."})
    token: str | None = field(
        default=None, metadata={"help": "Hub token (default: HF_TOKEN or the `hf auth login` token)."}
    )
    build_only: bool = field(default=False, metadata={"help": "build the repo folder, do not upload."})

    def __post_init__(self):
        if (self.checkpoint is None) == (self.folder is None):
            raise ValueError(
                f"--checkpoint {self.checkpoint} --folder {self.folder}: pass exactly one, the checkpoint to publish "
                "or the repo folder built before."
            )
        check_repo_id(self.repo_id)


def main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech push`: build the repo folder and upload it (`barlow_speech.cli` reports failures in one line)."""
    description = "Publish a checkpoint with remote code and a model card built from measured results."
    (args,) = CommandParser([PushArguments], "push", description).parse(sys.argv[1:] if argv is None else argv)
    details = {key: value for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size)) if value}
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
    "PushArguments",
    "build_repo_folder",
    "check_repo_id",
    "load_projector",
    "main",
    "publish",
    "upload_repo_folder",
    "write_repo_contents",
]
