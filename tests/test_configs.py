"""Every file of configs/ parses with the real argument parser of the command it is written for."""

from pathlib import Path

import pytest

from barlow_speech import BarlowSpeechConfig
from barlow_speech.evaluation.cli import parse_command
from barlow_speech.evaluation.pipeline import ProbeProtocol
from barlow_speech.evaluation.reproduce import CONFIGS, LATENT_SWEEP, LOSS_ABLATION, UPSTREAMS
from barlow_speech.model_family import family_member
from barlow_speech.recipes import BT_SMALL
from barlow_speech.training.pretrain import parse_arguments

PRETRAINING = sorted({*UPSTREAMS.values(), *LATENT_SWEEP.values(), *LOSS_ABLATION.values()})
SHIPPED = {"upstream/bt-small.yaml": BT_SMALL}  # configs of the encoders shipped in the package -> their recipe
# downstream config -> (command, the flags it needs besides the file)
DOWNSTREAM = {
    "downstream/wluc.yaml": ("probe", ["--model", "logmel", "--data_path", "WLUC"]),
    "downstream/speech_commands.yaml": ("probe", ["--model", "logmel", "--data_path", "SpeechCommands"]),
    "downstream/esd.yaml": ("probe", ["--model", "logmel", "--data_path", "ESD"]),
    "downstream/disentanglement.yaml": ("disentangle", ["--model", "logmel", "--data_path", "VoxCeleb1"]),
    "downstream/supervised.yaml": ("report", ["--models", "logmel"]),
}


def test_every_config_file_is_covered_by_this_test():
    files = {str(path.relative_to(CONFIGS)) for path in CONFIGS.rglob("*.yaml")}
    assert files == {*PRETRAINING, *DOWNSTREAM, *SHIPPED}


@pytest.mark.parametrize("config", PRETRAINING)
def test_pretraining_config_parses_with_the_paper_setting(config, tmp_path):
    parsed = parse_arguments(["--config", str(CONFIGS / config), "--data_path", str(tmp_path)])
    model, data, training = parsed.model, parsed.data, parsed.training
    assert (model.backbone, training.per_device_train_batch_size, training.num_train_epochs) == ("resnet50", 64, 50)
    assert data.dataset in ("librispeech", "voxceleb1") and Path(training.output_dir).parts[0] == "runs"
    latent = int(Path(config).stem.split("-")[1]) if config.startswith("latent/") else 2048
    assert model.latent_size == latent
    if config.startswith("loss/"):
        assert model.loss_variant == Path(config).stem


@pytest.mark.parametrize("config", sorted(SHIPPED))
def test_a_shipped_encoders_config_builds_exactly_its_recipe(config):
    parsed = parse_arguments(["--config", str(CONFIGS / config)])
    recipe = SHIPPED[config]
    assert parsed.model.build_config().to_dict() == BarlowSpeechConfig(**recipe.config_kwargs()).to_dict()
    front_end = {"n_fft": recipe.n_fft, "hop_length": recipe.hop_length, "n_mels": recipe.n_mels}
    assert parsed.model.feature_extractor_kwargs() == front_end
    assert parsed.data.dataset == family_member(Path(config).stem).upstream.dataset_id


@pytest.mark.parametrize("config", sorted(DOWNSTREAM))
def test_downstream_config_parses_with_the_paper_protocol(config, tmp_path):
    command, required = DOWNSTREAM[config]
    args = parse_command(command, ["--config", str(CONFIGS / config), *required, "--output_dir", str(tmp_path)])
    if command == "disentangle":
        assert (args.factors, args.n_runs) == (["accent", "speaker_id", "gender"], 50)
    else:
        assert (args.fractions, args.seeds) == ([0.05, 0.1, 0.5, 1.0], 50)
        ProbeProtocol(args.tasks, args.fractions, args.seeds, args.probe_steps)


def test_a_typo_in_a_config_names_the_file_and_the_closest_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [word]\nfractons: [0.5]\n")
    with pytest.raises(ValueError, match="unknown key.*'fractons'.*fractions"):
        parse_command("probe", ["--config", str(bad), "--model", "logmel", "--output_dir", str(tmp_path)])
