"""LARS, the optimizer of the reference Barlow Twins (facebookresearch/barlowtwins, main.py; You et al. 2017).

Layer-wise trust ratio eta * ||w|| / ||g + wd * w|| on weight matrices; biases and normalisation parameters (1-d
tensors) are excluded from both weight decay and the adaptation, as in the reference.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """SGD with momentum and layer-wise adaptive rate scaling.

    Args:
        params: parameters or param groups; a group with `exclude=True` skips weight decay and adaptation.
        lr: learning rate (the reference uses 0.2 x batch/256 for weights, 0.0048 x batch/256 for biases).
        weight_decay: L2 penalty added to the gradient (reference 1.5e-6).
        momentum: heavy-ball momentum (reference 0.9).
        eta: trust coefficient (reference 0.001).

    Example:
    ```python
    >>> optimizer = LARS(lars_param_groups(model, lr=0.2, weight_decay=1.5e-6), lr=0.2)
    ```
    """

    def __init__(
        self, params: Iterable, lr: float, weight_decay: float = 0.0, momentum: float = 0.9, eta: float = 0.001
    ):
        if lr < 0 or weight_decay < 0 or not 0 <= momentum < 1 or eta <= 0:
            raise ValueError(
                f"LARS needs lr >= 0, weight_decay >= 0, 0 <= momentum < 1 and eta > 0; got lr={lr}, "
                f"weight_decay={weight_decay}, momentum={momentum}, eta={eta}."
            )
        defaults = {"lr": lr, "weight_decay": weight_decay, "momentum": momentum, "eta": eta, "exclude": False}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                update = p.grad
                if not group["exclude"]:
                    update = update.add(p, alpha=group["weight_decay"])
                    param_norm, update_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(update)
                    trust = torch.where(
                        (param_norm > 0) & (update_norm > 0),
                        group["eta"] * param_norm / update_norm,
                        torch.ones_like(param_norm),
                    )
                    update = update.mul(trust)
                state = self.state[p]
                if "mu" not in state:
                    state["mu"] = torch.zeros_like(p)
                momentum_buffer = state["mu"]
                momentum_buffer.mul_(group["momentum"]).add_(update)
                p.add_(momentum_buffer, alpha=-group["lr"])
        return loss


def lars_param_groups(model: nn.Module, lr: float, weight_decay: float, bias_lr_ratio: float = 0.024) -> list[dict]:
    """Weights in one group; biases and norm parameters (ndim == 1) in another that LARS excludes.

    `bias_lr_ratio` is the reference's bias/weight learning-rate ratio (0.0048 / 0.2); a learning-rate scheduler
    scales both groups by the same factor, so the ratio holds through warm-up and decay.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    weights = [p for p in params if p.ndim > 1]
    others = [p for p in params if p.ndim <= 1]
    return [
        {"params": weights, "lr": lr, "weight_decay": weight_decay},
        {"params": others, "lr": lr * bias_lr_ratio, "weight_decay": 0.0, "exclude": True},
    ]
