import pytest
import torch
from torch import nn

from barlow_speech.training.optim import LARS, lars_param_groups


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))


def test_param_groups_put_biases_and_norms_in_the_excluded_group():
    weights, others = lars_param_groups(_model(), lr=0.2, weight_decay=1e-6)
    assert all(p.ndim == 2 for p in weights["params"]) and len(weights["params"]) == 2
    assert all(p.ndim == 1 for p in others["params"]) and len(others["params"]) == 4
    assert others["exclude"] and others["weight_decay"] == 0.0
    assert others["lr"] == pytest.approx(0.2 * 0.024)


def test_step_matches_the_reference_update_rule():
    model = _model()
    optimizer = LARS(lars_param_groups(model, lr=0.1, weight_decay=0.01), lr=0.1, momentum=0.9, eta=0.001)
    weight, bias = model[0].weight, model[0].bias
    w0, b0 = weight.detach().clone(), bias.detach().clone()
    model(torch.randn(8, 4)).square().sum().backward()
    g_w, g_b = weight.grad.clone(), bias.grad.clone()
    optimizer.step()
    update = g_w + 0.01 * w0
    trust = 0.001 * w0.norm() / update.norm()
    torch.testing.assert_close(weight.detach(), w0 - 0.1 * trust * update)
    torch.testing.assert_close(bias.detach(), b0 - 0.1 * 0.024 * g_b)  # excluded: plain SGD step


def test_lars_trains_a_small_regression():
    torch.manual_seed(0)
    model = nn.Linear(5, 1)
    x = torch.randn(64, 5)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [0.0], [3.0]])
    optimizer = LARS(lars_param_groups(model, lr=5.0, weight_decay=0.0, bias_lr_ratio=0.01), lr=5.0, eta=0.02)
    first = None
    for _ in range(200):
        optimizer.zero_grad()
        loss = (model(x) - y).square().mean()
        first = first if first is not None else loss.item()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05 * first


def test_invalid_hyper_parameters_are_rejected():
    with pytest.raises(ValueError, match="momentum"):
        LARS(_model().parameters(), lr=0.1, momentum=1.5)
