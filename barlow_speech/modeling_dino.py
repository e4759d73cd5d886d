"""DINO on the Barlow Twins speech encoder: a student and a momentum teacher with heads over K prototypes.

Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers" (DINO; reference implementation
facebookresearch/dino: `DINOHead`, `DINOLoss`, the momentum update in `train_one_epoch`); for utterance-level speech,
Cho et al. 2022, "Non-Contrastive Self-supervised Learning for Utterance-Level Information Extraction from Speech"
(shared/paper/004). Same encoder (`BarlowSpeechModel`), config, feature extractor, data and probes as Barlow Twins.

The teacher encoder is stored as `barlow` (the prefix `BarlowSpeechModel` loads from), so a DINO checkpoint loads with
`AutoModel.from_pretrained` as its teacher, the network DINO evaluates. The student is `student`.

Self-contained (imports only torch, transformers and its sibling files), like modeling_barlow.py.
"""

import math
from dataclasses import dataclass
from itertools import pairwise

import torch
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import ModelOutput

from .configuration_barlow import DINO_CENTERINGS, BarlowSpeechConfig
from .modeling_barlow import BarlowSpeechModel, BarlowSpeechPreTrainedModel, _global_sum, _runs_distributed


@dataclass
class DinoLossOutput(ModelOutput):
    """
    Args:
        loss: `()` mean cross-entropy H(P_t, P_s) over (teacher crop, other student crop) pairs and the batch.
        teacher_entropy: `()` mean entropy h(P_t) of the sharpened, centred teacher distributions (nats).
        kl_teacher_student: `()` loss - teacher_entropy = mean KL(P_t || P_s) (DINO Sec. 5.3: 0 means collapse).
        kl_to_center: `()` mean KL(P_t(x) || P̄_t), P̄_t the batch mean of P_t: how far each input's teacher
            distribution is from the centre of the batch's, in nats. It is the mutual information between inputs
            and prototypes, 0 exactly when the teacher gives every input the same output (collapse).
    """

    loss: torch.Tensor | None = None
    teacher_entropy: torch.Tensor | None = None
    kl_teacher_student: torch.Tensor | None = None
    kl_to_center: torch.Tensor | None = None


def dino_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    center: torch.Tensor,
    student_temperature: float = 0.1,
    teacher_temperature: float = 0.04,
    centering: str = "centering",
    distributed: bool = False,
) -> DinoLossOutput:
    """DINO loss (Caron et al. 2021, Eq. 2 and Algorithm 1) of student crops against teacher crops.

    P_t = softmax((t - center) / teacher_temperature) (centring and sharpening, no gradient), P_s =
    softmax(s / student_temperature); loss = mean over pairs (teacher crop i, student crop j != i) and the batch of
    -sum_k P_t[k] log P_s[k]. Student crops `[0, teacher_crops)` are the teacher's crops (the long ones).
    With `centering="sinkhorn_knopp"` (DINOv2) P_t is `sinkhorn_knopp(t, teacher_temperature)` over every teacher
    crop of the global batch, and `center` is not used.

    Args:
        student_logits: `(student_crops, batch, K)`: the long crops first, then the short ones.
        teacher_logits: `(teacher_crops, batch, K)`.
        center: `(K,)` running mean of teacher logits (`update_center`).
        centering: `"centering"` or `"sinkhorn_knopp"` (`BarlowSpeechConfig.dino_centering`).
        distributed: Sinkhorn-Knopp sums over the global batch of all processes.

    Example:
    ```python
    >>> out = dino_loss(torch.randn(6, 32, 1024), torch.randn(2, 32, 1024), torch.zeros(1024))
    >>> out.loss, out.teacher_entropy, out.kl_to_center
    ```
    """
    teacher_crops, student_crops = teacher_logits.shape[0], student_logits.shape[0]
    if student_logits.ndim != 3 or teacher_logits.shape[1:] != student_logits.shape[1:] or student_crops < 2:
        raise ValueError(
            f"student_logits {tuple(student_logits.shape)} and teacher_logits {tuple(teacher_logits.shape)} must be "
            "(crops, batch, K) with the same batch and K, and >= 2 student crops; the student's first crops are the "
            "teacher's."
        )
    with torch.autocast(device_type=student_logits.device.type, enabled=False):
        if centering == "sinkhorn_knopp":
            teacher = sinkhorn_knopp(teacher_logits.flatten(0, 1), teacher_temperature, distributed=distributed)
            teacher = teacher.view_as(teacher_logits)
        elif centering == "centering":
            teacher = torch.softmax((teacher_logits.detach().float() - center.float()) / teacher_temperature, dim=-1)
        else:
            raise ValueError(f"centering={centering!r} is not one of {list(DINO_CENTERINGS)}.")
        log_student = torch.log_softmax(student_logits.float() / student_temperature, dim=-1)
        cross_entropy = -torch.einsum("tbk,sbk->tsb", teacher, log_student).mean(-1)  # (teacher, student) crops
        other = ~torch.eye(teacher_crops, student_crops, dtype=torch.bool, device=cross_entropy.device)
        loss = cross_entropy[other].mean()
        log_teacher = torch.log(teacher.clamp_min(torch.finfo(teacher.dtype).tiny))
        entropy = -(teacher * log_teacher).sum(-1)  # (teacher crops, batch)
        mean_teacher = teacher.mean(1, keepdim=True)
        kl_to_center = (teacher * (log_teacher - torch.log(mean_teacher.clamp_min(1e-30)))).sum(-1).mean()
        # Each teacher crop meets the same number of student crops, so the pair mean of h(P_t) is its crop mean.
        mean_entropy = entropy.mean()
    return DinoLossOutput(
        loss=loss,
        teacher_entropy=mean_entropy,
        kl_teacher_student=loss.detach() - mean_entropy,
        kl_to_center=kl_to_center,
    )


@torch.no_grad()
def sinkhorn_knopp(
    teacher_logits: torch.Tensor, temperature: float, iterations: int = 3, distributed: bool = False
) -> torch.Tensor:
    """DINOv2's Sinkhorn-Knopp centring of teacher logits `(n, K)` (Oquab et al. 2023, Sec. 4; facebookresearch/dinov2
    `SinkhornKnoppTeacher`): Q = exp(t / temperature), then `iterations` times every prototype's total over the
    global batch of B rows is set to 1 / K and every row to 1 / B. Returns B * Q `(n, K)`: rows sum to 1, and each
    prototype's mean over the global batch tends to 1 / K. Computed in log space (the reference exponentiates
    directly, which overflows float32 below a temperature of about 0.012)."""
    log_q = teacher_logits.detach().float() / temperature
    num_prototypes = log_q.shape[1]
    rows = _global_sum(torch.tensor(float(log_q.shape[0]), device=log_q.device), distributed)
    for _ in range(iterations):
        log_q = log_q - _global_logsumexp(log_q, distributed) - math.log(num_prototypes)
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - torch.log(rows)
    return torch.exp(log_q + torch.log(rows))


def _global_logsumexp(values: torch.Tensor, distributed: bool) -> torch.Tensor:
    """log sum_i exp(values[i, k]) over the rows of every process: `(n, K)` -> `(1, K)` (no gradient)."""
    top = values.amax(0, keepdim=True)
    if distributed:
        torch.distributed.all_reduce(top, op=torch.distributed.ReduceOp.MAX)
    return top + torch.log(_global_sum(torch.exp(values - top).sum(0, keepdim=True), distributed))


@torch.no_grad()
def update_center(
    center: torch.Tensor, teacher_logits: torch.Tensor, momentum: float = 0.9, distributed: bool = False
) -> torch.Tensor:
    """The next centre: momentum * center + (1 - momentum) * the mean of `teacher_logits` `(n, K)` over the global
    batch (summed over all processes when `distributed`, as the reference's all_reduce). Returns `(K,)`."""
    total = _global_sum(teacher_logits.detach().float().sum(0), distributed)
    count = _global_sum(torch.tensor(float(teacher_logits.shape[0]), device=teacher_logits.device), distributed)
    return center * momentum + (total / count).to(center.dtype) * (1 - momentum)


@torch.no_grad()
def ema_update_(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter (buffers are the teacher's
    own, as in the reference). Deterministic, so every DDP rank (identical students) keeps an identical teacher."""
    for teacher_param, student_param in zip(teacher.parameters(), student.parameters(), strict=True):
        teacher_param.lerp_(student_param.detach(), 1.0 - momentum)


class WeightNormalizedLinear(nn.Module):
    """`y = x W^T`, each row of W (a prototype) rescaled to norm g (Salimans & Kingma 2016): the DINO head's last
    layer. `fixed_norm=True` keeps g = 1 (the reference's `norm_last_layer`). `(n, in)` -> `(n, out)`."""

    def __init__(self, in_features: int, out_features: int, fixed_norm: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_g = None if fixed_norm else nn.Parameter(torch.ones(out_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = nn.functional.normalize(self.weight, dim=1)
        return nn.functional.linear(x, weight if self.weight_g is None else weight * self.weight_g)


class DinoHead(nn.Module):
    """Reference `DINOHead`: MLP (Linear-GELU blocks, Linear-BN-GELU with `config.dino_head_batchnorm`) to a
    bottleneck, l2-normalised, then the weight-normalised prototypes. `(n, config.projector_input_size)` pooled
    embeddings -> `(n, K)` logits; with batch normalisation, pass all of a step's crops in one call, as the
    reference's `MultiCropWrapper`."""

    def __init__(self, config: BarlowSpeechConfig):
        super().__init__()
        sizes = [config.projector_input_size] + [config.dino_hidden_size] * (config.dino_head_layers - 1)
        layers: list[nn.Module] = []
        for size_in, size_out in pairwise(sizes):
            norm = [nn.BatchNorm1d(size_out)] if config.dino_head_batchnorm else []
            layers += [nn.Linear(size_in, size_out), *norm, nn.GELU()]
        layers.append(nn.Linear(sizes[-1], config.dino_bottleneck_size))
        self.mlp = nn.Sequential(*layers)
        self.last_layer = WeightNormalizedLinear(
            config.dino_bottleneck_size, config.dino_num_prototypes, fixed_norm=config.dino_norm_last_layer
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        return self.last_layer(nn.functional.normalize(self.mlp(pooled), dim=-1))


@dataclass
class DinoSpeechForPreTrainingOutput(ModelOutput):
    """
    Args:
        loss: `()` DINO loss (`dino_loss`).
        teacher_entropy, kl_teacher_student, kl_to_center: `()` collapse diagnostics (`DinoLossOutput`).
        student_logits: `(student_crops, batch, K)`, long crops first.
        teacher_logits: `(long_crops, batch, K)` before centring.
        pooler_output: `(batch, hidden)` teacher embedding of the first long crop.
    """

    loss: torch.Tensor | None = None
    teacher_entropy: torch.Tensor | None = None
    kl_teacher_student: torch.Tensor | None = None
    kl_to_center: torch.Tensor | None = None
    student_logits: torch.Tensor | None = None
    teacher_logits: torch.Tensor | None = None
    pooler_output: torch.Tensor | None = None


class DinoSpeechForPreTraining(BarlowSpeechPreTrainedModel):
    """Student and momentum teacher (`barlow`, what `AutoModel` loads) with DINO heads, trained by self-distillation
    on multi-crop views (`DinoTrainer`). The centre of teacher outputs is the buffer `center` `(K,)`; the trainer
    calls `update_teacher(momentum)` after every optimizer step.

    Example:
    ```python
    >>> model = DinoSpeechForPreTraining(BarlowSpeechConfig(objective="dino"))
    >>> out = model(long_crops, short_crops)  # (2, batch, 1, freq, frames), (4, batch, 1, freq, frames')
    >>> out.loss.backward(); optimizer.step(); model.update_teacher(0.996)
    ```
    """

    def __init__(self, config: BarlowSpeechConfig):
        if config.objective != "dino":
            raise ValueError(
                f"config.objective={config.objective!r}: DinoSpeechForPreTraining trains the DINO objective; build "
                "its config with BarlowSpeechConfig(objective='dino', ...)."
            )
        super().__init__(config)
        self.student = BarlowSpeechModel(config)
        self.student_head = DinoHead(config)
        self.barlow = BarlowSpeechModel(config)
        self.teacher_head = DinoHead(config)
        self.register_buffer("center", torch.zeros(config.dino_num_prototypes))
        self.post_init()
        # The teacher starts as the student and only ever moves by `update_teacher` (reference DINO).
        self.barlow.load_state_dict(self.student.state_dict())
        self.teacher_head.load_state_dict(self.student_head.state_dict())
        self._freeze_teacher()

    def _freeze_teacher(self) -> None:
        self.barlow.requires_grad_(False)
        self.teacher_head.requires_grad_(False)

    @classmethod
    def from_pretrained(cls, *args, **kwargs) -> "DinoSpeechForPreTraining":
        """`PreTrainedModel.from_pretrained`, then the teacher frozen again (loading makes every weight trainable)."""
        model = super().from_pretrained(*args, **kwargs)
        model._freeze_teacher()
        return model

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """Head as the reference `DINOHead`: MLP weights truncated normal (std 0.02), biases 0, prototypes torch's
        Linear default, g = 1; everything else as `BarlowSpeechPreTrainedModel`."""
        heads = (self.student_head, self.teacher_head)
        if isinstance(module, nn.Linear) and any(module is layer for head in heads for layer in head.mlp):
            init.trunc_normal_(module.weight, std=0.02)
            init.zeros_(module.bias)
        elif isinstance(module, WeightNormalizedLinear):
            init.kaiming_uniform_(module.weight, a=5**0.5)
            if module.weight_g is not None:
                init.ones_(module.weight_g)
        elif module is self:
            init.zeros_(module.center)
        else:
            super()._init_weights(module)

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA of the student into the teacher (encoder and head) with `momentum` (the trainer's cosine schedule)."""
        ema_update_(self.barlow, self.student, momentum)
        ema_update_(self.teacher_head, self.student_head, momentum)

    def forward(
        self,
        input_values: torch.Tensor,
        input_values_short: torch.Tensor | None = None,
        teacher_temperature: float | None = None,
        distributed: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DinoSpeechForPreTrainingOutput | tuple:
        r"""
        input_values (`torch.Tensor` of shape `(long_crops, batch, 1, freq, frames)`):
            Long crops, seen by teacher and student.
        input_values_short (`torch.Tensor` of shape `(short_crops, batch, 1, freq, frames')`, *optional*):
            Short crops of the same clips, seen by the student only.
        teacher_temperature (`float`, *optional*): this step's teacher temperature (the trainer's warm-up);
            defaults to `config.dino_teacher_temperature`.
        distributed (`bool`, *optional*): centre (or Sinkhorn-Knopp) over the global batch of all processes; defaults
            to whether torch.distributed runs more than one process. Sinkhorn-Knopp then all-reduces in evaluation
            too, so every process must call forward (or pass `distributed=False`).

        In training mode the centre moves towards this batch's teacher outputs after the loss is computed (with
        `config.dino_centering="centering"`; Sinkhorn-Knopp needs no running centre).
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        crops = [input_values] if input_values_short is None else [input_values, input_values_short]
        if any(c.ndim != 5 or c.shape[1:3] != input_values.shape[1:3] for c in crops):
            raise ValueError(
                f"crops must be (crops, batch, 1, freq, frames) with the same batch; got "
                f"{[tuple(c.shape) for c in crops]}. Stack each clip's crops along a new first axis."
            )
        long_crops, batch = input_values.shape[:2]
        # one head call over every crop (the reference's MultiCropWrapper): batch statistics span all of them
        student_features = torch.cat([self.student.head_inputs(c.flatten(0, 1))[0] for c in crops])
        student_logits = self.student_head(student_features).unflatten(0, (-1, batch))
        with torch.no_grad():
            features, pooled = self.barlow.head_inputs(input_values.flatten(0, 1))
            teacher_logits = self.teacher_head(features).unflatten(0, (long_crops, batch))
        temperature = teacher_temperature if teacher_temperature is not None else self.config.dino_teacher_temperature
        if distributed is None:
            distributed = _runs_distributed()
        centering = self.config.dino_centering
        loss = dino_loss(
            student_logits,
            teacher_logits,
            self.center,
            self.config.dino_student_temperature,
            temperature,
            centering,
            distributed,
        )
        if self.training and centering == "centering":
            self.center.copy_(
                update_center(self.center, teacher_logits.flatten(0, 1), self.config.dino_center_momentum, distributed)
            )
        output = DinoSpeechForPreTrainingOutput(
            **loss, student_logits=student_logits, teacher_logits=teacher_logits, pooler_output=pooled[:batch]
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "DinoHead",
    "DinoLossOutput",
    "DinoSpeechForPreTraining",
    "DinoSpeechForPreTrainingOutput",
    "WeightNormalizedLinear",
    "dino_loss",
    "ema_update_",
    "sinkhorn_knopp",
    "update_center",
]
