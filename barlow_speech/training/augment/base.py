"""What every view augmentation shares: seedable randomness on the input's device, a per-example probability, and
the checks of its input.

Each augmentation takes an optional `seed` (a private `torch.Generator` on the input's device) and accepts a
`generator` argument in `forward` that overrides it, so a pipeline is reproducible end to end.
"""

from __future__ import annotations

import torch
from torch import nn


def seeded_generator(
    current: torch.Generator | None, seed: int | None, device: torch.device
) -> torch.Generator | None:
    """`current` if it lives on `device`, else a new generator there seeded with `seed` (None: global RNG)."""
    if seed is None:
        return None
    if current is None or current.device != torch.device(device):
        current = torch.Generator(device=device).manual_seed(seed)
    return current


class RandomAugmentation(nn.Module):
    """Base class: seedable randomness on the input's device, and per-example application probability `p`.

    Args:
        p: probability that an example is augmented (others pass through unchanged).
        seed: if given, a private `torch.Generator` on the input's device seeded with it; otherwise
            the global torch RNG. A `generator` passed to `forward` takes precedence over both.
    """

    def __init__(self, p: float = 1.0, seed: int | None = None) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p={p}: expected a probability in [0, 1].")
        self.p, self.seed = p, seed
        self._generator: torch.Generator | None = None

    def generator_for(self, device: torch.device, generator: torch.Generator | None = None) -> torch.Generator | None:
        if generator is not None:
            return generator
        self._generator = seeded_generator(self._generator, self.seed, device)
        return self._generator

    def select(
        self, original: torch.Tensor, augmented: torch.Tensor, generator: torch.Generator | None
    ) -> torch.Tensor:
        """Per example: `augmented` with probability p, else `original`."""
        if self.p >= 1.0:
            return augmented
        keep = torch.rand(original.shape[0], device=original.device, generator=generator) >= self.p
        return torch.where(keep.view(-1, *([1] * (original.dim() - 1))), original, augmented)

    def extra_repr(self) -> str:
        fields = {k: v for k, v in vars(self).items() if not k.startswith("_") and k != "training"}
        return ", ".join(f"{k}={v!r}" for k, v in fields.items() if not isinstance(v, torch.Tensor))


def check_range(name: str, value: tuple[float, float], minimum: float | None = None) -> tuple[float, float]:
    low, high = value
    if low > high or (minimum is not None and low < minimum):
        bound = f" and min >= {minimum}" if minimum is not None else ""
        raise ValueError(f"{name}={value!r}: expected (min, max) with min <= max{bound}.")
    return float(low), float(high)


def check_waveforms(waveforms: torch.Tensor, name: str) -> None:
    if waveforms.dim() != 2 or not waveforms.is_floating_point():
        raise ValueError(
            f"{name} expects float waveforms of shape (batch, samples); got {tuple(waveforms.shape)} "
            f"{waveforms.dtype}."
        )


def check_spectrograms(spectrograms: torch.Tensor, name: str) -> None:
    if spectrograms.dim() != 4 or not spectrograms.is_floating_point():
        raise ValueError(
            f"{name} expects float spectrograms of shape (batch, 1, freq, frames); "
            f"got {tuple(spectrograms.shape)} {spectrograms.dtype}. Add the channel axis with x.unsqueeze(1)."
        )


__all__ = ["RandomAugmentation", "check_range", "check_spectrograms", "check_waveforms", "seeded_generator"]
