"""`barlow_speech.export`: the encoder as ONNX and as a torch.export program, equal to PyTorch's `pooler_output` for
any number of clips and segments, padded segments included (issue 30)."""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechModel, cli
from barlow_speech.export import export_encoder, main, parse_args
from tests.factories import tiny_checkpoint, tone_clips

# Exported graphs against the PyTorch model: measured differences up to 1e-6 (ONNX Runtime's kernels: another
# float32 summation order) and 2.4e-7 (torch.export) on embeddings up to ~8.
ATOL = 1e-4
# Clip lengths in seconds: one clip of one segment; three clips of 3, 1 and 4 segments (padded rows); five 1-s clips;
# 8 and 1 segments. The graphs were traced on 2 clips of 3 segments.
BATCHES = [(1.0,), (2.5, 0.5, 4.0), (1.0,) * 5, (7.3, 1.0)]


@dataclass
class Exported:
    model_dir: str
    onnx_path: Path
    program_path: Path
    model: BarlowSpeechModel
    extractor: BarlowSpeechFeatureExtractor


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Exported:
    """A tiny encoder shaped like bt-small's (every layer's mean+std pooled vector in pooler_output), exported once
    in each format: the torch program through the CLI."""
    folder = tmp_path_factory.mktemp("export")
    model_dir = tiny_checkpoint(folder / "model", pooling="time_mean_std", pooler_layers=[0, 1, 2])
    onnx_path = export_encoder(model_dir, folder / "encoder.onnx", format="onnx")
    assert main(["--model", model_dir, "--format", "torch", "--output", str(folder / "encoder.pt2")]) == 0
    model = BarlowSpeechModel.from_pretrained(model_dir).eval()
    extractor = BarlowSpeechFeatureExtractor.from_pretrained(model_dir)
    return Exported(model_dir, onnx_path, folder / "encoder.pt2", model, extractor)


@pytest.fixture(scope="module")
def batches(exported) -> list[tuple[dict, np.ndarray]]:
    """The features of `BATCHES` and the PyTorch model's `pooler_output` of each."""
    pairs = []
    for seconds in BATCHES:
        clips = [tone_clips(1, seconds=s, seed=i)[0] for i, s in enumerate(seconds)]
        features = exported.extractor(clips, sampling_rate=16000, return_tensors="pt")
        with torch.no_grad():
            pairs.append((features, exported.model(**features).pooler_output.numpy()))
    return pairs


def test_onnx_export_equals_pytorch_for_other_clip_and_segment_counts_and_padded_segments(exported, batches):
    session = onnxruntime.InferenceSession(str(exported.onnx_path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input_values", "attention_mask"]
    for seconds, (features, reference) in zip(BATCHES, batches):
        (embeddings,) = session.run(None, {key: value.numpy() for key, value in features.items()})
        assert embeddings.shape == reference.shape == (len(seconds), exported.model.config.hidden_size)
        np.testing.assert_allclose(embeddings, reference, rtol=0, atol=ATOL, err_msg=f"clips of {seconds} s")


def test_torch_export_program_loads_with_torch_export_load_and_equals_pytorch(exported, batches):
    module = torch.export.load(exported.program_path).module()
    for seconds, (features, reference) in zip(BATCHES, batches):
        with torch.no_grad():
            embeddings = module(features["input_values"], features["attention_mask"]).numpy()
        np.testing.assert_allclose(embeddings, reference, rtol=0, atol=ATOL, err_msg=f"clips of {seconds} s")


def test_the_torch_archive_holds_json_and_raw_tensor_bytes_and_no_pickle(exported):
    with zipfile.ZipFile(exported.program_path) as archive:
        names = archive.namelist()
        weights = json.loads(archive.read(next(n for n in names if n.endswith("model_weights_config.json"))))
        pickled_inputs = [n for n in names if n.endswith(".pt") and archive.getinfo(n).file_size > 0]
    assert weights["config"] and not any(entry["use_pickle"] for entry in weights["config"].values())
    assert pickled_inputs == []  # the traced example inputs would be a torch.save pickle


def test_export_errors_name_the_fix(exported, tmp_path):
    with pytest.raises(ValueError, match=r"format='tflite' is not one of \['onnx', 'torch'\]"):
        export_encoder(exported.model_dir, tmp_path / "x", format="tflite")
    with pytest.raises(ValueError, match="exists; remove it or choose another path"):
        export_encoder(exported.model_dir, exported.onnx_path, format="torch")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        export_encoder(tmp_path / "missing", tmp_path / "x.pt2", format="torch")
    with pytest.raises(ValueError, match="without feature_extractor="):
        export_encoder(exported.model, tmp_path / "x.pt2", format="torch")


def test_cli_arguments_are_spelled_out_with_choices_and_defaults(capsys):
    args = parse_args(["--model", "m", "--output", "e.onnx"])
    assert (args.model, args.output, args.format) == ("m", "e.onnx", "onnx")
    with pytest.raises(ValueError, match=r"unknown argument\(s\) --form \(did you mean '--format'\?\)"):
        parse_args(["--model", "m", "--output", "x", "--form", "torch"])  # no abbreviations
    with pytest.raises(SystemExit) as error:
        parse_args(["--model", "m", "--output", "x", "--format", "tf"])
    assert error.value.code == 2
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    assert "(default: onnx)" in capsys.readouterr().out


def test_barlow_speech_export_is_a_command_whose_user_errors_are_one_line(tmp_path, capsys):
    assert cli.main(["export", "--model", str(tmp_path / "missing"), "--output", str(tmp_path / "e.onnx")]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("barlow-speech export: error: ") and "no such folder" in line


def test_a_model_object_in_training_mode_is_exported_in_eval_mode_and_keeps_its_mode(exported, tmp_path, batches):
    model = BarlowSpeechModel.from_pretrained(exported.model_dir).train()
    path = export_encoder(model, tmp_path / "train_mode.pt2", format="torch", feature_extractor=exported.extractor)
    assert model.training  # the caller's object is handed back as it came
    features, reference = batches[1]
    with torch.no_grad():
        embeddings = torch.export.load(path).module()(features["input_values"], features["attention_mask"]).numpy()
    np.testing.assert_allclose(embeddings, reference, rtol=0, atol=ATOL)  # BatchNorm's running statistics
