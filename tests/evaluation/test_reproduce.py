"""`barlow-speech reproduce`: every artefact end to end (quick, synthetic), the datasets of the paper's protocol
resolved under a data root, and a run killed between stages resuming without redoing finished ones."""

import dataclasses
import json

import pytest

from barlow_speech.cli import main as cli_main
from barlow_speech.evaluation import reproduce
from barlow_speech.evaluation.reproduce import (
    ARTEFACTS,
    DISENTANGLEMENT,
    DOWNSTREAM,
    UPSTREAMS,
    Reproduction,
    pretraining_gpu_time,
    read_config,
)
from barlow_speech.evaluation.sources import SPLITS
from barlow_speech.training.pretrain import load_training_audio, parse_arguments
from tests.data.conftest import (
    make_esd_tree,
    make_librispeech_tree,
    make_speech_commands_tree,
    make_voxceleb1_tree,
    make_wluc_tree,
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("reproduce-quick")
    assert cli_main(["reproduce", "all", "--quick", "--device", "cpu", "--output_dir", str(output_dir)]) == 0
    return output_dir


def test_quick_reproduction_writes_every_artefact_beside_the_paper_and_says_it_is_not_comparable(quick_run):
    for artefact in ARTEFACTS:
        report = (quick_run / artefact / "report.md").read_text()
        assert "synthetic corpus" in report and "not comparable" in report
    table2 = (quick_run / "table2" / "report.md").read_text()
    assert "| SR | 100 | 84.53 |" in table2 and "LibriSpeech-100 diff" in table2  # paper value, then ours and diff
    assert "trained as one run" in table2 and "BT-LS-100 = BT-LS-360 = BT-VC-1." in table2  # one synthetic corpus
    assert len(list((quick_run / "runs").iterdir())) == 10  # 14 rows, 5 of them one run
    table3 = (quick_run / "table3" / "report.md").read_text()
    assert "| BT-128 | 0.020 ± 0.0019 |" in table3 and "| BT-VC-1 |" in table3
    for figure in ("fig3/cross_correlation.png", "fig4/fig4_boxplots.png", "fig5/fig5_boxplots.png"):
        assert (quick_run / figure).stat().st_size > 10_000


def test_a_finished_reproduction_redoes_nothing(quick_run, monkeypatch, capsys):
    for stage in ("run_pretraining", "run_probes", "run_supervised", "run_disentanglement", "cross_correlations"):
        monkeypatch.setattr(reproduce, stage, lambda *a, **k: pytest.fail("a finished stage ran again"))
    assert cli_main(["reproduce", "all", "--quick", "--output_dir", str(quick_run)]) == 0
    assert "to run" not in capsys.readouterr().out.replace("status    expected", "")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """The fixture trees of the data tests in the layout `--data-root` expects."""
    root = tmp_path_factory.mktemp("data-root")
    for subset in ("train-clean-100", "train-clean-360"):
        make_librispeech_tree(root, subset=subset, utterances=3)
    make_voxceleb1_tree(root / "VoxCeleb1", videos=3, clips=3)
    make_speech_commands_tree(root / "SpeechCommands")
    make_esd_tree(root / "ESD")
    make_wluc_tree(root / "WLUC")
    return root


def test_data_root_resolves_every_dataset_of_the_paper_protocol(data_root, tmp_path):
    reproduction = Reproduction(tmp_path, data_root, quick=True)
    assert reproduction.shared_runs(list(UPSTREAMS)) == []  # each corpus its own run
    assert reproduction.shared_runs(["BT-LS-100", "BT-2048", "BT"]) == [["BT-LS-100", "BT-2048", "BT"]]  # one config
    for name, config in reproduction.upstreams(ARTEFACTS).items():
        parsed = parse_arguments(reproduction.pretraining_argv(name, config))
        assert len(load_training_audio(parsed.data, parsed.training.seed)) > 0, name
    for config_file in (*DOWNSTREAM, DISENTANGLEMENT):
        config = read_config(config_file)
        source = reproduction.source(config["dataset"])
        for split in SPLITS:
            dataset = source.load(split)
            assert len(dataset) > 0 and set(config.get("tasks", config.get("factors"))) <= set(dataset.column_names)


def test_a_run_killed_between_stages_resumes_without_redoing_finished_stages(data_root, tmp_path, monkeypatch):
    argv = ["reproduce", "fig3", "--quick", "--device", "cpu", "--data_root", str(data_root)]
    argv += ["--output_dir", str(tmp_path)]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(reproduce, "cross_correlations", killed)
        with pytest.raises(KeyboardInterrupt):
            cli_main(argv)
    assert (tmp_path / "stages" / "pretrain_BT-128.json").is_file()
    assert not (tmp_path / "fig3" / "report.md").exists()
    redone = lambda *a, **k: pytest.fail("the finished pretraining ran again")  # noqa: E731
    monkeypatch.setattr(reproduce, "run_pretraining", redone)
    assert cli_main(argv) == 0
    assert (tmp_path / "fig3" / "cross_correlation.png").is_file()


def test_stages_done_at_another_scale_run_again_and_the_status_table_says_so(tmp_path, monkeypatch, capsys):
    argv = ["reproduce", "fig3", "--device", "cpu", "--output_dir", str(tmp_path)]
    assert cli_main([*argv, "--quick"]) == 0
    assert "(scale `quick`)" in (tmp_path / "fig3" / "report.md").read_text()
    capsys.readouterr()
    # the synthetic scale at the quick sizes, so that the test stays fast: a scale is its name and every size
    monkeypatch.setitem(
        reproduce.SCALES, "synthetic", dataclasses.replace(reproduce.SCALES["quick"], name="synthetic")
    )
    pretrained = []
    real_pretraining = reproduce.run_pretraining
    monkeypatch.setattr(reproduce, "run_pretraining", lambda *args: pretrained.append(args) or real_pretraining(*args))
    assert cli_main(argv) == 0
    rows = capsys.readouterr().out.splitlines()[1:4]
    assert [row.split()[0] for row in rows] == ["pretrain", "cross-correlation", "report"]
    assert [row[45:54].strip() for row in rows] == ["rerun"] * 3
    assert all(row.endswith("(done at scale quick, now synthetic: runs again)") for row in rows)
    assert len(pretrained) == 1 and pretrained[0][-1].resume_from_checkpoint == "none"  # never resumes that run
    assert "(scale `synthetic`)" in (tmp_path / "fig3" / "report.md").read_text()
    marker = json.loads((tmp_path / "stages" / "pretrain_BT-128.json").read_text())
    assert marker["settings"]["scale"]["name"] == "synthetic"
    assert cli_main(argv) == 0 and len(pretrained) == 1  # now done at this scale
    assert [row[45:54].strip() for row in capsys.readouterr().out.splitlines()[1:4]] == ["done"] * 3


def test_expected_gpu_time_is_derived_from_the_paper_setting_and_marked_unmeasured():
    estimate = pretraining_gpu_time(read_config("upstream/bt-ls100.yaml"))
    assert estimate.startswith("unmeasured") and "~3.3 h" in estimate and "100 h of audio x 50 epochs" in estimate
    assert "~11.3 h" in pretraining_gpu_time(read_config("upstream/bt-vc1.yaml"))


@pytest.mark.slow
def test_full_synthetic_reproduction_of_every_artefact(tmp_path):
    assert cli_main(["reproduce", "all", "--device", "cpu", "--output_dir", str(tmp_path)]) == 0
    assert all((tmp_path / artefact / "report.md").is_file() for artefact in ARTEFACTS)
