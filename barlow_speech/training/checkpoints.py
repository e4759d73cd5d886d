"""Which Trainer checkpoint a run can resume from (the newest COMPLETE one), and the views' state it carries.

A run killed while saving leaves a `checkpoint-N` folder without trainer_state.json (the Trainer writes it last), and
a full disk can leave truncated weights. `last_complete_checkpoint` skips both, with a warning giving the reason,
instead of handing the Trainer a folder it fails on with a raw SafetensorError.

Checkpoints are shared files, so nothing in one may run code: the views' state is written as safetensors (tensors, plus
JSON in its header) by `save_views_state` and read back without pickle by `load_views_state`. The pickled
`augmentation_state*.pt` of older versions (BYOL-A mixup's memory of 512 spectrograms, which the views no longer keep)
is never loaded: a pickle can run any command when unpickled.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")  # transformers' PREFIX_CHECKPOINT_DIR + "-" + step
TRAINER_STATE = "trainer_state.json"
WEIGHTS_INDEX = "model.safetensors.index.json"
VIEWS_STATE_GLOB = "views_state*.safetensors"
LEGACY_VIEWS_STATE_GLOB = "augmentation_state*.pt"  # pickles of barlow-speech before issue 33: never loaded


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


def checkpoint_problem(folder: Path) -> str | None:
    """Why a Trainer checkpoint folder cannot be resumed from, or None when it is complete.

    Complete: config.json, the weights (model.safetensors, or the index and every shard it names) and the views'
    state files with headers that match their sizes, and trainer_state.json, which the Trainer writes after
    everything else.
    """
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        weights = sorted({folder / name for name in json.loads(index.read_text())["weight_map"].values()})
    else:
        weights = [folder / "model.safetensors"]
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
    folders = [
        path for path in Path(output_dir).glob("checkpoint-*") if path.is_dir() and CHECKPOINT_PATTERN.match(path.name)
    ]
    if not folders:
        return None
    skipped = []
    for folder in sorted(folders, key=lambda path: int(CHECKPOINT_PATTERN.match(path.name).group(1)), reverse=True):
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
