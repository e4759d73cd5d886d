"""DINO on the speech encoder: the loss against the plain formula, centring, the EMA teacher, and loading."""

import pytest
import torch
from transformers import AutoModel

from barlow_speech import BarlowSpeechModel, DinoSpeechForPreTraining, dino_loss
from barlow_speech.model_card import objective_rows
from barlow_speech.modeling_dino import ema_update_, sinkhorn_knopp, update_center
from tests.factories import tiny_config

K = 16


def dino_config(**overrides):
    fields = {"objective": "dino", "dino_num_prototypes": K, "dino_hidden_size": 24, "dino_bottleneck_size": 8}
    return tiny_config(**{**fields, **overrides})


def reference_dino_loss(student, teacher, center, student_temp, teacher_temp):
    """facebookresearch/dino `DINOLoss.forward`, written as loops over crops (student/teacher: lists of (batch, K))."""
    total, terms = 0.0, 0
    for i, t in enumerate(teacher):
        q = torch.softmax((t - center) / teacher_temp, dim=-1)
        for j, s in enumerate(student):
            if j == i:
                continue
            total += torch.sum(-q * torch.log_softmax(s / student_temp, dim=-1), dim=-1).mean()
            terms += 1
    return total / terms


def test_dino_loss_equals_the_reference_formula_on_random_tensors():
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(6, 5, K, generator=generator)
    teacher = torch.randn(2, 5, K, generator=generator)
    center = torch.randn(K, generator=generator)
    out = dino_loss(student, teacher, center, student_temperature=0.1, teacher_temperature=0.07)
    expected = reference_dino_loss(list(student), list(teacher), center, 0.1, 0.07)
    torch.testing.assert_close(out.loss, expected, atol=1e-5, rtol=1e-5)
    q = torch.softmax((teacher - center) / 0.07, dim=-1)
    entropy = -torch.special.xlogy(q, q).sum(-1).mean()
    torch.testing.assert_close(out.teacher_entropy, entropy, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.kl_teacher_student, expected - entropy, atol=1e-5, rtol=1e-5)


def reference_sinkhorn_knopp(teacher_logits, teacher_temp, n_iterations=3):
    """facebookresearch/dinov2 `SinkhornKnoppTeacher.forward` on one process (float64 here)."""
    q = torch.exp(teacher_logits.double() / teacher_temp).t()  # (K, B)
    num_prototypes, batch = q.shape
    q /= q.sum()
    for _ in range(n_iterations):
        q /= q.sum(dim=1, keepdim=True)
        q /= num_prototypes
        q /= q.sum(dim=0, keepdim=True)
        q /= batch
    return (q * batch).t()


def test_sinkhorn_knopp_equals_the_dinov2_formula_and_spreads_the_batch_over_the_prototypes():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(24, K, generator=generator)
    logits[:, 0] += 3.0  # one prototype takes most of every softmax
    q = sinkhorn_knopp(logits, 0.1)
    torch.testing.assert_close(q, reference_sinkhorn_knopp(logits, 0.1).float(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(q.sum(1), torch.ones(24))
    # the softmax gives prototype 0 0.79 of the batch, three iterations 0.084 (1 / K = 0.0625)
    assert torch.softmax(logits / 0.1, dim=-1).mean(0)[0] > 0.7 and q.mean(0)[0] < 1.6 / K


def test_sinkhorn_knopp_stays_finite_where_the_direct_formula_overflows():
    logits = torch.nn.functional.normalize(torch.randn(16, K, generator=torch.Generator().manual_seed(1)), dim=1)
    direct = torch.exp(logits * 2 / 0.005)  # float32 overflows past exp(88), float64 at exp(709)
    assert not torch.isfinite(direct).all()
    q = sinkhorn_knopp(logits * 2, 0.005)
    torch.testing.assert_close(q, reference_sinkhorn_knopp(logits * 2, 0.005).float(), atol=1e-5, rtol=1e-4)


def test_dino_loss_with_sinkhorn_knopp_uses_its_teacher_and_no_centre():
    generator = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(5, 6, K, generator=generator), torch.randn(2, 6, K, generator=generator)
    out = dino_loss(student, teacher, torch.randn(K, generator=generator), 0.1, 0.05, centering="sinkhorn_knopp")
    q = reference_sinkhorn_knopp(teacher.flatten(0, 1), 0.05).float().view(2, 6, K)
    pairs = [(i, j) for i in range(2) for j in range(5) if i != j]
    expected = torch.stack([-(q[i] * torch.log_softmax(student[j] / 0.1, dim=-1)).sum(-1).mean() for i, j in pairs])
    torch.testing.assert_close(out.loss, expected.mean(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"centering='sinkhorn' is not one of \['centering', 'sinkhorn_knopp'\]"):
        dino_loss(student, teacher, torch.zeros(K), centering="sinkhorn")


def test_the_teacher_gets_no_gradient_and_the_student_does():
    student = torch.randn(4, 3, K, requires_grad=True)
    teacher = torch.randn(2, 3, K, requires_grad=True)
    dino_loss(student, teacher, torch.zeros(K)).loss.backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0


def test_kl_to_center_is_zero_for_a_constant_teacher_and_positive_otherwise():
    constant = torch.randn(K).expand(2, 8, K)
    student = torch.randn(4, 8, K)
    assert dino_loss(student, constant, torch.zeros(K)).kl_to_center.abs() < 1e-6
    assert dino_loss(student, torch.randn(2, 8, K), torch.zeros(K)).kl_to_center > 0.1


def test_center_moves_by_its_momentum_towards_the_batch_mean():
    center, logits = torch.randn(K), torch.randn(10, K)
    torch.testing.assert_close(update_center(center, logits, momentum=0.9), 0.9 * center + 0.1 * logits.mean(0))
    for _ in range(200):  # a constant teacher output becomes the centre, so centring removes it
        center = update_center(center, logits[:1].expand(10, K), momentum=0.9)
    torch.testing.assert_close(center, logits[0], atol=1e-5, rtol=0)


def test_model_centre_is_updated_in_training_only():
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(dino_config())
    long, short = torch.randn(2, 3, 1, 33, 20), torch.randn(3, 3, 1, 33, 10)
    out = model(long, short)
    expected = 0.9 * torch.zeros(K) + 0.1 * out.teacher_logits.flatten(0, 1).mean(0)
    torch.testing.assert_close(model.center, expected)
    model.eval()
    model(long, short)
    torch.testing.assert_close(model.center, expected)
    assert out.student_logits.shape == (5, 3, K) and out.teacher_logits.shape == (2, 3, K)


def test_sinkhorn_knopp_model_keeps_no_running_centre():
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(dino_config(dino_centering="sinkhorn_knopp"))
    out = model(torch.randn(2, 3, 1, 33, 20), torch.randn(3, 3, 1, 33, 10))
    assert torch.equal(model.center, torch.zeros(K)) and out.kl_to_center > 0
    temperature = model.config.dino_teacher_temperature
    expected = dino_loss(out.student_logits, out.teacher_logits, model.center, 0.1, temperature, "sinkhorn_knopp")
    torch.testing.assert_close(out.loss, expected.loss)
    running = dino_loss(out.student_logits, out.teacher_logits, model.center, 0.1, temperature)
    assert abs(out.loss - running.loss) > 1e-3  # the model's loss is Sinkhorn-Knopp's, not the running centre's


def test_ema_teacher_starts_as_the_student_and_moves_by_the_momentum():
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(dino_config())
    pairs = list(zip(model.barlow.parameters(), model.student.parameters(), strict=True))
    pairs += list(zip(model.teacher_head.parameters(), model.student_head.parameters(), strict=True))
    assert all(torch.equal(t, s) for t, s in pairs)
    assert not any(t.requires_grad for t, _ in pairs) and all(s.requires_grad for _, s in pairs)
    with torch.no_grad():
        for _, s in pairs:
            s.add_(1.0)
    before = [t.clone() for t, _ in pairs]
    model.update_teacher(0.9)
    for (t, s), old in zip(pairs, before, strict=True):
        torch.testing.assert_close(t, 0.9 * old + 0.1 * s)
    model.update_teacher(1.0)  # momentum 1: the teacher stays put
    for (t, s), old in zip(pairs, before, strict=True):
        torch.testing.assert_close(t, 0.9 * old + 0.1 * s)


def test_ema_update_rejects_different_architectures():
    with pytest.raises(ValueError):
        ema_update_(torch.nn.Linear(2, 2), torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)), 0.5)


def test_checkpoint_loads_as_the_teacher_encoder_and_back_with_a_frozen_teacher(tmp_path):
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(dino_config())
    with torch.no_grad():
        for p in model.student.parameters():
            p.add_(1.0)  # student and teacher differ: the encoder loaded must be the teacher
    model.save_pretrained(tmp_path)
    encoder = AutoModel.from_pretrained(tmp_path)
    assert isinstance(encoder, BarlowSpeechModel)
    for loaded, teacher in zip(encoder.state_dict().values(), model.barlow.state_dict().values(), strict=True):
        torch.testing.assert_close(loaded, teacher)
    again = DinoSpeechForPreTraining.from_pretrained(tmp_path)
    for key, value in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[key], value)
    assert not any(p.requires_grad for p in again.barlow.parameters())
    assert all(p.requires_grad for p in again.student.parameters())


def test_model_card_names_the_centring():
    rows = dict(objective_rows(dino_config()))
    assert rows["Centring of the teacher"] == "running centre (DINO), momentum 0.9"
    rows = dict(objective_rows(dino_config(dino_centering="sinkhorn_knopp")))
    assert rows["Centring of the teacher"] == "Sinkhorn-Knopp over the batch (DINOv2)"


def test_config_errors_name_the_value_and_the_choices():
    with pytest.raises(ValueError, match=r"objective='dnio' is not one of \['barlow_twins', 'dino'\]"):
        tiny_config(objective="dnio")
    with pytest.raises(ValueError, match="dino_center_momentum=1.0 must be in"):
        dino_config(dino_center_momentum=1.0)
    with pytest.raises(ValueError, match=r"dino_centering='sk' is not one of \['centering', 'sinkhorn_knopp'\]"):
        dino_config(dino_centering="sk")
    with pytest.raises(ValueError, match="objective='barlow_twins'.*BarlowSpeechConfig\\(objective='dino'"):
        DinoSpeechForPreTraining(tiny_config())


def test_heads_reading_every_layer_take_their_concatenation_in_student_and_teacher():
    config = dino_config(pooling="time_mean_std", pooling_bands=2, projector_input="all_layers")
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(config).eval()
    assert model.student_head.mlp[0].in_features == config.projector_input_size == sum(config.layer_sizes)
    long = torch.randn(2, 3, 1, 33, 20)
    out = model(long)
    features, pooled = model.barlow.head_inputs(long.flatten(0, 1))
    torch.testing.assert_close(out.teacher_logits, model.teacher_head(features).unflatten(0, (2, 3)))
    torch.testing.assert_close(out.pooler_output, pooled[:3])


def test_head_is_the_reference_dino_head():
    model = DinoSpeechForPreTraining(dino_config(dino_norm_last_layer=False))
    head = model.student_head
    assert [m.weight.shape for m in head.mlp if isinstance(m, torch.nn.Linear)] == [(24, 16), (24, 24), (8, 24)]
    assert float(head.mlp[0].weight.std()) == pytest.approx(0.02, rel=0.3)
    assert torch.equal(head.last_layer.weight_g, torch.ones(K, 1)) and head.last_layer.weight_g.requires_grad
    logits = head(torch.randn(3, 16))  # g = 1: cosines between the l2-normalised bottleneck and each prototype
    assert logits.shape == (3, K) and logits.abs().max() <= 1 + 1e-5
    fixed = DinoSpeechForPreTraining(dino_config()).student_head.last_layer
    assert fixed.weight_g is None and fixed(torch.randn(3, 8)).abs().max() > 1  # unnormalised inputs scale freely


def test_batchnorm_head_normalises_over_every_crop_of_the_step_at_once():
    config = dino_config(dino_head_batchnorm=True)
    torch.manual_seed(0)
    model = DinoSpeechForPreTraining(config).train()
    norms = [m for m in model.student_head.mlp if isinstance(m, torch.nn.BatchNorm1d)]
    assert [type(m).__name__ for m in model.student_head.mlp] == [
        "Linear", "BatchNorm1d", "GELU", "Linear", "BatchNorm1d", "GELU", "Linear"
    ]  # fmt: skip
    assert all(torch.equal(m.weight, torch.ones(24)) and torch.equal(m.bias, torch.zeros(24)) for m in norms)
    long, short = torch.randn(2, 3, 1, 33, 20), torch.randn(2, 3, 1, 33, 12)
    student = DinoSpeechForPreTraining(config).train()
    student.load_state_dict(model.state_dict())
    out = model(long, short)
    # the reference's MultiCropWrapper: the head's batch statistics are those of all 12 crops together, so the
    # student's logits differ from two head calls (long crops, then short crops) with their own statistics
    features = torch.cat([student.student.head_inputs(c.flatten(0, 1))[0] for c in (long, short)])
    torch.testing.assert_close(out.student_logits, student.student_head(features).unflatten(0, (4, 3)))
    separate = torch.cat([student.student_head(f) for f in features.split(6)]).unflatten(0, (4, 3))
    assert (out.student_logits - separate).abs().max() > 1e-3
    # the teacher's statistics are its own, from its batches (the EMA moves parameters only, as the reference)
    assert model.teacher_head.mlp[1].running_mean.abs().sum() > 0
    assert not torch.equal(model.teacher_head.mlp[1].running_mean, model.student_head.mlp[1].running_mean)


def test_dino_refuses_crops_of_another_front_end_naming_both():
    model = DinoSpeechForPreTraining(dino_config(num_frequency_bins=32))
    model(torch.randn(2, 2, 1, 32, 32), torch.randn(2, 2, 1, 32, 16))  # the front end it was built for
    with pytest.raises(ValueError, match=r"trained on 32 frequency rows .* but got 513 \(the default 513-bin"):
        model(torch.randn(2, 2, 1, 513, 32))
