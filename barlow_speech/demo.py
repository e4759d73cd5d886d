"""`barlow-speech demo`: the whole method on a fresh CPU machine in minutes, on the built-in synthetic corpus.

1. Pretrain a small Barlow Twins model on unlabelled synthetic speech (BarlowTwinsTrainer).
2. Probe speaker, gender, word and emotion with linear classifiers at several label fractions (paper Table 2) for
   the BT checkpoint, the same architecture randomly initialised, and log-mel statistics.
3. Disentanglement metrics of the BT latents for accent, speaker and gender (paper Table 3).
4. Write `report.md` with the loss curve, the cross-correlation matrix untrained vs trained (paper Fig. 3) and
   accuracy per factor.

Steps 2-4 run on the evaluation pipeline (`barlow_speech.evaluation.pipeline`) that `barlow-speech probe` and
`barlow-speech reproduce` use.

The CPU demo uses a smaller ResNet and a log-mel front end (128 mel bands over a 32-ms window, hop 16 ms: 128 x 63
per second instead of the paper's 513 x 126 linear bins) so that pretraining fits in 3 minutes on two cores;
`barlow-speech pretrain` uses the paper's. `--compare_dino` adds DINO (shared/paper/004) on the same encoder.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from transformers import TrainingArguments

from .arguments import CommandParser
from .configuration_barlow import DINO_CENTERINGS, BarlowSpeechConfig
from .data.synthetic import SyntheticSpeechConfig, load_synthetic
from .evaluation.figures import plot_loss_curve
from .evaluation.pipeline import (
    LOGMEL,
    DisentanglementProtocol,
    ProbeProtocol,
    SupervisedProtocol,
    Upstream,
    cross_correlations,
    load_upstream,
    report_figures,
    run_disentanglement,
    run_probes,
    run_supervised,
    stack_clips,
    write_results,
)
from .evaluation.report import write_report
from .evaluation.sources import DataSource
from .feature_extraction_barlow import BarlowSpeechFeatureExtractor
from .modeling_barlow import BarlowSpeechForPreTraining
from .recipes import BACKBONES, SMALL_ENCODER, EncoderRecipe
from .results import PAPER_TASKS, task_label
from .training.augment import DEMO_VIEWS, TwoViewAugmentation
from .training.dino import DinoArguments, DinoTrainer
from .training.pretrain import DataArguments, ModelArguments, PretrainingArguments, build_trainer
from .training.trainer import BarlowTwinsArguments, BarlowTwinsTrainer

logger = logging.getLogger(__name__)


@dataclass
class DemoSettings:
    """Sizes and recipe of the demo run; the defaults take about 6 minutes on 2 CPU cores (2 of them pretraining).

    The recipe fields (backbone, pooling, front end, views) were chosen by the ablation in docs/representations.md.
    """

    output_dir: str = "demo_output"
    pretrain_clips: int = 4000
    probe_clips: int = 2000
    # 1,000 validation clips at the default (half the train clips): with 500 the layer choice was a coin toss between
    # layers 1 point apart on validation and 6 apart on test (emotion; docs/representations.md, "Ablation 3")
    validation_clips: int = 1000
    max_steps: int = 300
    batch_size: int = 64
    learning_rate: float = 2e-3
    # the encoder and its front end: `SMALL_ENCODER` (barlow_speech.recipes, where each choice is explained)
    latent_size: int = SMALL_ENCODER.latent_size
    loss_variant: str = SMALL_ENCODER.loss_variant
    backbone: str = SMALL_ENCODER.backbone
    pooling: str = SMALL_ENCODER.pooling
    pooling_bands: int | tuple[int, ...] = SMALL_ENCODER.pooling_bands  # one number, or one per layer
    projector_input: str = SMALL_ENCODER.projector_input
    n_fft: int = SMALL_ENCODER.n_fft
    hop_length: int = SMALL_ENCODER.hop_length
    n_mels: int | None = SMALL_ENCODER.n_mels
    # the views (`DEMO_VIEWS`, where each choice is explained) and the fields a run may change
    freq_mask_width: int = DEMO_VIEWS.freq_mask_width
    time_mask_width: int = DEMO_VIEWS.time_mask_width
    noise_prob: float = DEMO_VIEWS.noise_prob
    # time stretch of the resized crop (1, 1: none)
    rrc_time_scale: tuple[float, float] = DEMO_VIEWS.rrc_time_scale
    # a random smooth channel per view (`RandomEqualizer`, 0: off; docs/representations.md, "Ablation 4")
    eq_db_std: float = DEMO_VIEWS.eq_db_std
    # each view in its own random synthetic room with this probability (`RandomReverb`, 0: off): the corpus
    # reverberates half its clips in one of 64 rooms, which both views shared (docs/representations.md, "Ablation 7")
    reverb_prob: float = DEMO_VIEWS.reverb_prob
    view_segment_seconds: float | None = None  # each view a random segment of the clip (None: the whole clip)
    # words per pretraining clip: > 1 pretrains on utterances of one speaker and emotion (`generate_batch`), whose two
    # views (segments, `view_segment_seconds`) differ in the word; 1: the probes' one-word clips
    pretrain_words_per_clip: int = 1
    fractions: tuple[float, ...] = (0.05, 0.1, 0.5, 1.0)
    seeds: int = 3
    # L-BFGS iterations at most: on the demo checkpoint 150 moved no probe by more than 0.3 points from 200 and saved
    # a third of the probe time; 100 moved emotion at 100 % labels by 1.0 (docs/representations.md, "Demo time")
    probe_steps: int = 150
    probe_layer: str = "best"  # every layer probed, the layer chosen on validation (docs/representations.md)
    disentanglement_runs: int = 2
    supervised_fractions: tuple[float, ...] = (0.05, 0.1)
    supervised_steps: int = 60
    supervised_seeds: int = 1
    # BYOL-A mixup in the views: off, since mixing in up to 40 % of another clip's voice cost speaker cues (speaker at
    # 10 % labels +3.0 -> +4.1 over random init on the mean of three seeds, up in each; docs/representations.md,
    # "Ablation 7")
    mixup: bool = DEMO_VIEWS.mixup_prob > 0
    num_speakers: int = 64
    seed: int = 0
    compare_dino: bool = False  # also pretrain DINO (shared/paper/004) on the same encoder, data and views
    dino_num_prototypes: int = 1024
    dino_hidden_size: int = 2048  # the head's MLP width (the reference's)
    # AdamW with weight decay 0.04 (the reference's optimiser and initial decay): with batch norm in the head, margins
    # over random init grew with the rate from 5e-4 to 8e-3 on both seeds tried and fell at 1.6e-2
    # (docs/representations.md, "Ablations 9 and 10"; without batch norm 2e-3 drove the teacher towards uniform)
    dino_learning_rate: float = 8e-3
    dino_weight_decay: float = 0.04
    # the two long crops (teacher and student) and the student's short crops; a long crop longer than a pretraining
    # clip (1 s a word) would be the clip zero-padded, so longer ones need utterances (`pretrain_words_per_clip`)
    dino_long_crop_seconds: float = 1.0
    dino_short_crops: int = 2
    dino_short_crop_seconds: float = 0.5
    # sharper and faster-following than the reference (0.04, 0.996): at those the teacher went near-uniform (entropy
    # 0.998 log K) in 300 steps; at 0.02 and 0.99 it ended at 0.66 log K, KL to the centre 1.17 nats (README, "DINO")
    dino_teacher_temperature: float = 0.02
    dino_teacher_momentum: float = 0.99  # at step 0, cosine to 1
    # the reference's `use_bn_in_head`: the pooled vectors share a large common part, which left the teacher's outputs
    # close to the same for every clip (kl_to_center 1.2 nats at the end, entropy 0.66 log K; with it 2.3 nats, 0.14
    # log K: docs/representations.md, "Ablation 9")
    dino_head_batchnorm: bool = True
    # the running centre; DINOv2's Sinkhorn-Knopp made the teacher more informative (3.6 nats about the input) but not
    # the probes (docs/representations.md, "Ablation 10")
    dino_centering: str = "centering"

    def __post_init__(self) -> None:
        if self.pretrain_words_per_clip < 1:
            raise ValueError(f"pretrain_words_per_clip={self.pretrain_words_per_clip}: expected >= 1 word per clip.")
        if self.pretrain_words_per_clip > 1 and self.view_segment_seconds is None:
            raise ValueError(
                f"pretrain_words_per_clip={self.pretrain_words_per_clip} without view_segment_seconds: both views "
                "would be the whole utterance; set view_segment_seconds (e.g. 1.0, the probes' clip length)."
            )
        # DINO's settings are checked here, so a bad one fails before Barlow Twins pretrains
        try:
            self.dino_arguments()
        except ValueError as error:  # the crops' own check, not `barlow-speech pretrain`'s flags that wrap it
            raise ValueError(
                f"dino_long_crop_seconds={self.dino_long_crop_seconds}, dino_short_crops={self.dino_short_crops}, "
                f"dino_short_crop_seconds={self.dino_short_crop_seconds}, dino_teacher_momentum="
                f"{self.dino_teacher_momentum}, dino_teacher_temperature={self.dino_teacher_temperature}: "
                f"{error.__cause__ or error}"
            ) from error
        clip_seconds = self.pretrain_words_per_clip * self.corpus_config().clip_seconds
        if self.dino_long_crop_seconds > clip_seconds:
            raise ValueError(
                f"dino_long_crop_seconds={self.dino_long_crop_seconds} with pretrain_words_per_clip="
                f"{self.pretrain_words_per_clip}: a long crop longer than the {clip_seconds:g}-s pretraining clips "
                "would be zero-padded; shorten it or pretrain on utterances of more words."
            )

    def dino_arguments(self) -> DinoArguments:
        """DINO's trainer options of the demo: its crops and the teacher's momentum and temperature (no warm-up)."""
        return DinoArguments(
            long_crop_seconds=self.dino_long_crop_seconds,
            num_short_crops=self.dino_short_crops,
            short_crop_seconds=self.dino_short_crop_seconds,
            teacher_momentum=self.dino_teacher_momentum,
            warmup_teacher_temperature=self.dino_teacher_temperature,
        )

    @classmethod
    def quick(cls, output_dir: str) -> DemoSettings:
        """A shortened run for tests: same pipeline, a few dozen steps."""
        return cls(
            output_dir=output_dir,
            pretrain_clips=640,
            probe_clips=600,
            validation_clips=300,
            max_steps=30,
            batch_size=32,
            fractions=(0.1, 1.0),
            seeds=2,
            probe_steps=100,
            disentanglement_runs=2,
            num_speakers=8,
            supervised_fractions=(0.1,),
            supervised_steps=10,
            pooling_bands=4,  # 1,024-d instead of 4,096-d pooled maps: Table 3's SAP fits one SVM per dimension
        )

    def probe_protocol(self) -> ProbeProtocol:
        """Table 2's protocol of this run (every paper task)."""
        return ProbeProtocol(
            fractions=self.fractions, seeds=self.seeds, steps=self.probe_steps, layer=self.probe_layer
        )

    def encoder(self) -> EncoderRecipe:
        """The encoder and front end of this run: `SMALL_ENCODER` with the settings' architecture and front end."""
        own = {field.name for field in dataclasses.fields(self)}
        names = [field.name for field in dataclasses.fields(EncoderRecipe) if field.name in own]
        return dataclasses.replace(SMALL_ENCODER, **{name: getattr(self, name) for name in names})

    def corpus_config(self) -> SyntheticSpeechConfig:
        """The synthetic corpus' configuration: this run's speaker population, one-word clips of `clip_seconds`."""
        return SyntheticSpeechConfig(num_speakers=self.num_speakers)

    def corpus(self, num_clips: int, seed: int, split: str, words_per_clip: int = 1) -> datasets.Dataset:
        """The synthetic corpus with this run's speaker population."""
        return load_synthetic(
            num_clips=num_clips, seed=seed, split=split, config=self.corpus_config(), words_per_clip=words_per_clip
        )


# the `DemoSettings` fields that set a field of the same name of the views (`TwoViewAugmentationConfig`)
VIEW_FIELDS = (
    "freq_mask_width",
    "time_mask_width",
    "noise_prob",
    "rrc_time_scale",
    "eq_db_std",
    "reverb_prob",
    "view_segment_seconds",
)


def pretraining_arguments(
    settings: DemoSettings, output_dir: Path, objective: str = "barlow_twins"
) -> PretrainingArguments:
    """The demo's pretraining as `barlow-speech pretrain`'s arguments: the settings' encoder and front end, the
    synthetic corpus of its speakers, the `demo` views with the settings' fields, its optimiser (DINO's for
    `objective="dino"`), checkpoints under `output_dir/checkpoints` (none saved)."""
    encoder = settings.encoder()
    bands = encoder.pooling_bands
    model = ModelArguments(
        backbone=encoder.backbone,
        latent_size=encoder.latent_size,
        loss_variant=encoder.loss_variant,
        objective=objective,
        dino_num_prototypes=settings.dino_num_prototypes,
        dino_hidden_size=settings.dino_hidden_size,
        dino_head_batchnorm=settings.dino_head_batchnorm,
        dino_teacher_temperature=settings.dino_teacher_temperature,
        dino_centering=settings.dino_centering,
        pooling=encoder.pooling,
        pooling_bands=[bands] if isinstance(bands, int) else list(bands),
        projector_input=encoder.projector_input,
        n_fft=encoder.n_fft,
        hop_length=encoder.hop_length,
        n_mels=encoder.n_mels,
    )
    views = {name: getattr(settings, name) for name in VIEW_FIELDS} | {"mixup_prob": 1.0 if settings.mixup else 0.0}
    words = settings.pretrain_words_per_clip
    extractor = encoder.feature_extractor()
    data = DataArguments(
        dataset="synthetic",
        num_clips=settings.pretrain_clips,
        loader_args=[f"num_speakers={settings.num_speakers}", f"words_per_clip={words}"],
        normalization_clips=256,
        normalization_sample="first",
        views="demo",
        # the settings that differ from the `demo` preset (`DEMO_VIEWS`), as `barlow-speech pretrain --view_args`
        view_args=[
            f"{name}={json.dumps(value)}" for name, value in views.items() if value != getattr(DEMO_VIEWS, name)
        ],
        # utterances reach the views whole (they draw their own segments); one-word clips are one segment
        clip_seconds=words * extractor.segment_samples / extractor.sampling_rate if words > 1 else None,
    )
    dino = objective == "dino"
    training = TrainingArguments(
        output_dir=str(output_dir / "checkpoints"),
        per_device_train_batch_size=settings.batch_size,
        max_steps=settings.max_steps,
        learning_rate=settings.dino_learning_rate if dino else settings.learning_rate,
        warmup_steps=max(1, settings.max_steps // 15),
        lr_scheduler_type="cosine",
        weight_decay=settings.dino_weight_decay if dino else 1e-4,
        logging_steps=max(1, settings.max_steps // 30),
        save_strategy="no",
        report_to="none",
        use_cpu=not torch.cuda.is_available(),
        seed=settings.seed,
        dataloader_drop_last=True,
    )
    return PretrainingArguments(model, data, BarlowTwinsArguments(), settings.dino_arguments(), training)


def demo_views(settings: DemoSettings, mixup: bool, sampling_rate: int) -> TwoViewAugmentation:
    """The demo's two views: `DEMO_VIEWS` with this run's settings, at `sampling_rate` (the feature extractor's)."""
    data = pretraining_arguments(dataclasses.replace(settings, mixup=mixup), Path(settings.output_dir)).data
    return TwoViewAugmentation(data.views_config(), sampling_rate=sampling_rate)


def bands_text(bands: int | Sequence[int]) -> str:
    """`pooling_bands` for a reader: `16`, or `16/16/16/8` per layer."""
    return str(bands) if isinstance(bands, int) else "/".join(map(str, bands))


def demo_config(settings: DemoSettings, objective: str = "barlow_twins") -> BarlowSpeechConfig:
    """The demo's architecture; `objective="dino"` adds DINO heads over the same encoder."""
    return pretraining_arguments(settings, Path(settings.output_dir), objective).model.build_config()


def demo_trainer(
    settings: DemoSettings,
    output_dir: Path,
    objective: str = "barlow_twins",
    corpus: datasets.Dataset | None = None,
    extractor: BarlowSpeechFeatureExtractor | None = None,
) -> tuple[BarlowTwinsTrainer, BarlowSpeechForPreTraining]:
    """The demo's pretraining trainer, not yet trained, from `barlow-speech pretrain`'s `build_trainer`: Barlow Twins
    on the demo's views, or DINO (`DinoTrainer`) on multi-crop of them; returns it and an untouched copy of the
    initial model.

    `corpus` and `extractor` (fitted) default to the settings' pretraining clips and a front end normalised on them;
    pass a previous run's to train a second objective on the same data and front end.
    """
    arguments = pretraining_arguments(settings, output_dir, objective)
    trainer = build_trainer(*arguments[:3], arguments.training, arguments.dino, corpus, extractor)
    return trainer, copy.deepcopy(trainer.model)


def pretrain(trainer: BarlowTwinsTrainer, output_dir: Path) -> None:
    """Train `demo_trainer`'s trainer on its unlabelled synthetic clips and save the model under `output_dir`, in
    `bt-synthetic` (Barlow Twins) or `dino-synthetic` (DINO: the teacher as the encoder)."""
    trainer.train()
    trainer.save_model(str(output_dir / ("dino-synthetic" if isinstance(trainer, DinoTrainer) else "bt-synthetic")))


def demo_source(settings: DemoSettings) -> DataSource:
    """The labelled synthetic splits the demo probes: its speaker population, clips unseen in pretraining."""
    return DataSource(
        "synthetic",
        loader_args={"num_speakers": settings.num_speakers},
        num_clips=settings.probe_clips,
        num_eval_clips=settings.probe_clips // 2,
        num_validation_clips=settings.validation_clips,
        data_seed=settings.seed + 1,
    )


def summary(probe_results: list[dict], ours: str, references: dict[str, float]) -> tuple[str, dict[str, int]]:
    """Markdown lines comparing the model `ours` with each reference model at one label fraction, and on how many
    factors `ours` is at least as good.

    `references` maps a model name to the label fraction of the comparison (e.g. {"Random init": 1.0}).
    """
    table = {
        (r["model"], r["task"], entry["fraction"]): entry["mean"]
        for r in probe_results
        for entry in r["fractions"].values()
    }
    lines, wins = [], {}
    for reference, fraction in references.items():
        wins[reference] = 0
        for task in dict.fromkeys(r["task"] for r in probe_results):
            mine, theirs = table.get((ours, task, fraction)), table.get((reference, task, fraction))
            if mine is None or theirs is None:
                continue
            wins[reference] += mine >= theirs
            lines.append(
                f"| {task_label(task)} | {100 * fraction:g} % | {reference} | {100 * mine:.1f} | {100 * theirs:.1f} | "
                f"{100 * (mine - theirs):+.1f} |"
            )
    header = f"| factor | labels | reference | {ours} top-1 % | reference top-1 % | difference |\n"
    return header + "|---|---|---|---:|---:|---:|\n" + "\n".join(lines), wins


class PhaseTimer:
    """Wall-clock seconds per named phase of a run, in order: `with timer("probes"): ...`."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start

    def markdown(self) -> str:
        """`phase a.b min, ...; total c.d min`."""
        phases = ", ".join(f"{name} {seconds / 60:.1f}" for name, seconds in self.seconds.items())
        return f"{phases} min; total {sum(self.seconds.values()) / 60:.1f} min"


def run_demo(settings: DemoSettings) -> dict:
    """Run the demo; returns {"report": path, "wins": {reference: factors where BT >= it}, "seconds": {phase: wall
    clock}, ...}."""
    timer = PhaseTimer()
    output_dir = Path(settings.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with timer("pretraining"):
        trainer, initial = demo_trainer(settings, output_dir)
        pretrain(trainer, output_dir)
    trained = trainer.model
    extractor = trainer.feature_extractor

    with timer("Fig. 3"):
        clips = stack_clips(settings.corpus(256, settings.seed + 2, "validation"), 256, extractor.segment_samples)
        views = demo_views(settings, False, extractor.sampling_rate)
        untrained_c, trained_c = cross_correlations([initial, trained], extractor, clips, views, settings.seed)

    bt_name, random_name, dino_name = "BT (synthetic)", "Random init", "DINO (synthetic)"
    upstreams = [
        Upstream(bt_name, "demo:trained", trained, extractor),
        Upstream(random_name, "demo:initial", initial, extractor),
        load_upstream(LOGMEL),
    ]
    if settings.compare_dino:
        with timer("DINO pretraining"):
            dino_trainer, _ = demo_trainer(settings, output_dir, "dino", trainer.train_dataset, extractor)
            pretrain(dino_trainer, output_dir)
        upstreams.append(Upstream(dino_name, "demo:dino", dino_trainer.model, extractor))  # its teacher
    source, cache_dir = demo_source(settings), output_dir / "embeddings"
    probes = settings.probe_protocol()
    with timer("linear probes"):
        probe_results = [result for u in upstreams for result in run_probes(u, source, probes, cache_dir=cache_dir)]
    supervised = SupervisedProtocol(
        settings.supervised_steps,
        batch_size=32,
        learning_rate=settings.learning_rate,
        fractions=settings.supervised_fractions,
    )
    supervised_probes = dataclasses.replace(probes, seeds=settings.supervised_seeds)  # end to end costs far more
    with timer("supervised"):
        probe_results += run_supervised(
            demo_config(settings),
            extractor,
            source,
            supervised_probes,
            supervised,
        )
    disentanglement = DisentanglementProtocol(n_runs=settings.disentanglement_runs, seed=settings.seed)
    with timer("Table 3"):
        disentanglement_results = [
            run_disentanglement(u, source, disentanglement, cache_dir=cache_dir) for u in upstreams
        ]
    with timer("report"):
        figures = [
            plot_loss_curve(trainer.state.log_history, output_dir / "loss_curve.png"),
            *report_figures(output_dir, probe_results, [untrained_c, trained_c]),
        ]
        write_results(output_dir / "probe_results.json", probe_results)
        write_results(output_dir / "disentanglement_results.json", disentanglement_results)
        report = write_report(output_dir, probe_results, disentanglement_results, figures)
    references = {random_name: 1.0, "Log-mel stats": 1.0, "Supervised": min(settings.supervised_fractions)}
    lines, wins = summary(probe_results, bt_name, references)
    on_diagonal = float(np.diagonal(trained_c).mean())
    header = (
        "# barlow-speech demo\n\n"
        f"A ResNet ({BACKBONES[settings.backbone]['hidden_sizes']}, latent m = {settings.latent_size}, "
        f"loss `{settings.loss_variant}`, pooling `{settings.pooling}`"
        f"{'' if settings.pooling == 'global' else f' in {bands_text(settings.pooling_bands)} bands'}, "
        f"projector input `{settings.projector_input}`) "
        f"pretrained with Barlow Twins for {settings.max_steps} steps of {settings.batch_size} synthetic clips "
        f"({timer.seconds['pretraining'] / 60:.1f} min), front end n_fft={settings.n_fft}, hop={settings.hop_length}, "
        f"{f'{settings.n_mels} mel bands' if settings.n_mels else 'linear bins'}. "
        f"Mean C_ii between two views of held-out clips: {np.diagonal(untrained_c).mean():.2f} untrained -> "
        f"{on_diagonal:.2f} trained.\n\n"
        f"BT at least as good as: random init on **{wins[random_name]} of {len(PAPER_TASKS)}** factors at 100 % "
        f"labels, log-mel statistics on **{wins['Log-mel stats']}**, supervised from scratch on "
        f"**{wins['Supervised']}** at {100 * min(settings.supervised_fractions):g} % labels:\n\n"
        f"{lines}\n\n"
    )
    result = {}
    if settings.compare_dino:
        dino_lines, result["dino_wins"] = summary(probe_results, dino_name, {random_name: 0.1, bt_name: 1.0})
        _, dino_full = summary(probe_results, dino_name, {random_name: 1.0})
        header += (
            f"DINO on the same encoder, data and views (multi-crop: 2 x {settings.dino_long_crop_seconds:g} s teacher "
            "and student crops, "
            f"{settings.dino_short_crops} x {settings.dino_short_crop_seconds:g} s student crops; K = "
            f"{settings.dino_num_prototypes} prototypes; AdamW lr {settings.dino_learning_rate:g}, weight decay "
            f"{settings.dino_weight_decay:g}; batch norm in the head: "
            f"{'yes' if settings.dino_head_batchnorm else 'no'}; centring: "
            f"{DINO_CENTERINGS[settings.dino_centering]}; teacher temperature {settings.dino_teacher_temperature:g}, "
            f"momentum {settings.dino_teacher_momentum:g}), "
            f"{settings.max_steps} steps "
            f"({timer.seconds['DINO pretraining'] / 60:.1f} min), teacher probed. At least as good as random init on "
            f"**{result['dino_wins'][random_name]}** factors at 10 % labels and **{dino_full[random_name]}** at "
            f"100 %, as BT on **{result['dino_wins'][bt_name]}** at 100 %:\n\n{dino_lines}\n\n"
        )
    header += f"Wall clock on this machine: {timer.markdown()}.\n\nSettings: `{json.dumps(asdict(settings))}`\n\n"
    report.write_text(header + report.read_text())
    logger.info(f"wrote {report}; {timer.markdown()}; BT wins {wins}")
    return {
        **result,
        "report": report,
        "wins": wins,
        "seconds": timer.seconds,
        "probe_results": probe_results,
        "on_diagonal_trained": on_diagonal,
        "on_diagonal_untrained": float(np.diagonal(untrained_c).mean()),
    }


def _override(help_: str, switch: bool = False) -> Any:
    """A `DemoArguments` field: None (the run's default, or `--quick`'s) unless given; a `switch` may be given
    without a value (`--compare_dino`: true)."""
    metadata = {"help": f"{help_} (default: DemoSettings', or --quick's)."}
    return field(default=None, metadata={**metadata, "nargs": "?", "const": True} if switch else metadata)


@dataclass(kw_only=True)
class DemoArguments:
    """`barlow-speech demo`: the run's output folder, `--quick`, and the `DemoSettings` fields a user may set; each
    one not given keeps the defaults' value (or `--quick`'s)."""

    _argument_group_name = "demo"
    output_dir: str = field(default=DemoSettings.output_dir, metadata={"help": "where the run and report go."})
    quick: bool = field(default=False, metadata={"help": "a shortened run (a few minutes): DemoSettings.quick."})
    pretrain_clips: int | None = _override("synthetic clips to pretrain on")
    probe_clips: int | None = _override("labelled clips of the probes' train split")
    max_steps: int | None = _override("pretraining steps")
    batch_size: int | None = _override("pretraining batch")
    learning_rate: float | None = _override("pretraining learning rate")
    latent_size: int | None = _override("latent size m of the projector")
    loss_variant: str | None = _override("the loss (BarlowSpeechConfig.loss_variant)")
    pooling: str | None = _override("how each layer's map becomes a vector (BarlowSpeechConfig.pooling)")
    pooling_bands: list[int] | None = _override(
        "frequency bands: one number for every layer, or one per layer (stem, then each stage)"
    )
    projector_input: str | None = _override("what the pretraining heads read (BarlowSpeechConfig.projector_input)")
    n_fft: int | None = _override("front end: STFT window in samples")
    hop_length: int | None = _override("front end: STFT hop in samples")
    n_mels: int | None = _override("front end: mel bands (0: linear bins)")
    eq_db_std: float | None = _override("random channel of each view, dB (0: off)")
    reverb_prob: float | None = _override("random room per view, probability (0: off)")
    view_segment_seconds: float | None = _override("each view a random segment of this many seconds")
    mixup: bool | None = _override("BYOL-A mixup in the views", switch=True)
    pretrain_words_per_clip: int | None = _override("words per pretraining clip (> 1: utterances)")
    num_speakers: int | None = _override("speakers of the synthetic corpus")
    seeds: int | None = _override("probe seeds per label fraction")
    probe_layer: str | None = _override("the layer probed: last, or best on validation")
    disentanglement_runs: int | None = _override("random subsamples of Table 3")
    supervised_seeds: int | None = _override("seeds of the supervised rows")
    seed: int | None = _override("seed of the run")
    compare_dino: bool | None = _override("also pretrain and probe DINO (shared/paper/004)", switch=True)

    def settings(self) -> DemoSettings:
        """The run's `DemoSettings`: the defaults (or `--quick`'s) with the fields given."""
        base = DemoSettings.quick(self.output_dir) if self.quick else DemoSettings(output_dir=self.output_dir)
        given = {
            name: value
            for name, value in dataclasses.asdict(self).items()
            if value is not None and name not in ("quick", "output_dir")
        }
        if given.get("n_mels") == 0:
            given["n_mels"] = None
        if "pooling_bands" in given:
            bands = given["pooling_bands"]
            given["pooling_bands"] = bands[0] if len(bands) == 1 else tuple(bands)
        return dataclasses.replace(base, **given)


def parse_settings(argv: Sequence[str]) -> DemoSettings:
    """`barlow-speech demo` arguments -> `DemoSettings` (the defaults, or `--quick`'s, with the given overrides),
    checked where each value is owned: the pretraining arguments and config (architecture, views), the protocols."""
    (arguments,) = CommandParser([DemoArguments], "demo", __doc__).parse(argv)
    settings = arguments.settings()
    pretraining_arguments(settings, Path(settings.output_dir))
    settings.probe_protocol()
    return settings


def main(argv: Sequence[str]) -> int:
    settings = parse_settings(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result = run_demo(settings)
    print(f"report: {result['report']}  (factors where BT >= reference: {result['wins']})")
    return 0
