"""Loading what `probe`, `disentangle` and `report` evaluate: a model meets only the front end it was trained on, and
a damaged checkpoint is one clear line."""

import pytest
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining
from barlow_speech.cli import main as cli_main
from barlow_speech.evaluation.pipeline import (
    ProbeProtocol,
    SupervisedProtocol,
    load_pretraining_pair,
    load_upstream,
    run_supervised,
)
from barlow_speech.evaluation.sources import DataSource
from tests.factories import tiny_config

MEL_32 = {"n_fft": 512, "hop_length": 256, "n_mels": 32}
DATA = ["--num_clips", "16", "--num_eval_clips", "8", "--loader_args", "num_speakers=4", "--device", "cpu"]


def save_mel_checkpoint(path, extractor: bool = True) -> str:
    """A pretraining checkpoint of a model built for 32 mel bands, with (or without) its feature extractor."""
    torch.manual_seed(0)
    BarlowSpeechForPreTraining(tiny_config(num_frequency_bins=32)).save_pretrained(path)
    if extractor:
        BarlowSpeechFeatureExtractor(**MEL_32).save_pretrained(path)
    return str(path)


def test_the_default_front_end_cannot_stand_in_for_a_model_trained_on_another(tmp_path):
    checkpoint = save_mel_checkpoint(tmp_path / "mel32", extractor=False)
    message = (
        r"--default_front_end gives 513 frequency rows \(the default 513-bin linear STFT, n_fft=1024\), but this "
        r"model was trained on 32 \(a 32-band log-mel front end, n_mels=32, .*\): put the preprocessor_config\.json"
    )
    for load in (
        lambda: load_upstream(checkpoint, default_front_end=True),
        lambda: load_upstream(checkpoint, random_init=True, default_front_end=True),
        lambda: load_pretraining_pair(checkpoint, default_front_end=True),
    ):
        with pytest.raises(ValueError, match=message):
            load()
    BarlowSpeechFeatureExtractor(**MEL_32).save_pretrained(checkpoint)  # its own front end: loads
    assert load_upstream(checkpoint).extractor.num_bins == 32


def test_a_checkpoint_whose_extractor_gives_other_rows_fails_at_load_naming_both(tmp_path):
    checkpoint = save_mel_checkpoint(tmp_path / "mel32", extractor=False)
    BarlowSpeechFeatureExtractor().save_pretrained(checkpoint)
    with pytest.raises(ValueError, match=r"trained on 32 frequency rows .* but got 513"):
        load_upstream(checkpoint)


def test_probe_on_a_truncated_model_file_is_one_line_naming_the_file(tmp_path, capsys):
    checkpoint = save_mel_checkpoint(tmp_path / "mel32")
    weights = tmp_path / "mel32" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    capsys.readouterr()  # saving's progress bar
    code = cli_main(["probe", "--model", checkpoint, "--output_dir", str(tmp_path / "out")] + DATA)
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1
    assert "model.safetensors is" in error and "(truncated)" in error


def test_supervised_rows_refuse_a_config_built_for_another_front_end_before_any_data_loads(monkeypatch):
    source = DataSource("synthetic")
    monkeypatch.setattr(source, "load", lambda split: pytest.fail("data loaded before the front end was checked"))
    with pytest.raises(ValueError, match=r"trained on 32 frequency rows .* but got 513"):
        run_supervised(
            tiny_config(num_frequency_bins=32),
            BarlowSpeechFeatureExtractor(),
            source,
            ProbeProtocol(),
            SupervisedProtocol(),
        )
