"""Which Trainer checkpoint a run can resume from: the newest COMPLETE one.

A run killed while saving leaves a `checkpoint-N` folder without trainer_state.json (the Trainer writes it last), and
a full disk can leave truncated weights. `last_complete_checkpoint` skips both, with a warning giving the reason,
instead of handing the Trainer a folder it fails on with a raw SafetensorError.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")  # transformers' PREFIX_CHECKPOINT_DIR + "-" + step
TRAINER_STATE = "trainer_state.json"
WEIGHTS_INDEX = "model.safetensors.index.json"


def safetensors_problem(path: Path) -> str | None:
    """Why a .safetensors file is unreadable (truncated, bad header), or None when its header matches its size."""
    size = path.stat().st_size
    if size < 8:
        return f"{path.name} is {size} bytes, shorter than a safetensors header (truncated)"
    with path.open("rb") as handle:
        header_size = int.from_bytes(handle.read(8), "little")
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

    Complete: config.json, the weights (model.safetensors, or the index and every shard it names) with headers that
    match their sizes, and trainer_state.json, which the Trainer writes after everything else.
    """
    index = folder / WEIGHTS_INDEX
    if index.is_file():
        weights = sorted({folder / name for name in json.loads(index.read_text())["weight_map"].values()})
    else:
        weights = [folder / "model.safetensors"]
    missing = [path.name for path in [folder / "config.json", *weights, folder / TRAINER_STATE] if not path.is_file()]
    if missing:
        return f"lacks {', '.join(missing)} (killed while saving?)"
    for path in weights:
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
