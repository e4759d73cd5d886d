"""The package's `evaluate` modules, loadable by name from any working directory.

Each module is a folder `<name>/<name>.py` (with its card, `README.md`) installed with the package; `load` hands its
path to `evaluate.load`, which reads a local script without the Hub.

    >>> import barlow_speech.metrics
    >>> barlow_speech.metrics.names()
    ['disentanglement', 'linear_probe', 'representation_similarity']
    >>> probe = barlow_speech.metrics.load("linear_probe")  # == evaluate.load(str(barlow_speech.metrics.path(...)))
"""

from __future__ import annotations

from pathlib import Path

import evaluate

from ..arguments import did_you_mean

FOLDER = Path(__file__).resolve().parent


def names() -> list[str]:
    """Names of the shipped modules (folders holding a script of their own name)."""
    return sorted(script.parent.name for script in FOLDER.glob("*/*.py") if script.stem == script.parent.name)


def path(name: str) -> Path:
    """The folder of the shipped module `name`, as `evaluate.load` takes it.

    An unknown name is a ValueError listing the shipped modules (and the closest one).
    """
    known = names()
    if name not in known:
        raise ValueError(f"no metric {name!r}{did_you_mean(name, known)}; barlow_speech.metrics holds {known}.")
    return FOLDER / name


def load(name: str, **kwargs) -> evaluate.EvaluationModule:
    """`evaluate.load` of the shipped module `name` (see `names()`); `kwargs` go to `evaluate.load`
    (e.g. `experiment_id`, `cache_dir`)."""
    return evaluate.load(str(path(name)), **kwargs)


__all__ = ["FOLDER", "load", "names", "path"]
