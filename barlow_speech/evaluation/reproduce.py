"""`barlow-speech reproduce`: the paper's artefacts, one command each, as resumable stages on the evaluation pipeline.

    table2  linear probes of BT-LS-100, BT-LS-360, BT-VC-1 and the Supervised baseline on SR, GR (WLUC), KWS (Speech
            Commands) and ER (ESD) at 5/10/50/100 % labels, beside the paper's Table 2
    table3  disentanglement of the latent sweep BT-16 ... BT-2048 and the three upstreams, beside the paper's Table 3
    fig3    cross-correlation of the two views' latents, BT-128 untrained vs trained
    fig4    top-1 over runs of the loss variants (bt, mbt_ln, mbt_bn_ln, mbt_bn) and Supervised on SR and GR
    fig5    the same on ER and KWS

Each run comes from a file of `configs/`. Stages (pretrain -> embed -> probe / disentangle / cross-correlation ->
report) write their outputs under `output_dir` and then a marker in `output_dir/stages/` recording the settings that
determine them (the scale with all its sizes, the data root and the stage's config files). A stage whose marker
records the same settings is skipped, so a run killed between stages continues where it stopped (a killed
pretraining resumes from its newest checkpoint, `resume_from_checkpoint: last`); one done with other settings (e.g.
`--quick` before a full run) is run again, from scratch, and the status table and the log say so. With a data root
each dataset is read from its folder (`barlow_speech.data.registry`); without one every run uses the synthetic corpus
at a scaled-down size (`SCALES`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..data.registry import dataset_folder, dataset_spec
from ..results import load_results
from ..training.pretrain import DataArguments, fit_feature_extractor, parse_arguments, run_pretraining
from .figures import ABLATION_ORDER, plot_cross_correlation, plot_run_boxplots
from .pipeline import (
    DisentanglementProtocol,
    ProbeProtocol,
    SupervisedProtocol,
    boxplot_runs,
    cross_correlations,
    figure3_views,
    load_pretraining_pair,
    load_upstream,
    run_disentanglement,
    run_probes,
    run_supervised,
    slug,
    stack_clips,
    write_results,
)
from .report import compare_table2, compare_table3, write_report
from .sources import DataSource

logger = logging.getLogger(__name__)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PAPER_RESULTS = Path(__file__).with_name("paper_results.json")
ARTEFACTS = ("table2", "table3", "fig3", "fig4", "fig5")

# pretraining config keys that name the corpus: the synthetic corpus replaces them when there is no data root (the
# split stays: the synthetic corpus draws each split from its own seed)
SYNTHETIC_REPLACED_KEYS = ("dataset", "subset", "data_path")
# row name -> pretraining config (relative to configs/)
UPSTREAMS = {
    "BT-LS-100": "upstream/bt-ls100.yaml",
    "BT-LS-360": "upstream/bt-ls360.yaml",
    "BT-VC-1": "upstream/bt-vc1.yaml",
}
LATENT_SWEEP = {f"BT-{m}": f"latent/bt-{m}.yaml" for m in (16, 32, 64, 128, 512, 1024, 2048)}  # the sizes of Table 3
LOSS_ABLATION = dict(
    zip(
        ABLATION_ORDER[:4],
        ("loss/bt.yaml", "loss/mbt_ln.yaml", "loss/mbt_bn_ln.yaml", "loss/mbt_bn.yaml"),
        strict=True,
    )
)
FIG3_UPSTREAM = "BT-128"  # Fig. 3 shows 128 latents
DOWNSTREAM = ("downstream/wluc.yaml", "downstream/speech_commands.yaml", "downstream/esd.yaml")
DISENTANGLEMENT = "downstream/disentanglement.yaml"
SUPERVISED = "downstream/supervised.yaml"
SUPERVISED_ARCHITECTURE = UPSTREAMS["BT-LS-100"]  # the Supervised row is the upstreams' architecture from scratch
TABLE2_NAMES = {
    "Supervised": "Supervised",
    "BT-LS-100": "LibriSpeech-100",
    "BT-LS-360": "LibriSpeech-360",
    "BT-VC-1": "VoxCeleb1",
}
FIG_TASKS = {"fig4": ("speaker_id", "gender"), "fig5": ("emotion", "word")}

# Expected GPU time: nothing here was measured on a GPU (benchmarks/README.md: no GPU was lent so far). Estimates
# derive from the paper's setting and the issue-8 throughput target for the BT step of ResNet-50 at 1 x 513 x 126
# (1,500 samples/s, 64.6 GFLOP per sample by FlopCounterMode), which is itself unmeasured.
TARGET_SAMPLES_PER_SECOND = 1500
AUDIO_HOURS = {"train-clean-100": 100.0, "train-clean-360": 360.0, "voxceleb1": 340.39}  # paper Table 1


@dataclasses.dataclass(frozen=True)
class Scale:
    """How large every run is: the configs as written (`paper`), or scaled down for CPUs on the synthetic corpus.

    `pretrain` overrides flags of the pretraining configs; the rest overrides the downstream protocol.
    """

    name: str
    pretrain: dict[str, Any]
    probes: dict[str, Any] | None = None  # ProbeProtocol fields; None: the configs'
    supervised: dict[str, Any] | None = None  # SupervisedProtocol fields; None: the config's
    supervised_fractions: tuple[float, ...] | None = None  # None: the probes' fractions
    supervised_seeds: int | None = None
    n_runs: int | None = None  # disentanglement runs; None: the config's
    synthetic: dict[str, Any] = dataclasses.field(default_factory=dict)  # DataSource fields of the synthetic corpus
    heatmap_clips: int = 256


_SCALED_PRETRAINING = {
    "save_strategy": "no",
    "resume_from_checkpoint": "none",
    "logging_steps": 10,
    "report_to": "none",
}
SCALES = {
    "paper": Scale("paper", {}),
    # every artefact on 2 CPU cores in about 14 minutes (README, "Reproducing the paper": measured)
    "synthetic": Scale(
        "synthetic",
        {
            **_SCALED_PRETRAINING,
            "backbone": "small",
            "per_device_train_batch_size": 16,
            "max_steps": 30,
            "num_clips": 960,
            "normalization_clips": 128,
        },
        probes={"seeds": 5},
        supervised={"max_steps": 20, "batch_size": 16},
        supervised_fractions=(0.1, 1.0),
        supervised_seeds=1,
        n_runs=10,
        synthetic={"num_clips": 400, "num_eval_clips": 200, "loader_args": {"num_speakers": 16}},
        heatmap_clips=128,
    ),
    # a smoke run of the whole chain in a minute or two
    "quick": Scale(
        "quick",
        {
            **_SCALED_PRETRAINING,
            "backbone": "tiny",
            "per_device_train_batch_size": 4,
            "max_steps": 1,
            "num_clips": 16,
            "normalization_clips": 8,
            "logging_steps": 1,
        },
        probes={"fractions": (0.5, 1.0), "seeds": 2, "steps": 20},
        supervised={"max_steps": 1, "batch_size": 4},
        supervised_fractions=(1.0,),
        supervised_seeds=1,
        n_runs=2,
        synthetic={"num_clips": 32, "num_eval_clips": 40, "loader_args": {"num_speakers": 4}},
        heatmap_clips=8,
    ),
}


@dataclasses.dataclass
class Stage:
    """One resumable step: `run()` writes its outputs; the stage is finished once its marker records `settings`
    (JSON: what determines its outputs)."""

    name: str
    run: Callable[[], Any]
    gpu_time: str
    settings: dict[str, Any]


def read_config(relative: str) -> dict[str, Any]:
    """A file of `configs/` as a mapping."""
    path = CONFIGS / relative
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such config; `barlow-speech reproduce` reads the configs/ of a source checkout."
        )
    return yaml.safe_load(path.read_text())


def pretraining_gpu_time(config: dict[str, Any]) -> str:
    """The expected GPU time of a paper-scale pretraining config, derived (not measured) from the audio it covers."""
    hours = AUDIO_HOURS.get(config.get("subset") if config["dataset"] == "librispeech" else config["dataset"])
    if hours is None:
        return "unmeasured"
    estimate = hours * config["num_train_epochs"] / TARGET_SAMPLES_PER_SECOND  # 1-s segments: hours * 3600 / 3600
    return (
        f"unmeasured; ~{estimate:.1f} h at the {TARGET_SAMPLES_PER_SECOND} samples/s target ({hours:g} h of audio x "
        f"{config['num_train_epochs']} epochs)"
    )


class Reproduction:
    """The stages of some artefacts at one scale, on the synthetic corpus or the datasets under `data_root`."""

    def __init__(
        self,
        output_dir: str | Path,
        data_root: str | Path | None = None,
        quick: bool = False,
        device: str | None = None,
    ):
        self.output_dir = Path(output_dir)
        self.data_root = Path(data_root) if data_root is not None else None
        self.scale = SCALES["quick" if quick else "synthetic" if data_root is None else "paper"]
        self.device = device
        self.cache_dir = self.output_dir / "embeddings"
        self._sources: dict[str, DataSource] = {}
        # runs whose configs are the same at this scale share one pretraining: BT-LS-100 = BT-2048 = the "bt" loss
        # variant always; on the synthetic corpus, which replaces every corpus, also BT-LS-360 and BT-VC-1 (before,
        # they were trained again on the same clips and reported as three rows with identical numbers)
        ignored = {"output_dir", *(SYNTHETIC_REPLACED_KEYS if self.synthetic else ())}
        self._runs: dict[str, str] = {}
        first_by_config: dict[str, str] = {}
        for name, config_file in {**UPSTREAMS, **LATENT_SWEEP, **LOSS_ABLATION}.items():
            config = read_config(config_file)
            # a config without `split` trains on its dataset's pretraining split (the synthetic corpus' replaces it)
            dataset = "synthetic" if self.synthetic else config.get("dataset", DataArguments.dataset)
            config.setdefault("split", dataset_spec(dataset).pretraining_split)
            key = json.dumps({k: v for k, v in config.items() if k not in ignored}, sort_keys=True)
            self._runs[name] = first_by_config.setdefault(key, name)

    @property
    def synthetic(self) -> bool:
        return self.data_root is None

    def shared_runs(self, names: Sequence[str]) -> list[list[str]]:
        """Groups of the rows `names` that are one pretraining run at this scale (groups of >= 2, in row order)."""
        groups: dict[str, list[str]] = {}
        for name in names:
            groups.setdefault(self._runs[name], []).append(name)
        return [group for group in groups.values() if len(group) > 1]

    # -------------------------------------------------------------------------------------------- resolution
    def run_dir(self, name: str) -> Path:
        """Where the pretraining of row `name` is written (shared by rows with the same config)."""
        return self.output_dir / "runs" / slug(self._runs.get(name, name))

    def pretraining_argv(self, name: str, config_file: str) -> list[str]:
        """`barlow-speech pretrain` flags of one run: its config, the data path and this scale's overrides."""
        config = read_config(config_file)
        overrides = dict(self.scale.pretrain)
        if self.synthetic:
            overrides["dataset"] = "synthetic"
        else:
            overrides["data_path"] = str(dataset_folder(config["dataset"], self.data_root))
        overrides["output_dir"] = str(self.run_dir(name))
        overrides["overwrite_output_dir"] = "true"  # the run folder is ours: a run that did not finish is replaced
        argv = ["--config", str(CONFIGS / config_file)]
        for key, value in overrides.items():
            argv += [f"--{key}", str(value)]
        return argv

    def source(self, dataset: str) -> DataSource:
        """The downstream dataset `dataset` (or the synthetic corpus), read once per reproduction."""
        key = "synthetic" if self.synthetic else dataset
        if key not in self._sources:
            if self.synthetic:
                self._sources[key] = DataSource("synthetic", **self.scale.synthetic)
            else:
                self._sources[key] = DataSource(dataset, str(dataset_folder(dataset, self.data_root)))
        return self._sources[key]

    def probe_protocol(self, config: dict[str, Any], tasks: Sequence[str] | None = None) -> ProbeProtocol:
        protocol = ProbeProtocol(config["tasks"], config["fractions"], config["seeds"], config["probe_steps"])
        return dataclasses.replace(protocol, **(self.scale.probes or {}), **({"tasks": tasks} if tasks else {}))

    def upstreams(self, artefacts: Sequence[str]) -> dict[str, str]:
        """Row name -> config of every pretraining run the artefacts need."""
        needed: dict[str, str] = {}
        for artefact in artefacts:
            needed.update(
                {
                    "table2": UPSTREAMS,
                    "table3": {**LATENT_SWEEP, **UPSTREAMS},
                    "fig3": {FIG3_UPSTREAM: LATENT_SWEEP[FIG3_UPSTREAM]},
                    "fig4": LOSS_ABLATION,
                    "fig5": LOSS_ABLATION,
                }[artefact]
            )
        return needed

    # -------------------------------------------------------------------------------------------- stages
    def result_path(self, kind: str, name: str) -> Path:
        return self.output_dir / "results" / f"{kind}_{slug(name)}.json"

    def stages(self, artefacts: Sequence[str]) -> list[Stage]:
        """Every stage of `artefacts`, in order; a run shared by several artefacts appears once."""
        unknown = [a for a in artefacts if a not in ARTEFACTS]
        if unknown:
            raise ValueError(f"unknown artefact(s) {unknown}; choose from {list(ARTEFACTS)} or 'all'.")
        upstreams = self.upstreams(artefacts)
        runs = {self._runs[name]: upstreams[name] for name in upstreams}
        stages = [self._pretrain_stage(name, config) for name, config in runs.items()]
        probed = {
            n
            for a in artefacts
            for n in {"table2": UPSTREAMS, "fig4": LOSS_ABLATION, "fig5": LOSS_ABLATION}.get(a, {})
        }
        for name in upstreams:
            for config_file in DOWNSTREAM if name in probed else ():
                stages += self._probe_stages(name, upstreams[name], config_file)
        if {"table2", "fig4", "fig5"} & set(artefacts):
            stages += [self._supervised_stage(config_file) for config_file in DOWNSTREAM]
        if "table3" in artefacts:
            stages += [self._disentangle_stage(name, config) for name, config in {**LATENT_SWEEP, **UPSTREAMS}.items()]
        if "fig3" in artefacts:
            stages.append(self._fig3_stage())
        stages += [
            Stage(f"report {a}", lambda a=a: self.report(a), "seconds (CPU)", self.settings(artefact=a))
            for a in artefacts
        ]
        return stages

    def settings(self, **configs: Any) -> dict[str, Any]:
        """What determines a stage's outputs, as JSON: this scale (its name and every size), the data root and
        `configs` (the stage's config files' contents)."""
        root = None if self.data_root is None else str(self.data_root)
        settings = {"scale": dataclasses.asdict(self.scale), "data_root": root, **configs}
        return json.loads(json.dumps(settings))  # tuples as lists: as a marker reads back

    def _gpu_time(self, paper_scale: str) -> str:
        return paper_scale if self.scale.name == "paper" else f"none: scaled-down CPU run ({self.scale.name})"

    def _pretrain_stage(self, name: str, config_file: str) -> Stage:
        def run() -> None:
            argv = self.pretraining_argv(name, config_file)
            if stage_record(self.output_dir, stage) is not None:  # done with other settings: never resume that run
                argv += ["--resume_from_checkpoint", "none"]
            run_pretraining(*parse_arguments(argv))

        config = read_config(config_file)
        gpu_time = self._gpu_time(pretraining_gpu_time(config))
        stage = Stage(f"pretrain {name}", run, gpu_time, self.settings(pretraining=config))
        return stage

    def _probe_stages(self, name: str, upstream_config: str, config_file: str) -> list[Stage]:
        config = read_config(config_file)
        source = self.source(config["dataset"])
        settings = self.settings(pretraining=read_config(upstream_config), downstream=config)

        def embed() -> None:
            upstream = load_upstream(str(self.run_dir(name)), name=name)
            for split in ("train", "validation", "test"):
                upstream.embed(
                    source.load(split), source.cache_id(split), device=self.device, cache_dir=self.cache_dir
                )

        def probe() -> None:
            upstream = load_upstream(str(self.run_dir(name)), name=name)
            results = run_probes(
                upstream, source, self.probe_protocol(config), device=self.device, cache_dir=self.cache_dir
            )
            write_results(self.result_path("probe", f"{name}_{config['dataset']}"), results)

        gpu = "unmeasured; forward passes over the downstream splits (Table 1: <= 5.5 h of audio each): minutes"
        probe_gpu = "unmeasured; batched L-BFGS probes (benchmarks/README.md: CPU 80 probes of 1024-d in 1.8 s)"
        return [
            Stage(f"embed {name} on {config['dataset']}", embed, self._gpu_time(gpu), settings),
            Stage(f"probe {name} on {config['dataset']}", probe, self._gpu_time(probe_gpu), settings),
        ]

    def _supervised_stage(self, config_file: str) -> Stage:
        config, settings = read_config(config_file), read_config(SUPERVISED)
        source = self.source(config["dataset"])

        def run() -> None:
            architecture = parse_arguments(self.pretraining_argv("Supervised", SUPERVISED_ARCHITECTURE)).model
            extractor = fit_feature_extractor(
                source.load("train"), 128, seed=0, **architecture.feature_extractor_kwargs()
            )
            probes = dataclasses.replace(
                self.probe_protocol(config), seeds=self.scale.supervised_seeds or settings["seeds"]
            )
            protocol = SupervisedProtocol(
                settings["supervised_steps"], settings["supervised_batch_size"], settings["supervised_learning_rate"]
            )
            fractions = self.scale.supervised_fractions or settings["fractions"]
            protocol = dataclasses.replace(protocol, **(self.scale.supervised or {}), fractions=fractions)
            results = run_supervised(
                architecture.build_config(),
                extractor,
                source,
                probes,
                protocol,
                self.device,
                {"upstream": f"supervised:{SUPERVISED_ARCHITECTURE}"},
            )
            write_results(self.result_path("probe", f"Supervised_{config['dataset']}"), results)

        runs = len(config["tasks"]) * len(settings["fractions"]) * settings["seeds"]
        samples = runs * settings["supervised_steps"] * settings["supervised_batch_size"]
        hours = samples / (2 * TARGET_SAMPLES_PER_SECOND) / 3600
        gpu = (
            f"unmeasured; {runs} runs x {settings['supervised_steps']} steps of ResNet-50 from scratch, "
            f"~{hours:.1f} h at twice the BT target (one view per sample)"
        )
        recorded = self.settings(
            architecture=read_config(SUPERVISED_ARCHITECTURE), supervised=settings, downstream=config
        )
        return Stage(f"supervised on {config['dataset']}", run, self._gpu_time(gpu), recorded)

    def _disentangle_stage(self, name: str, upstream_config: str) -> Stage:
        config = read_config(DISENTANGLEMENT)
        source = self.source(config["dataset"])

        def run() -> None:
            protocol = DisentanglementProtocol(
                config["factors"], config["split"], self.scale.n_runs or config["n_runs"]
            )
            upstream = load_upstream(str(self.run_dir(name)), name=name)
            result = run_disentanglement(upstream, source, protocol, device=self.device, cache_dir=self.cache_dir)
            write_results(self.result_path("disentanglement", name), result)

        return Stage(
            f"disentangle {name} on {config['dataset']}",
            run,
            self._gpu_time("unmeasured; metrics run on CPU, embedding: minutes"),
            self.settings(pretraining=read_config(upstream_config), disentanglement=config),
        )

    def _fig3_stage(self) -> Stage:
        source = self.source(read_config(DISENTANGLEMENT)["dataset"] if not self.synthetic else "synthetic")

        def run() -> None:
            untrained, trained, extractor = load_pretraining_pair(str(self.run_dir(FIG3_UPSTREAM)))
            clips = stack_clips(source.load("test"), self.scale.heatmap_clips, extractor.segment_samples)
            views = figure3_views(sampling_rate=extractor.sampling_rate)
            matrices = cross_correlations([untrained, trained], extractor, clips, views, device=self.device)
            path = self.output_dir / "results" / "cross_correlation.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, untrained=matrices[0], trained=matrices[1])

        return Stage(
            f"cross-correlation {FIG3_UPSTREAM}",
            run,
            self._gpu_time("unmeasured; two forward passes: seconds"),
            self.settings(pretraining=read_config(LATENT_SWEEP[FIG3_UPSTREAM])),
        )

    # -------------------------------------------------------------------------------------------- report
    def report(self, artefact: str) -> Path:
        """`<output_dir>/<artefact>/report.md`: ours beside the paper's numbers (tables) or the figure."""
        folder = self.output_dir / artefact
        probes, disentanglement = load_results(sorted((self.output_dir / "results").glob("*.json")))
        paper = json.loads(PAPER_RESULTS.read_text())
        notes = [f"# Reproduction of {artefact}", ""]
        if self.synthetic or self.scale.name != "paper":
            notes += [
                f"**Ours ran {'on the synthetic corpus' if self.synthetic else 'on the datasets'} at a scaled-down"
                f" size (scale `{self.scale.name}`): the numbers are not comparable with the paper's.**",
                "",
            ]
        shared = self.shared_runs(list(self.upstreams([artefact])))
        if shared:
            notes += [
                "Rows trained as one run (their configs are the same at this scale"
                f"{'; the synthetic corpus replaces every pretraining corpus' if self.synthetic else ''}), so their "
                f"numbers are equal: {'; '.join(' = '.join(group) for group in shared)}.",
                "",
            ]
        figures: list[Path] = []
        if artefact == "table2":
            rows = [r for r in probes if r["model"] in TABLE2_NAMES]
            notes += [
                "## Ours beside the paper's Table 2 (top-1 %)",
                "",
                compare_table2(rows, paper["table2"], TABLE2_NAMES),
                "",
            ]
            probes, disentanglement = rows, []
        elif artefact == "table3":
            names = {**LATENT_SWEEP, **UPSTREAMS}
            disentanglement = [r for r in disentanglement if r["model"] in names]
            notes += ["## Ours beside the paper's Table 3", "", compare_table3(disentanglement, paper["table3"]), ""]
            probes = []
        elif artefact == "fig3":
            matrices = np.load(self.output_dir / "results" / "cross_correlation.npz")
            figures.append(
                plot_cross_correlation(matrices["untrained"], matrices["trained"], folder / "cross_correlation.png")
            )
            notes += [
                f"Mean C_ii untrained {np.diagonal(matrices['untrained']).mean():.2f}, trained "
                f"{np.diagonal(matrices['trained']).mean():.2f} (the paper shows the heatmaps only).",
                "",
            ]
            probes, disentanglement = [], []
        else:
            tasks = set(FIG_TASKS[artefact])
            probes = [
                r for r in probes if r["model"] in (*LOSS_ABLATION, "Supervised") and r.get("label_column") in tasks
            ]
            figures.append(plot_run_boxplots(boxplot_runs(probes), folder / f"{artefact}_boxplots.png"))
            notes += ["The paper gives Fig. 4-5 as box plots only (medians in its text): no numbers to compare.", ""]
            disentanglement = []
        if not probes and not disentanglement:
            folder.mkdir(parents=True, exist_ok=True)
            report = folder / "report.md"
            report.write_text("\n".join(notes) + "\n" + "".join(f"![{f.stem}]({f.name})\n" for f in figures))
            return report
        report = write_report(folder, probes, disentanglement, figures)
        report.write_text("\n".join(notes) + "\n" + report.read_text())
        return report


def stage_marker(output_dir: str | Path, stage: Stage) -> Path:
    """The file that says that `stage` finished, and with which settings."""
    return Path(output_dir) / "stages" / f"{slug(stage.name)}.json"


def stage_record(output_dir: str | Path, stage: Stage) -> dict[str, Any] | None:
    """What `stage` recorded when it last finished (its name, seconds and settings); None if it never did."""
    marker = stage_marker(output_dir, stage)
    return json.loads(marker.read_text()) if marker.exists() else None


def stage_status(output_dir: str | Path, stage: Stage) -> tuple[str, str]:
    """("done", ""), ("to run", "") or ("rerun", why): finished with other settings than `stage.settings`."""
    record = stage_record(output_dir, stage)
    if record is None:
        return "to run", ""
    recorded = record.get("settings")
    if recorded == stage.settings:
        return "done", ""
    if recorded is None:
        return "rerun", "done by an older barlow-speech that did not record its scale"
    before, now = recorded["scale"]["name"], stage.settings["scale"]["name"]
    return "rerun", f"done at scale {before}, now {now}" if before != now else "done with other settings"


def run_stages(stages: Sequence[Stage], output_dir: str | Path) -> list[str]:
    """Run the stages not done with their settings, in order, each followed by its marker; returns the names of the
    stages run."""
    ran = []
    for stage in stages:
        status, why = stage_status(output_dir, stage)
        if status == "done":
            logger.info("skip %s: finished earlier", stage.name)
            continue
        if status == "rerun":
            logger.warning("run %s again: %s", stage.name, why)
        logger.info("run %s (expected GPU time: %s)", stage.name, stage.gpu_time)
        start = time.perf_counter()
        stage.run()
        record = {"stage": stage.name, "seconds": round(time.perf_counter() - start, 1), "settings": stage.settings}
        write_results(stage_marker(output_dir, stage), record)
        ran.append(stage.name)
    return ran
