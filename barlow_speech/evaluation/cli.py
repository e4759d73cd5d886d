"""`barlow-speech probe | disentangle | report`: Table 2, Table 3 and the figures from the command line.

    barlow-speech probe --model runs/bt-synthetic --tasks speaker_id gender word emotion --output_dir eval/
    barlow-speech probe --model random-init:runs/bt-synthetic --output_dir eval/     # same architecture, fresh weights
    barlow-speech probe --model logmel --output_dir eval/                               # log-mel statistics baseline
    barlow-speech probe --model runs/bt-ls100 --config configs/downstream/wluc.yaml --data_path /data/WLUC ...
    barlow-speech disentangle --model runs/bt-synthetic --factors accent speaker_id gender --output_dir eval/
    barlow-speech report --models runs/bt-synthetic random-init:runs/bt-synthetic logmel --supervised \\
        --pretraining_checkpoint runs/bt-synthetic --output_dir eval/                  # runs everything, then renders
    barlow-speech report --results eval/probe_*.json eval/disentanglement_*.json --output_dir eval/
    barlow-speech reproduce table2|table3|fig3|fig4|fig5|all [--data-root DIR] [--quick] --output_dir repro/

These commands only parse arguments: `barlow_speech.evaluation.pipeline` loads the model (`--model`: a checkpoint
folder or Hub id, `random-init:<checkpoint>` or `logmel`), resolves the dataset and its split policy, runs the probes,
the disentanglement metrics, the supervised baseline and the Fig. 3 cross-correlation, and writes the report.
`--config file.yaml` reads flags from a file (keys = flag names without dashes); command-line flags override it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import datasets

from ..arguments import did_you_mean, expand_config
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
from .report import write_report
from .reproduce import ARTEFACTS, Reproduction, run_stages, stage_status
from .sources import SPLITS, DataSource

logger = logging.getLogger(__name__)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument(
        "--model",
        required=True,
        help=f"checkpoint folder or Hub id, '{RANDOM_INIT_PREFIX}<checkpoint>', or '{LOGMEL}'.",
    )
    group.add_argument("--model_name", default=None, help="row name in the tables (default: the checkpoint's folder).")
    group.add_argument(
        "--random_init", action="store_true", help="the checkpoint's architecture with fresh weights (random init)."
    )
    group.add_argument("--init_seed", type=int, default=0, help="seed of the random-init weights.")
    _add_front_end_argument(parser)


def _add_front_end_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--default_front_end",
        action="store_true",
        help=f"use the default front end {DEFAULT_FRONT_END} for checkpoints without a preprocessor_config.json "
        "(otherwise an error); recorded as front_end in the results.",
    )


def _add_data_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default="synthetic", help=f"one of {list(DATASET_NAMES)}.")
    group.add_argument("--data_path", default=None, help="the dataset's folder or Hub id (not for synthetic).")
    group.add_argument(
        "--loader_args",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra loader arguments (synthetic: SyntheticSpeechConfig fields such as num_speakers=16).",
    )
    group.add_argument("--num_clips", type=int, default=2000, help="synthetic: clips of the train split.")
    group.add_argument("--num_eval_clips", type=int, default=500, help="synthetic: clips of validation and test.")
    group.add_argument("--data_seed", type=int, default=0, help="synthetic clip seed / random split seed.")


def _add_run_arguments(parser: argparse.ArgumentParser, output_help: str) -> None:
    parser.add_argument("--output_dir", required=True, help=output_help)
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', 'cuda:1', ... (default: CUDA when available).")
    parser.add_argument("--batch_size", type=int, default=64, help="clips per forward pass when embedding.")
    parser.add_argument("--cache_dir", default=None, help="embedding cache (default: <output_dir>/embeddings).")


def _add_probe_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("linear probe (Table 2)")
    group.add_argument(
        "--tasks",
        nargs="+",
        default=list(PAPER_TASKS),
        help="label columns, one probe each (paper: speaker_id gender word emotion).",
    )
    group.add_argument(
        "--fractions",
        nargs="+",
        type=float,
        default=list(PAPER_FRACTIONS),
        help="label fractions (paper: 0.05 0.1 0.5 1).",
    )
    group.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 per fraction (paper: 50).")
    group.add_argument("--probe_steps", type=int, default=300, help="the most L-BFGS iterations of each probe.")
    group.add_argument(
        "--layer",
        choices=LAYER_CHOICES,
        default="last",
        help="last: pooler_output (the paper); best: probe every layer, keep the one best on validation.",
    )


def _add_disentangle_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("disentanglement (Table 3)")
    group.add_argument(
        "--factors", nargs="+", default=list(PAPER_FACTORS), help="factor columns (paper: accent, identity, gender)."
    )
    group.add_argument("--split", default="test", choices=SPLITS, help="split whose embeddings are measured.")
    group.add_argument("--n_runs", type=int, default=50, help="random subsamples (paper: 50).")
    group.add_argument("--sample_size", type=int, default=None, help="clips per subsample (default: half the split).")
    group.add_argument("--disentangle_seed", type=int, default=0, help="seed of the subsamples.")


def _source(args: argparse.Namespace) -> DataSource:
    return DataSource(
        args.dataset,
        args.data_path,
        parse_loader_args(args.loader_args),
        args.num_clips,
        args.num_eval_clips,
        args.data_seed,
    )


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


def _probe_protocol(args: argparse.Namespace) -> ProbeProtocol:
    return ProbeProtocol(args.tasks, args.fractions, args.seeds, args.probe_steps, args.layer)


def _disentanglement_protocol(args: argparse.Namespace) -> DisentanglementProtocol:
    return DisentanglementProtocol(args.factors, args.split, args.n_runs, args.sample_size, args.disentangle_seed)


def _runtime(args: argparse.Namespace) -> dict[str, Any]:
    """The pipeline's batch_size / device / cache_dir keyword arguments."""
    cache_dir = Path(args.cache_dir) if args.cache_dir else Path(args.output_dir) / "embeddings"
    return {"batch_size": args.batch_size, "device": args.device, "cache_dir": cache_dir}


def parse_command(command: str, argv: Sequence[str] | None) -> argparse.Namespace:
    """The arguments of `barlow-speech <command>` (probe, disentangle, report, reproduce) from `argv`, with
    `--config FILE` expanded (its keys are the command's flags without dashes; flags on the command line win)."""
    parser = argparse.ArgumentParser(
        prog=f"barlow-speech {command}", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    BUILDERS[command](parser)
    known = [action.dest for action in parser._actions]
    return parser.parse_args(expand_config(sys.argv[1:] if argv is None else argv, known, command))


def _main(command: str, run: Callable[[argparse.Namespace], list[Path]], argv: Sequence[str] | None) -> int:
    """Parse and run; `barlow_speech.cli` turns a bad input (ValueError / FileNotFoundError) into one stderr line."""
    args = parse_command(command, argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for path in run(args):
        print(path)
    return 0


# ------------------------------------------------------------------------------------------------ commands
def _build_probe(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    _add_data_arguments(parser)
    _add_probe_arguments(parser)
    _add_run_arguments(parser, "where probe_<model>.json and the embedding cache go.")


def _probe(args: argparse.Namespace) -> list[Path]:
    source = _source(args)
    _check_label_columns("--tasks", source, args.tasks, "train")
    upstream = load_upstream(args.model, args.random_init, args.init_seed, args.model_name, args.default_front_end)
    results = run_probes(upstream, source, _probe_protocol(args), **_runtime(args))
    return [write_results(Path(args.output_dir) / f"probe_{slug(upstream.name)}.json", results)]


def probe_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech probe`: linear evaluation at label fractions; writes `<output_dir>/probe_<model>.json`."""
    return _main("probe", _probe, argv)


def _build_disentangle(parser: argparse.ArgumentParser) -> None:
    _add_model_arguments(parser)
    _add_data_arguments(parser)
    _add_disentangle_arguments(parser)
    _add_run_arguments(parser, "where disentanglement_<model>.json and the embedding cache go.")


def _disentangle(args: argparse.Namespace) -> list[Path]:
    source = _source(args)
    _check_label_columns("--factors", source, args.factors, args.split)
    upstream = load_upstream(args.model, args.random_init, args.init_seed, args.model_name, args.default_front_end)
    result = run_disentanglement(upstream, source, _disentanglement_protocol(args), **_runtime(args))
    return [write_results(Path(args.output_dir) / f"disentanglement_{slug(upstream.name)}.json", result)]


def disentangle_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech disentangle`: MIG, SAP, DCIMIG, JEMMIG, modularity over runs -> disentanglement_<model>.json."""
    return _main("disentangle", _disentangle, argv)


def _build_report(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", nargs="*", default=[], help="probe / disentanglement result JSON to include.")
    parser.add_argument(
        "--models",
        nargs="*",
        default=[],
        help=f"upstreams to probe and measure: checkpoints, '{RANDOM_INIT_PREFIX}<checkpoint>', '{LOGMEL}'.",
    )
    parser.add_argument("--model_names", nargs="*", default=None, help="row names of --models, in order.")
    parser.add_argument(
        "--init_seed", type=int, default=0, help="seed of random-init weights (baseline rows, untrained heatmap)."
    )
    _add_front_end_argument(parser)
    parser.add_argument("--supervised", action="store_true", help="add the Supervised row (trained from scratch).")
    parser.add_argument(
        "--supervised_checkpoint",
        default=None,
        help="architecture of the Supervised row (default: first of --models).",
    )
    parser.add_argument("--supervised_steps", type=int, default=1000, help="Trainer max_steps per supervised run.")
    parser.add_argument("--supervised_batch_size", type=int, default=32)
    parser.add_argument("--supervised_learning_rate", type=float, default=1e-3)
    parser.add_argument(
        "--pretraining_checkpoint",
        default=None,
        help="draw the Fig. 3 heatmap: this BarlowSpeechForPreTraining checkpoint vs its random init.",
    )
    parser.add_argument("--heatmap_clips", type=int, default=256, help="clips (batch) of the cross-correlation.")
    parser.add_argument(
        "--boxplot_fraction", type=float, default=None, help="label fraction of the box plots (default: the smallest)."
    )
    parser.add_argument("--html", action="store_true", help="also write report.html.")
    _add_data_arguments(parser)
    _add_probe_arguments(parser)
    _add_disentangle_arguments(parser)
    _add_run_arguments(parser, "where report.md, the figures, the result JSON and the embedding cache go.")


def _report(args: argparse.Namespace) -> list[Path]:
    if not args.results and not args.models:
        raise ValueError("nothing to report: pass --results JSON files and/or --models to evaluate.")
    if args.model_names and len(args.model_names) != len(args.models):
        raise ValueError(f"--model_names has {len(args.model_names)} names for {len(args.models)} --models.")
    output_dir = Path(args.output_dir)
    probes, disentanglement = load_results(args.results)
    source = _source(args)
    if args.models or args.supervised:
        _check_label_columns("--tasks", source, args.tasks, "train")
    if args.models:
        _check_label_columns("--factors", source, args.factors, args.split)
    for index, spec in enumerate(args.models):
        name = args.model_names[index] if args.model_names else None
        upstream = load_upstream(spec, init_seed=args.init_seed, name=name, default_front_end=args.default_front_end)
        results = run_probes(upstream, source, _probe_protocol(args), **_runtime(args))
        write_results(output_dir / f"probe_{slug(upstream.name)}.json", results)
        probes += results
        result = run_disentanglement(upstream, source, _disentanglement_protocol(args), **_runtime(args))
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
        protocol = SupervisedProtocol(args.supervised_steps, args.supervised_batch_size, args.supervised_learning_rate)
        metadata = {"upstream": f"supervised:{checkpoint}", "front_end": front_end}
        supervised = run_supervised(config, extractor, source, _probe_protocol(args), protocol, args.device, metadata)
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
    return _main("report", _report, argv)


def _build_reproduce(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("artefact", choices=(*ARTEFACTS, "all"), help="the paper artefact to reproduce, or all.")
    parser.add_argument(
        "--data-root",
        "--data_root",
        dest="data_root",
        default=None,
        help="folder holding LibriSpeech/, VoxCeleb1/, SpeechCommands/, ESD/, WLUC/ (default: the synthetic corpus, "
        "scaled down).",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of every stage at tiny sizes (minutes).")
    parser.add_argument("--device", default=None, help="'cpu', 'cuda', ... (default: CUDA when available).")
    parser.add_argument(
        "--output_dir", "--output-dir", dest="output_dir", required=True, help="where every stage goes."
    )


def _reproduce(args: argparse.Namespace) -> list[Path]:
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
    return _main("reproduce", _reproduce, argv)


def _build_analyze(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "analysis", choices=ANALYSES, help="layers: MI, probes and CKA/PWCCA per layer; mi: no CKA/PWCCA."
    )
    group = parser.add_argument_group("models")
    group.add_argument(
        "--model",
        nargs="+",
        required=True,
        help=f"checkpoints or Hub ids, and '{RANDOM_INIT_PREFIX}<checkpoint>' for its architecture, fresh weights.",
    )
    group.add_argument("--model_names", nargs="*", default=None, help="names of the --model entries, in order.")
    group.add_argument("--init_seed", type=int, default=0, help="seed of random-init weights.")
    _add_front_end_argument(parser)
    _add_data_arguments(parser)
    parser.set_defaults(num_clips=1000, num_eval_clips=300)  # about 3 minutes for the demo checkpoint on 2 cores
    group = parser.add_argument_group("analysis")
    group.add_argument("--tasks", nargs="+", default=list(PAPER_TASKS), help="label columns to probe.")
    group.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (>= 2) of the MI estimates and intervals.")
    group.add_argument(
        "--probe_steps",
        type=int,
        default=ANALYSIS_PROBE_STEPS,
        help="the most L-BFGS iterations of each probe and supervised bound.",
    )
    group.add_argument("--critic_steps", type=int, default=300, help="SGD steps of each InfoNCE critic.")
    group.add_argument(
        "--critic_learning_rates",
        nargs="+",
        type=float,
        default=list(CRITIC_LEARNING_RATES),
        help="InfoNCE critic step sizes; the one with the lowest validation loss is kept per estimate.",
    )
    group.add_argument("--mi_clips", type=int, default=None, help="train clips of the unsupervised MI (default: all).")
    group.add_argument(
        "--critic_dims",
        type=int,
        default=256,
        help="the InfoNCE critic sees each view's top principal components, at most this many (still a lower bound; "
        "0: every dimension).",
    )
    group.add_argument(
        "--bound_dims",
        type=int,
        default=256,
        help="the supervised bound's probe sees each layer's top principal components, at most this many (still a "
        "bound; 0: every dimension).",
    )
    group.add_argument(
        "--view_args",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="TwoViewAugmentationConfig fields of the views, e.g. freq_mask_width=10 (mixup is off).",
    )
    group.add_argument(
        "--pwcca_dims",
        type=int,
        default=None,
        help="principal components per layer for PWCCA (default: (test - 1) // 2).",
    )
    _add_run_arguments(parser, "where analysis_<layers|mi>.json, its figures and the embedding cache go.")


def _analyze(args: argparse.Namespace) -> list[Path]:
    if args.model_names and len(args.model_names) != len(args.model):
        raise ValueError(f"--model_names has {len(args.model_names)} names for {len(args.model)} --model entries.")
    names = args.model_names or [None] * len(args.model)
    source = _source(args)
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
        **_runtime(args),
    )
    return write_analysis(result, args.output_dir)


def analyze_main(argv: Sequence[str] | None = None) -> int:
    """`barlow-speech analyze layers|mi`: writes `analysis_<layers|mi>.json` and its figures into `--output_dir`."""
    return _main("analyze", _analyze, argv)


BUILDERS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "probe": _build_probe,
    "disentangle": _build_disentangle,
    "report": _build_report,
    "reproduce": _build_reproduce,
    "analyze": _build_analyze,
}
