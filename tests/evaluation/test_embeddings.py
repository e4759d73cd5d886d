import datasets
import numpy as np
import pytest
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining, BarlowSpeechModel
from barlow_speech.data.schema import audio_feature
from barlow_speech.evaluation.embeddings import extract_embeddings
from tests.factories import tiny_config, tone_clips


def _dataset(clips, sampling_rate=16000) -> datasets.Dataset:
    rows = {"audio": [{"array": clip, "sampling_rate": sampling_rate} for clip in clips]}
    return datasets.Dataset.from_dict(rows, features=datasets.Features({"audio": audio_feature()}))


def test_utterance_embedding_is_the_mean_of_its_segment_embeddings():
    torch.manual_seed(0)
    model = BarlowSpeechModel(tiny_config()).eval()
    extractor = BarlowSpeechFeatureExtractor()
    long = tone_clips(1, seconds=2.0)[0]
    embeddings = extract_embeddings(model, extractor, [long, tone_clips(1, seed=4)[0]], batch_size=1)
    segments = extractor(long, sampling_rate=16000, return_tensors="pt")["input_values"]
    with torch.no_grad():
        expected = model(segments).pooler_output.mean(0).numpy()
    assert embeddings.shape == (2, 16)
    np.testing.assert_allclose(embeddings[0], expected, atol=1e-5)


def test_head_models_and_layers_are_embedded_through_their_encoder():
    model = BarlowSpeechForPreTraining(tiny_config()).eval()
    clips = tone_clips(3)
    pooled = extract_embeddings(model, BarlowSpeechFeatureExtractor(), clips)
    stem = extract_embeddings(model, BarlowSpeechFeatureExtractor(), clips, layer=0)
    assert pooled.shape == (3, 16) and stem.shape == (3, 8)


def test_embeddings_are_cached_by_model_weights_and_dataset(tmp_path):
    torch.manual_seed(0)
    model = BarlowSpeechModel(tiny_config()).eval()
    extractor = BarlowSpeechFeatureExtractor()
    dataset = _dataset(tone_clips(4))
    first = extract_embeddings(model, extractor, dataset, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    np.testing.assert_array_equal(extract_embeddings(model, extractor, dataset, cache_dir=tmp_path), first)
    with torch.no_grad():
        model.embedder.embedder.convolution.weight.mul_(2)
    changed = extract_embeddings(model, extractor, dataset, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2 and not np.allclose(changed, first)


def test_another_front_end_or_dataset_gets_its_own_cache_entry(tmp_path):
    torch.manual_seed(0)
    model = BarlowSpeechModel(tiny_config()).eval()
    extractor, dataset = BarlowSpeechFeatureExtractor(), _dataset(tone_clips(4))
    first = extract_embeddings(model, extractor, dataset, cache_dir=tmp_path)
    # the same rows (513 x 126) normalised otherwise, and other audio: each must be embedded, not read back
    other_front_end = BarlowSpeechFeatureExtractor(mean=-3.0, std=2.5)
    other_dataset = _dataset(tone_clips(4, seed=1))
    for changed_extractor, changed_dataset, count in ((other_front_end, dataset, 2), (extractor, other_dataset, 3)):
        cached = extract_embeddings(model, changed_extractor, changed_dataset, cache_dir=tmp_path)
        assert len(list(tmp_path.glob("*.npy"))) == count
        np.testing.assert_array_equal(cached, extract_embeddings(model, changed_extractor, changed_dataset))
        assert not np.allclose(cached, first)


def test_wrong_sampling_rate_and_unnamed_cache_are_clear_errors(tmp_path):
    model, extractor = BarlowSpeechModel(tiny_config()), BarlowSpeechFeatureExtractor()
    with pytest.raises(ValueError, match="resample to 16000"):
        extract_embeddings(model, extractor, _dataset(tone_clips(1), sampling_rate=8000))
    with pytest.raises(ValueError, match="dataset_id"):
        extract_embeddings(model, extractor, tone_clips(1), cache_dir=tmp_path)
