"""`barlow-speech probe | disentangle | report`: Table 2, Table 3 and the figures from the command line.

    barlow-speech probe --model runs/bt-synthetic --tasks speaker_id gender word emotion --output_dir eval/
    barlow-speech probe --model random-init:runs/bt-synthetic --output_dir eval/     # same architecture, fresh weights
    barlow-speech probe --model logmel --output_dir eval/                               # log-mel statistics baseline
    barlow-speech probe --model runs/bt-ls100 --config configs/downstream/wluc.yaml --data_path /data/WLUC ...
    barlow-speech disentangle --model runs/bt-synthetic --factors accent speaker_id gender --output_dir eval/
    barlow-speech report --models runs/bt-synthetic random-init:runs/bt-synthetic logmel --supervised \\
        --pretraining_checkpoint runs/bt-synthetic --output_dir eval/                  # runs everything, then renders
    barlow-speech report --results eval/probe_*.json eval/disentanglement_*.json --output_dir eval/
    barlow-speech reproduce table2|table3|fig3|fig4|fig5|all [--data_root DIR] [--quick] --output_dir repro/

These commands only parse arguments: `barlow_speech.evaluation.pipeline` loads the model (`--model`: a checkpoint
folder or Hub id, `random-init:<checkpoint>` or `logmel`), resolves the dataset and its split policy, runs the probes,
the disentanglement metrics, the supervised baseline and the Fig. 3 cross-correlation, and writes the report.
`--config file.yaml` reads flags from a file (keys = flag names without dashes); command-line flags override it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets

from ..arguments import CommandParser, check_choice, did_you_mean
from ..data import DATASET_NAMES
from ..data.fractions import PAPER_FRACTIONS
from ..data.registry import parse_loader_args
from ..results import PAPER_TASKS, load_results
from .analysis import ANALYSES, ANALYSIS_PROBE_STEPS, CRITIC_LEARNING_RATES, analyze_layers, write_analysis
from .pipeline import (
    DEFAULT_FRONT_END,
    LAYER_CHOICES,
    LOGMEL,
    PAPER_FACTORS,
    RANDOM_INIT_PREFIX,
    DisentanglementProtocol,
    ProbeProtocol,
    SupervisedProtocol,
    Upstream,
    cross_correlations,
    figure3_views,
    load_architecture,
    load_pretraining_pair,
    load_upstream,
    report_figures,
    run_disentanglement,
    run_probes,
    run_supervised,
    slug,
    stack_clips,
    write_results,
)
from .report import probe_table, write_report
from .reproduce import ARTEFACTS, Reproduction, run_stages, stage_status
from .sources import SPLITS, DataSource

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class FrontEndArguments:
    """The model(s) to evaluate, and the front end of checkpoints saved without one."""

    _argument_group_name = "model"
    default_front_end: bool = field(
        default=False,
        metadata={
            "help": f"use the default front end {DEFAULT_FRONT_END} for checkpoints without a "
            "preprocessor_config.json (otherwise an error); recorded as front_end in the results."
        },
    )


@dataclass(kw_only=True)
class UpstreamArguments(FrontEndArguments):
    """The model to evaluate."""

    _argument_group_name = "model"
    model: str = field(
        metadata={"help": f"checkpoint folder or Hub id, '{RANDOM_INIT_PREFIX}<checkpoint>', or '{LOGMEL}'."}
    )
    model_name: str | None = field(
        default=None, metadata={"help": "row name in the tables (default: the checkpoint's folder)."}
    )
    random_init: bool = field(
        default=False, metadata={"help": "the checkpoint's architecture with fresh weights (random init)."}
    )
    init_seed: int = field(default=0, metadata={"help": "seed of the random-init weights."})

    def upstream(self) -> Upstream:
        return load_upstream(self.model, self.random_init, self.init_seed, self.model_name, self.default_front_end)


@dataclass(kw_only=True)
class DataSourceArguments:
    """The labelled data and its splits."""

    _argument_group_name = "data"
    dataset: str = field(default="synthetic", metadata={"help": f"one of {list(DATASET_NAMES)}."})
    data_path: str | None = field(
        default=None, metadata={"help": "the dataset's folder or Hub id (not for synthetic)."}
    )
    loader_args: list[str] = field(
        default_factory=list,
        metadata={
            "metavar": "KEY=VALUE",
            "help": "extra loader arguments (synthetic: SyntheticSpeechConfig fields such as num_speakers=16).",
        },
    )
    num_clips: int = field(default=2000, metadata={"help": "synthetic: clips of the train split."})
    num_eval_clips: int = field(default=500, metadata={"help": "synthetic: clips of validation and test."})
    data_seed: int = field(default=0, metadata={"help": "synthetic clip seed / random split seed."})

    def __post_init__(self):
        check_choice("dataset", self.dataset, DATASET_NAMES)

    def source(self) -> DataSource:
        return DataSource(
            self.dataset,
            self.data_path,
            parse_loader_args(self.loader_args),
            self.num_clips,
            self.num_eval_clips,
            self.data_seed,
        )


@dataclass(kw_only=True)
class RunArguments:
    """Where results go and how embeddings are computed."""

    _argument_group_name = "run"
    output_dir: str = field(metadata={"help": "where the results and the embedding cache go."})
    device: str | None = field(
        default=None, metadata={"help": "'cpu', 'cuda', 'cuda:1', ... (default: CUDA when available)."}
    )
    batch_size: int = field(default=64, metadata={"help": "clips per forward pass when embedding."})
    cache_dir: str | None = field(
        default=None, metadata={"help": "embedding cache (default: <output_dir>/embeddings)."}
    )

    def runtime(self) -> dict[str, Any]:
        """The pipeline's batch_size / device / cache_dir keyword arguments."""
        cache_dir = Path(self.cache_dir) if self.cache_dir else Path(self.output_dir) / "embeddings"
        return {"batch_size": self.batch_size, "device": self.device, "cache_dir": cache_dir}


@dataclass(kw_only=True)
class ProbeArguments:
    """Linear probes at label fractions (Table 2)."""

    _argument_group_name = "linear probe (Table 2)"
    tasks: list[str] = field(
        default_factory=lambda: list(PAPER_TASKS),
        metadata={"help": "label columns, one probe each (paper: speaker_id gender word emotion)."},
    )
    fractions: list[float] = field(
        default_factory=lambda: list(PAPER_FRACTIONS), metadata={"help": "label fractions (paper: 0.05 0.1 0.5 1)."}
    )
    seeds: int = field(default=5, metadata={"help": "seeds 0..N-1 per fraction (paper: 50)."})
    probe_steps: int = field(default=300, metadata={"help": "the most L-BFGS iterations of each probe."})
    layer: str = field(
        default="last",
        metadata={
            "choices": LAYER_CHOICES,
            "help": "last: pooler_output (the paper); best: probe every layer, keep the one best on validation.",
        },
    )

    def __post_init__(self):
        self.probe_protocol()  # the protocol checks its settings

    def probe_protocol(self) -> ProbeProtocol:
        return ProbeProtocol(self.tasks, self.fractions, self.seeds, self.probe_steps, self.layer)


@dataclass(kw_only=True)
class DisentangleArguments:
    """Disentanglement metrics (Table 3)."""

    _argument_group_name = "disentanglement (Table 3)"
    factors: list[str] = field(
        default_factory=lambda: list(PAPER_FACTORS),
        metadata={"help": "factor columns (paper: accent, identity, gender)."},
    )
    split: str = field(default="test", metadata={"choices": SPLITS, "help": "split whose embeddings are measured."})
    n_runs: int = field(default=50, metadata={"help": "random subsamples (paper: 50)."})
    sample_size: int | None = field(default=None, metadata={"help": "clips per subsample (default: half the split)."})
    disentangle_seed: int = field(default=0, metadata={"help": "seed of the subsamples."})

    def __post_init__(self):
        self.disentanglement_protocol()  # the protocol checks its settings

    def disentanglement_protocol(self) -> DisentanglementProtocol:
        return DisentanglementProtocol(self.factors, self.split, self.n_runs, self.sample_size, self.disentangle_seed)


def _check_label_columns(flag: str, source: DataSource, columns: Sequence[str], split: str) -> None:
    """A ValueError naming `columns` that are not label columns (ClassLabel features) of the `split` split, and the
    label columns: a column such as `path` holds one value per clip, so a probe on it would score 0 % and say
    nothing."""
    features = source.load(split).features
    labels = [name for name, feature in features.items() if isinstance(feature, datasets.ClassLabel)]
    unknown = [column for column in columns if column not in labels]
    if unknown:
        raise ValueError(
            f"{flag} {' '.join(unknown)}: not a label column of the {source.name} data"
            f"{did_you_mean(unknown[0], labels)}; choose from {labels}."
        )


def parse_command(command: str, argv: Sequence[str] | None) -> Any:
    """The arguments of `barlow-speech <command>` (probe, disentangle, report, reproduce, analyze) from `argv`, with
    `--config FILE` expanded (its keys are the command's flags without dashes; flags on the command line win)."""
    arguments_class, _ = COMMAND_ARGUMENTS[command]
    parser = CommandParser([arguments_class], command, __doc__)
    (arguments,) = parser.parse(sys.argv[1:] if argv is None else argv)
    return arguments


def _main(command: str, argv: Sequence[str] | None) -> int:
    """Parse and run; `barlow_speech.cli` turns a bad input (ValueError / FileNotFoundError) into one stderr line."""
    args = parse_command(command, argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    _, run = COMMAND_ARGUMENTS[command]
    for path in run(args):
        print(path)
    return 0


# ------------------------------------------------------------------------------------------------ commands
@dataclass(kw_only=True)
class ProbeCommandArguments(RunArguments, ProbeArguments, DataSourceArguments, UpstreamArguments):
    """`barlow-speech probe`."""

    def __post_init__(self):
        DataSourceArguments.__post_init__(self)
        ProbeArguments.__post_init__(self)


def _probe(args: ProbeCommandArguments) -> list[Path]:
    source = args.source()
    _check_label_columns("--tasks", source, args.tasks, "train")
    upstream = args.upstream()
    results = run_probes(upstream, source, args.probe_protocol(), **args.runtime())
    print(probe_table(results))
    return [write_results(Path(args.output_dir) / f"probe_{slug(upstream.name)}.json", results)]


def probe_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech probe`: linear evaluation at label fractions; prints the accuracy table and writes
    `<output_dir>/probe_<model>.json` (the label-fraction subsets beside it, `probe_<model>.index_lists.json`)."""
    return _main("probe", argv)


@dataclass(kw_only=True)
class DisentangleCommandArguments(RunArguments, DisentangleArguments, DataSourceArguments, UpstreamArguments):
    """`barlow-speech disentangle`."""

    def __post_init__(self):
        DataSourceArguments.__post_init__(self)
        DisentangleArguments.__post_init__(self)


def _disentangle(args: DisentangleCommandArguments) -> list[Path]:
    source = args.source()
    _check_label_columns("--factors", source, args.factors, args.split)
    upstream = args.upstream()
    result = run_disentanglement(upstream, source, args.disentanglement_protocol(), **args.runtime())
    return [write_results(Path(args.output_dir) / f"disentanglement_{slug(upstream.name)}.json", result)]


def disentangle_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech disentangle`: MIG, SAP, DCIMIG, JEMMIG, modularity over runs -> disentanglement_<model>.json."""
    return _main("disentangle", argv)


@dataclass(kw_only=True)
class ReportSettings(FrontEndArguments):
    """What the report holds: result files, models to evaluate, the Supervised row, Fig. 3."""

    _argument_group_name = "report"
    results: list[str] = field(
        default_factory=list, metadata={"help": "probe / disentanglement result JSON to include."}
    )
    models: list[str] = field(
        default_factory=list,
        metadata={
            "help": f"upstreams to probe and measure: checkpoints, '{RANDOM_INIT_PREFIX}<checkpoint>', '{LOGMEL}'."
        },
    )
    model_names: list[str] | None = field(default=None, metadata={"help": "row names of --models, in order."})
    init_seed: int = field(
        default=0, metadata={"help": "seed of random-init weights (baseline rows, untrained heatmap)."}
    )
    supervised: bool = field(default=False, metadata={"help": "add the Supervised row (trained from scratch)."})
    supervised_checkpoint: str | None = field(
        default=None, metadata={"help": "architecture of the Supervised row (default: first of --models)."}
    )
    supervised_steps: int = field(default=1000, metadata={"help": "Trainer max_steps per supervised run."})
    supervised_batch_size: int = field(default=32, metadata={"help": "batch size of the supervised runs."})
    supervised_learning_rate: float = field(default=1e-3, metadata={"help": "learning rate of the supervised runs."})
    pretraining_checkpoint: str | None = field(
        default=None,
        metadata={"help": "draw the Fig. 3 heatmap: this BarlowSpeechForPreTraining checkpoint vs its random init."},
    )
    heatmap_clips: int = field(default=256, metadata={"help": "clips (batch) of the cross-correlation."})
    boxplot_fraction: float | None = field(
        default=None, metadata={"help": "label fraction of the box plots (default: the smallest)."}
    )
    html: bool = field(default=False, metadata={"help": "also write report.html."})

    def __post_init__(self):
        if not self.results and not self.models:
            raise ValueError("nothing to report: pass --results JSON files and/or --models to evaluate.")
        if self.model_names and len(self.model_names) != len(self.models):
            raise ValueError(f"--model_names has {len(self.model_names)} names for {len(self.models)} --models.")

    def supervised_protocol(self) -> SupervisedProtocol:
        return SupervisedProtocol(self.supervised_steps, self.supervised_batch_size, self.supervised_learning_rate)


@dataclass(kw_only=True)
class ReportCommandArguments(RunArguments, DisentangleArguments, ProbeArguments, DataSourceArguments, ReportSettings):
    """`barlow-speech report`."""

    def __post_init__(self):
        ReportSettings.__post_init__(self)
        DataSourceArguments.__post_init__(self)
        ProbeArguments.__post_init__(self)
        DisentangleArguments.__post_init__(self)


def _report(args: ReportCommandArguments) -> list[Path]:
    output_dir = Path(args.output_dir)
    probes, disentanglement = load_results(args.results)
    source = args.source()
    if args.models or args.supervised:
        _check_label_columns("--tasks", source, args.tasks, "train")
    if args.models:
        _check_label_columns("--factors", source, args.factors, args.split)
    for index, spec in enumerate(args.models):
        name = args.model_names[index] if args.model_names else None
        upstream = load_upstream(spec, init_seed=args.init_seed, name=name, default_front_end=args.default_front_end)
        results = run_probes(upstream, source, args.probe_protocol(), **args.runtime())
        write_results(output_dir / f"probe_{slug(upstream.name)}.json", results)
        probes += results
        result = run_disentanglement(upstream, source, args.disentanglement_protocol(), **args.runtime())
        write_results(output_dir / f"disentanglement_{slug(upstream.name)}.json", result)
        disentanglement.append(result)
    if args.supervised:
        checkpoint = args.supervised_checkpoint or next((m for m in args.models if m != LOGMEL), None)
        if checkpoint is None:
            raise ValueError(
                "--supervised needs the architecture: pass --supervised_checkpoint or a checkpoint in --models."
            )
        checkpoint = checkpoint.removeprefix(RANDOM_INIT_PREFIX)
        config, extractor, front_end = load_architecture(checkpoint, args.default_front_end)
        metadata = {"upstream": f"supervised:{checkpoint}", "front_end": front_end}
        supervised = run_supervised(
            config, extractor, source, args.probe_protocol(), args.supervised_protocol(), args.device, metadata
        )
        write_results(output_dir / "probe_Supervised.json", supervised)
        probes += supervised
    correlations = None
    if args.pretraining_checkpoint:
        untrained, trained, extractor = load_pretraining_pair(
            args.pretraining_checkpoint, args.init_seed, args.default_front_end
        )
        clips = stack_clips(source.load(args.split), args.heatmap_clips, extractor.segment_samples)
        correlations = cross_correlations(
            [untrained, trained],
            extractor,
            clips,
            figure3_views(sampling_rate=extractor.sampling_rate),
            args.init_seed,
            args.device,
        )
    figures = report_figures(output_dir, probes, correlations, args.boxplot_fraction)
    return [write_report(output_dir, probes, disentanglement, figures, html_too=args.html), *figures]


def report_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech report`: Table 2, Table 3 and the figures into `<output_dir>/report.md` (+ PNGs, HTML)."""
    return _main("report", argv)


@dataclass(kw_only=True)
class ReproduceArguments:
    """The paper artefact to reproduce and where."""

    _argument_group_name = "reproduce"
    artefact: str = field(
        metadata={
            "positional": True,
            "choices": (*ARTEFACTS, "all"),
            "help": "the paper artefact to reproduce, or all.",
        }
    )
    data_root: str | None = field(
        default=None,
        metadata={
            "help": "folder holding LibriSpeech/, VoxCeleb1/, SpeechCommands/, ESD/, WLUC/ (default: the synthetic "
            "corpus, scaled down)."
        },
    )
    quick: bool = field(default=False, metadata={"help": "a smoke run of every stage at tiny sizes (minutes)."})
    device: str | None = field(default=None, metadata={"help": "'cpu', 'cuda', ... (default: CUDA when available)."})
    output_dir: str = field(metadata={"help": "where every stage goes."})


def _reproduce(args: ReproduceArguments) -> list[Path]:
    reproduction = Reproduction(args.output_dir, args.data_root, args.quick, args.device)
    artefacts = ARTEFACTS if args.artefact == "all" else (args.artefact,)
    stages = reproduction.stages(artefacts)
    print(f"{'stage':<44} {'status':<9} expected GPU time")
    for stage in stages:
        status, why = stage_status(args.output_dir, stage)
        print(f"{stage.name:<44} {status:<9} {stage.gpu_time}{f' ({why}: runs again)' if why else ''}")
    run_stages(stages, args.output_dir)
    return [Path(args.output_dir) / artefact / "report.md" for artefact in artefacts]


def reproduce_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech reproduce <artefact>`: pretrain -> embed -> probe / disentangle -> report, resumable by stage."""
    return _main("reproduce", argv)


@dataclass(kw_only=True)
class AnalyzeModelArguments(FrontEndArguments):
    """The models whose layers are analysed."""

    _argument_group_name = "models"
    analysis: str = field(
        metadata={
            "positional": True,
            "choices": ANALYSES,
            "help": "layers: MI, probes and CKA/PWCCA per layer; mi: no CKA/PWCCA.",
        }
    )
    model: list[str] = field(
        metadata={
            "help": f"checkpoints or Hub ids, and '{RANDOM_INIT_PREFIX}<checkpoint>' for its architecture, fresh "
            "weights."
        }
    )
    model_names: list[str] | None = field(default=None, metadata={"help": "names of the --model entries, in order."})
    init_seed: int = field(default=0, metadata={"help": "seed of random-init weights."})

    def __post_init__(self):
        if self.model_names and len(self.model_names) != len(self.model):
            raise ValueError(f"--model_names has {len(self.model_names)} names for {len(self.model)} --model entries.")


@dataclass(kw_only=True)
class AnalysisArguments:
    """Layer-wise MI, probes and similarity."""

    _argument_group_name = "analysis"
    tasks: list[str] = field(default_factory=lambda: list(PAPER_TASKS), metadata={"help": "label columns to probe."})
    seeds: int = field(default=3, metadata={"help": "seeds 0..N-1 (>= 2) of the MI estimates and intervals."})
    probe_steps: int = field(
        default=ANALYSIS_PROBE_STEPS,
        metadata={"help": "the most L-BFGS iterations of each probe and supervised bound."},
    )
    critic_steps: int = field(default=300, metadata={"help": "SGD steps of each InfoNCE critic."})
    critic_learning_rates: list[float] = field(
        default_factory=lambda: list(CRITIC_LEARNING_RATES),
        metadata={"help": "InfoNCE critic step sizes; the one with the lowest validation loss is kept per estimate."},
    )
    mi_clips: int | None = field(default=None, metadata={"help": "train clips of the unsupervised MI (default: all)."})
    critic_dims: int = field(
        default=256,
        metadata={
            "help": "the InfoNCE critic sees each view's top principal components, at most this many (still a lower "
            "bound; 0: every dimension)."
        },
    )
    bound_dims: int = field(
        default=256,
        metadata={
            "help": "the supervised bound's probe sees each layer's top principal components, at most this many "
            "(still a bound; 0: every dimension)."
        },
    )
    view_args: list[str] = field(
        default_factory=list,
        metadata={
            "metavar": "KEY=VALUE",
            "help": "TwoViewAugmentationConfig fields of the views, e.g. freq_mask_width=10 (mixup is off).",
        },
    )
    pwcca_dims: int | None = field(
        default=None, metadata={"help": "principal components per layer for PWCCA (default: (test - 1) // 2)."}
    )


@dataclass(kw_only=True)
class AnalyzeCommandArguments(RunArguments, AnalysisArguments, DataSourceArguments, AnalyzeModelArguments):
    """`barlow-speech analyze`."""

    # about 3 minutes for the demo checkpoint on 2 cores
    num_clips: int = field(default=1000, metadata={"help": "synthetic: clips of the train split."})
    num_eval_clips: int = field(default=300, metadata={"help": "synthetic: clips of validation and test."})

    def __post_init__(self):
        AnalyzeModelArguments.__post_init__(self)
        DataSourceArguments.__post_init__(self)


def _analyze(args: AnalyzeCommandArguments) -> list[Path]:
    names = args.model_names or [None] * len(args.model)
    source = args.source()
    _check_label_columns("--tasks", source, args.tasks, "train")
    upstreams = [
        load_upstream(spec, init_seed=args.init_seed, name=name, default_front_end=args.default_front_end)
        for spec, name in zip(args.model, names)
    ]
    result = analyze_layers(
        upstreams,
        source,
        args.tasks,
        args.analysis == "layers",
        range(args.seeds),
        mi_clips=args.mi_clips,
        view_args=parse_loader_args(args.view_args, "--view_args"),
        probe_steps=args.probe_steps,
        critic_steps=args.critic_steps,
        critic_learning_rates=args.critic_learning_rates,
        critic_dims=args.critic_dims or None,
        bound_dims=args.bound_dims or None,
        pwcca_dims=args.pwcca_dims,
        **args.runtime(),
    )
    return write_analysis(result, args.output_dir)


def analyze_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech analyze layers|mi`: writes `analysis_<layers|mi>.json` and its figures into `--output_dir`."""
    return _main("analyze", argv)


# command -> its arguments and what runs them
COMMAND_ARGUMENTS: dict[str, tuple[type, Callable[[Any], list[Path]]]] = {
    "probe": (ProbeCommandArguments, _probe),
    "disentangle": (DisentangleCommandArguments, _disentangle),
    "report": (ReportCommandArguments, _report),
    "reproduce": (ReproduceArguments, _reproduce),
    "analyze": (AnalyzeCommandArguments, _analyze),
}
