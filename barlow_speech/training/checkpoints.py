"""Which Trainer checkpoint a run can resume from (the newest COMPLETE one), and the views' state it carries.

A run killed while saving leaves a `checkpoint-N` folder without trainer_state.json (the Trainer writes it last), and
a full disk can leave truncated weights. `last_complete_checkpoint` skips both, with a warning giving the reason,
instead of handing the Trainer a folder it fails on with a raw SafetensorError (the file checks are the repo folder's:
`barlow_speech.repo_folder.safetensors_problem`, `weight_files`).

Checkpoints are shared files, so nothing in one may run code: the views' state is written as safetensors (tensors, plus
JSON in its header) by `save_views_state` and read back without pickle by `load_views_state`. The pickled
`augmentation_state*.pt` of older versions (BYOL-A mixup's memory of 512 spectrograms, which the views no longer keep)
is never loaded: a pickle can run any command when unpickled.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..repo_folder import WEIGHTS_FILE, WEIGHTS_INDEX, safetensors_problem, weight_files

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")  # transformers' PREFIX_CHECKPOINT_DIR + "-" + step
TRAINER_STATE = "trainer_state.json"
VIEWS_STATE_GLOB = "views_state*.safetensors"
LEGACY_VIEWS_STATE_GLOB = "augmentation_state*.pt"  # pickles of barlow-speech before issue 33: never loaded
FINAL_RUN_FILES = (TRAINER_STATE, WEIGHTS_FILE, WEIGHTS_INDEX)  # what a finished run leaves in output_dir
LOCK_FILE = "_pretrain.lock"  # "_*": the Trainer's Hub push skips it


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from, or None when it is complete.

    Complete: config.json, the weights (model.safetensors, or the index and every shard it names) and the views'
    state files with headers that match their sizes, and trainer_state.json, which the Trainer writes after
    everything else.
    """
    weights = weight_files(folder)
    missing = [path.name for path in [folder / "config.json", *weights, folder / TRAINER_STATE] if not path.is_file()]
    if missing:
        return f"lacks {', '.join(missing)} (killed while saving?)"
    for path in [*weights, *sorted(folder.glob(VIEWS_STATE_GLOB))]:
        problem = safetensors_problem(path)
        if problem:
            return problem
    try:
        state = json.loads((folder / TRAINER_STATE).read_text())
    except ValueError:
        return f"{TRAINER_STATE} is not valid JSON (killed while saving?)"
    return None if isinstance(state, dict) and "global_step" in state else f"{TRAINER_STATE} has no global_step"


def checkpoint_step(folder: Path) -> int:
    """The optimizer step a complete checkpoint was saved at (trainer_state.json's global_step)."""
    return int(json.loads((folder / TRAINER_STATE).read_text())["global_step"])


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete `checkpoint-N` folder of `output_dir`, None when it has no checkpoint folder at all.

    Incomplete ones are skipped with a warning naming the reason. Raises ValueError when checkpoint folders exist but
    none is complete.
    """
    folders = checkpoint_folders(output_dir)
    if not folders:
        return None
    skipped = []
    for folder in reversed(folders):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder
        logger.warning(f"skipping {folder.name}: {problem}.")
        skipped.append(f"{folder.name} ({problem})")
    raise ValueError(
        f"no complete checkpoint in {output_dir} to resume from: {'; '.join(skipped)}. Pass --resume_from_checkpoint "
        "false to start over (or a complete checkpoint folder), or move the broken ones away."
    )


def views_state_file(folder: str | Path, process_index: int, world_size: int) -> Path:
    """Where a checkpoint keeps the views' state of one process (`views_state_<rank>.safetensors` under DDP)."""
    suffix = f"_{process_index}" if world_size > 1 else ""
    return Path(folder) / f"views_state{suffix}.safetensors"


def save_views_state(views: nn.Module, path: str | Path) -> None:
    """`views.state_dict()` as safetensors: tensors as tensors, anything else (extra state) as JSON in the header.

    The package's views keep no state (an empty file of a few bytes); a caller's augmentation module with buffers
    resumes with them. Raises ValueError for state that is neither a tensor nor JSON: it would need a pickle.
    """
    state = views.state_dict()
    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items() if torch.is_tensor(value)}
    other = {key: value for key, value in state.items() if not torch.is_tensor(value)}
    try:
        extra = json.dumps(other)
    except TypeError as error:
        raise ValueError(
            f"the views' state holds {sorted(other)}, which is neither tensors nor JSON ({error}); checkpoints keep "
            "only tensors and JSON (a pickle could run code when loaded): store it as tensors."
        ) from None
    save_file(tensors, str(path), metadata={"extra_state": extra})


def load_views_state(views: nn.Module, path: str | Path, device: torch.device | str = "cpu") -> None:
    """Load a `save_views_state` file into `views` without unpickling anything. Raises ValueError naming the file
    when it is not a complete safetensors file (a pickle under this name is refused, never run)."""
    path = Path(path)
    problem = safetensors_problem(path)
    if problem:
        raise ValueError(
            f"{path}: {problem}; a checkpoint's views state must be the safetensors file the trainer writes. Resume "
            "from another checkpoint, or delete the file to resume without it."
        )
    with safe_open(str(path), framework="pt", device=str(device)) as handle:
        state = {key: handle.get_tensor(key) for key in handle.keys()}
        state.update(json.loads((handle.metadata() or {}).get("extra_state", "{}")))
    views.load_state_dict(state)


def warn_about_legacy_views_state(folder: str | Path) -> None:
    """One warning per pickled `augmentation_state*.pt` of an older version in `folder`: never loaded."""
    for path in sorted(Path(folder).glob(LEGACY_VIEWS_STATE_GLOB)):
        logger.warning(
            f"ignoring {path}: a pickle written by an older barlow-speech (BYOL-A mixup's memory, which the views no "
            "longer keep). Pickles can run code when loaded, so it is never read; delete it."
        )


# ------------------------------------------------------------------------------------------------ run folders
def checkpoint_folders(output_dir: str | Path) -> list[Path]:
    """The `checkpoint-N` folders of `output_dir`, by step."""
    folders = [p for p in Path(output_dir).glob("checkpoint-*") if p.is_dir() and CHECKPOINT_PATTERN.match(p.name)]
    return sorted(folders, key=lambda path: int(CHECKPOINT_PATTERN.match(path.name).group(1)))


def previous_run(output_dir: str | Path) -> list[str]:
    """The names of what a pretraining run left in `output_dir` (checkpoint folders, final model, trainer state);
    empty when it holds none."""
    final = [name for name in FINAL_RUN_FILES if (Path(output_dir) / name).is_file()]
    return [path.name for path in checkpoint_folders(output_dir)] + final


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _read_lock(path: Path) -> dict | None:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) and {"pid", "host", "started"} <= holder.keys() else None


def _create_lock(path: Path) -> bool:
    """Create the lock atomically (O_CREAT | O_EXCL) with this process' pid, host and start time; False if it
    exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    started = datetime.datetime.now().isoformat(timespec="seconds")
    with os.fdopen(fd, "w") as handle:
        json.dump({"pid": os.getpid(), "host": socket.gethostname(), "started": started}, handle)
    return True


@contextlib.contextmanager
def output_dir_lock(output_dir: str | Path) -> Iterator[Path]:
    """Hold `output_dir/_pretrain.lock` while a run writes there; removed on exit, also on error.

    A lock whose process still runs, runs on another host (its pid cannot be checked from here) or cannot be read is
    a ValueError naming the holder and the fix. A stale lock (its pid no longer runs on this host: a killed run) is
    reported and taken over. Two runs taking over the same stale lock in the same instant are not told apart.
    """
    path = Path(output_dir) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if not _create_lock(path):
        holder = _read_lock(path)
        where = f"--output_dir {output_dir} is locked by {path.name}"
        if holder is None:
            raise ValueError(
                f"{where}, which cannot be read; if no run is writing to this folder, delete {path} and start again."
            )
        who = f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
        if holder["host"] != socket.gethostname():
            raise ValueError(
                f"{where} ({who}): another run may be writing to it. Wait for it to finish or choose another "
                f"--output_dir; if that run was killed, delete {path}."
            )
        if _pid_alive(int(holder["pid"])):
            raise ValueError(
                f"{where}: another run ({who}) is writing to it. Wait for it to finish or choose another --output_dir."
            )
        logger.warning(f"taking over the stale lock {path} of a run that no longer runs ({who}).")
        path.unlink(missing_ok=True)
        if not _create_lock(path):
            raise ValueError(f"{where}: another run took over its stale lock first; choose another --output_dir.")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
