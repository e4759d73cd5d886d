"""The HEAR 2021 API: load_model, scene and timestamp embeddings (shapes, times, batching, chunking)."""

import numpy as np
import pytest
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, hear
from barlow_speech.frames import time_strides
from tests.factories import tiny_checkpoint, tone_clips


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("hear"))


@pytest.fixture(scope="module")
def model(checkpoint):
    return hear.load_model(checkpoint)


def _audio(num: int, seconds: float, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.stack(tone_clips(num, seconds, seed=seed)))


def test_load_model_without_a_checkpoint_loads_the_shipped_encoder_whose_scene_embedding_is_its_pooler_output():
    model = hear.load_model()
    assert model.model.config.pooled_layers == [0, 1, 2, 3]  # bt-small: every layer
    audio = _audio(2, 1.5)
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.shape == (2, model.scene_embedding_size) == (2, model.model.config.hidden_size)
    features = model.feature_extractor(list(audio.numpy()), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(scene, model.model(**features).pooler_output, atol=1e-4, rtol=1e-4)


def test_model_exposes_the_hear_attributes(model):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate == 16000
    assert model.scene_embedding_size == model.model.config.hidden_size == 16
    assert model.timestamp_embedding_size == 16 * model.model.config.layer_bands[-1]  # last stage: channels x bands


@pytest.mark.parametrize(("num", "seconds"), [(3, 1.5), (1, 0.3)])
def test_embedding_shapes_dtypes_and_timestamps(model, num, seconds):
    audio = _audio(num, seconds)
    scene = hear.get_scene_embeddings(audio, model)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    steps = int(np.ceil(seconds * 1000 / 50))
    assert scene.shape == (num, model.scene_embedding_size) and scene.dtype == torch.float32
    assert embeddings.shape == (num, steps, model.timestamp_embedding_size) and embeddings.dtype == torch.float32
    assert timestamps.shape == (num, steps) and timestamps.dtype == torch.float32
    hops = timestamps.diff(dim=1)
    assert (hops > 0).all() and (hops <= 50).all()
    assert timestamps[:, 0].eq(0).all() and (timestamps[:, -1] < seconds * 1000).all()  # in ms, inside the clip
    assert torch.isfinite(embeddings).all() and embeddings.abs().sum() > 0


def test_scene_embedding_is_the_models_pooler_output(model):
    audio = _audio(3, 2.5)
    features = BarlowSpeechFeatureExtractor()(list(audio.numpy()), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        expected = model.model(**features).pooler_output
    torch.testing.assert_close(hear.get_scene_embeddings(audio, model), expected)


def test_a_clip_alone_and_inside_a_batch_give_the_same_embeddings(model):
    audio = _audio(3, 1.5)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    alone, alone_timestamps = hear.get_timestamp_embeddings(audio[1:2], model)
    torch.testing.assert_close(alone[0], embeddings[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(alone_timestamps[0], timestamps[1])
    torch.testing.assert_close(
        hear.get_scene_embeddings(audio[1:2], model)[0],
        hear.get_scene_embeddings(audio, model)[1],
        atol=1e-5,
        rtol=1e-5,
    )


def test_chunking_segments_does_not_change_the_embeddings(checkpoint):
    audio = _audio(2, 3.2)
    whole, one_by_one = hear.load_model(checkpoint), hear.load_model(checkpoint, chunk_segments=1)
    torch.testing.assert_close(
        hear.get_timestamp_embeddings(audio, one_by_one)[0],
        hear.get_timestamp_embeddings(audio, whole)[0],
        atol=1e-5,
        rtol=1e-5,
    )
    torch.testing.assert_close(
        hear.get_scene_embeddings(audio, one_by_one), hear.get_scene_embeddings(audio, whole), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("layer", [0, -1])
def test_a_click_in_the_second_segment_peaks_at_its_absolute_time(checkpoint, layer):
    model = hear.load_model(checkpoint, timestamp_layer=layer, timestamp_hop_ms=4.0)
    silence = 1e-3 * torch.randn(1, 40000, generator=torch.Generator().manual_seed(0))
    click = silence.clone()
    click[0, 25600:25616] = 0.9  # 1.6 s: segment 1, 0.6 s in
    quiet, timestamps = hear.get_timestamp_embeddings(silence, model)
    loud, _ = hear.get_timestamp_embeddings(click, model)
    peak = timestamps[0, (loud - quiet).abs().sum(-1)[0].argmax()]
    stride_ms = time_strides(model.model)[layer] * model.feature_extractor.hop_length / 16
    assert abs(float(peak) - 1600.0) <= stride_ms


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timestamp_hop_ms": 60.0}, "at most 50 ms"),
        ({"timestamp_layer": 5}, "not an index"),
        ({"timestamp_bands": 0}, "timestamp_bands=0"),
    ],
)
def test_invalid_options_name_the_value_and_the_fix(checkpoint, options, message):
    with pytest.raises(ValueError, match=message):
        hear.load_model(checkpoint, **options)


def test_audio_must_be_a_2d_batch(model):
    with pytest.raises(ValueError, match=r"\(n_sounds, n_samples\)"):
        hear.get_scene_embeddings(torch.zeros(16000), model)


@pytest.mark.slow
def test_twenty_minutes_of_audio_in_chunks(model):
    audio = 0.1 * torch.randn(1, 20 * 60 * 16000, generator=torch.Generator().manual_seed(0))
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert embeddings.shape == (1, 24000, model.timestamp_embedding_size)
    assert float(timestamps[0, -1]) == 20 * 60 * 1000 - 50


def test_no_sounds_give_empty_embeddings_of_the_documented_shapes(model):
    audio = torch.zeros(0, 24000)
    scene = hear.get_scene_embeddings(audio, model)
    embeddings, timestamps = hear.get_timestamp_embeddings(audio, model)
    assert scene.shape == (0, model.scene_embedding_size) and scene.dtype == torch.float32
    # as many timestamps as a 1.5-s sound gets, 50 ms apart
    assert embeddings.shape == (0, 30, model.timestamp_embedding_size) and embeddings.dtype == torch.float32
    assert timestamps.shape == (0, 30) and timestamps.dtype == torch.float32
    assert hear.get_timestamp_embeddings(_audio(1, 1.5), model)[0].shape[1] == 30


@pytest.mark.parametrize("path", ["./runs/no-such-run", "runs/bt/no-such-run", "~/no-such-run", "{tmp}/no-such-run"])
def test_a_mistyped_folder_is_no_such_folder_without_hub_rules(tmp_path, monkeypatch, path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no such folder: '/.*no-such-run'") as error:
        hear.load_model(path.format(tmp=tmp_path))
    assert "Hub" not in str(error.value) and "repo" not in str(error.value).lower()


def test_a_missing_folder_shaped_like_a_hub_id_names_both_readings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = r"no such folder: '.*runs/bt-lss100', and 'runs/bt-lss100' read as a Hub model id could not be loaded"
    with pytest.raises(FileNotFoundError, match=message):
        hear.load_model("runs/bt-lss100")
