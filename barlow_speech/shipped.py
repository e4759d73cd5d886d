"""Pretrained encoders shipped inside the package (`shipped_models/<name>/`), loadable offline with the Auto classes.

    >>> from transformers import AutoFeatureExtractor, AutoModel
    >>> import barlow_speech
    >>> folder = barlow_speech.pretrained("bt-small")
    >>> model, extractor = AutoModel.from_pretrained(folder), AutoFeatureExtractor.from_pretrained(folder)

Each folder holds `config.json`, `model.safetensors` (the encoder), `preprocessor_config.json` and its model card
(`README.md`: data, steps and measured numbers). Paper-scale members of the family (`bt-ls100`, ...) are recipes
(`barlow_speech.model_family`): no weights of them are published.
"""

from __future__ import annotations

from pathlib import Path

from .arguments import did_you_mean

FOLDER = Path(__file__).resolve().parent / "shipped_models"


def available() -> list[str]:
    """Names of the shipped models (folders holding a `model.safetensors`)."""
    return sorted(path.parent.name for path in FOLDER.glob("*/model.safetensors"))


def pretrained(name: str = "bt-small") -> Path:
    """The folder of the shipped model `name`, for `from_pretrained(folder)`.

    An unknown name is a ValueError listing the shipped models (and the closest one).
    """
    names = available()
    if name not in names:
        raise ValueError(
            f"no shipped model {name!r}{did_you_mean(name, names)}; the package ships {names}. Paper-scale models "
            "such as 'bt-ls100' are recipes (configs/upstream/): pretrain them with `barlow-speech pretrain --config "
            "...`."
        )
    return FOLDER / name


__all__ = ["available", "pretrained"]
