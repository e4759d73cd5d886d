import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import torch
from transformers import AutoFeatureExtractor

from barlow_speech import BarlowSpeechFeatureExtractor, log_spectrogram
from barlow_speech.feature_extraction_barlow import MAX_FLOAT_PEAK
from tests.factories import tone_clips

# Parity with librosa: magnitudes agree to 1e-4 of the clip's peak magnitude, and log-magnitudes to 1e-3 wherever
# the bin is within 60 dB of the peak (below that, float32 rounding is amplified by the log).
MAGNITUDE_RTOL_OF_PEAK = 1e-4
LOG_ATOL = 1e-3


def test_one_second_clip_gives_the_papers_513_by_126_input():
    features = BarlowSpeechFeatureExtractor()(tone_clips(3), sampling_rate=16000, return_tensors="pt")
    assert features["input_values"].shape == (3, 1, 513, 126)  # (clips, segments, freq, frames)
    assert features["input_values"].dtype == torch.float32
    assert features["attention_mask"].tolist() == [[1], [1], [1]]


@pytest.mark.parametrize("seed", [0, 1])
def test_log_spectrogram_matches_librosa(seed):
    clip = tone_clips(1, seed=seed)[0]
    reference = np.abs(librosa.stft(clip, n_fft=1024, hop_length=128, pad_mode="reflect"))
    ours = BarlowSpeechFeatureExtractor()(clip, sampling_rate=16000, return_tensors="np")["input_values"][0, 0]
    np.testing.assert_allclose(np.exp(ours), reference, atol=MAGNITUDE_RTOL_OF_PEAK * reference.max())
    loud = reference > reference.max() * 1e-3
    np.testing.assert_allclose(ours[loud], np.log(reference[loud]), atol=LOG_ATOL)


@pytest.mark.parametrize("seed", [0, 1])
def test_log_mel_front_end_matches_librosa(seed):
    """64 Slaney mel bands from 60 to 7,800 Hz over the power spectrum; ours is 0.5 * log(band power)."""
    clip = tone_clips(1, seed=seed)[0]
    extractor = BarlowSpeechFeatureExtractor(n_mels=64, f_min=60, f_max=7800, n_fft=400, hop_length=160)
    reference = librosa.feature.melspectrogram(
        y=clip, sr=16000, n_fft=400, hop_length=160, n_mels=64, fmin=60, fmax=7800, pad_mode="reflect", power=2.0
    )
    ours = extractor(clip, sampling_rate=16000, return_tensors="np")["input_values"][0, 0]
    assert ours.shape == (64, 101) == reference.shape
    np.testing.assert_allclose(np.exp(2 * ours), reference, atol=MAGNITUDE_RTOL_OF_PEAK * reference.max())
    loud = reference > reference.max() * 1e-6
    np.testing.assert_allclose(ours[loud], 0.5 * np.log(reference[loud]), atol=LOG_ATOL)


def test_batched_equals_one_by_one():
    clips = tone_clips(4)
    extractor = BarlowSpeechFeatureExtractor()
    batched = extractor(np.stack(clips), sampling_rate=16000, return_tensors="np")["input_values"]
    single = np.concatenate([extractor(c, sampling_rate=16000, return_tensors="np")["input_values"] for c in clips])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    # a 2-D array is a batch of clips (the Hugging Face convention), so (2, N) is two clips, not one stereo recording
    assert extractor(np.stack(clips[:2]), sampling_rate=16000, return_tensors="np")["input_values"].shape[0] == 2


def test_long_audio_is_split_into_segments_one_row_per_clip():
    long, short = tone_clips(1, seconds=2.5)[0], tone_clips(1, seconds=0.5)[0]
    extractor = BarlowSpeechFeatureExtractor(last_segment="pad")
    padded = extractor([long, short], sampling_rate=16000, return_tensors="np")
    assert padded["input_values"].shape == (2, 3, 513, 126)
    assert padded["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    np.testing.assert_array_equal(padded["input_values"][1, 1:], 0.0)  # padding segments are zeros
    np.testing.assert_allclose(padded["input_values"][1, :1], extractor(short, sampling_rate=16000)["input_values"][0])
    dropped = BarlowSpeechFeatureExtractor(last_segment="drop")(
        [long, short], sampling_rate=16000, return_tensors="np"
    )
    assert dropped["attention_mask"].tolist() == [[1, 1], [1, 0]]  # a clip shorter than 1 s is padded, not lost
    overlapped = BarlowSpeechFeatureExtractor(segment_overlap=0.5, last_segment="drop")(long, sampling_rate=16000)
    assert overlapped["input_values"][0].shape[0] == 4  # starts at 0, 0.5, 1.0, 1.5 s


def test_segment_content_is_the_right_slice_of_the_waveform():
    extractor = BarlowSpeechFeatureExtractor()
    clip = tone_clips(1, seconds=2.0)[0]
    segments, owners = extractor.segment([clip])
    np.testing.assert_array_equal(segments[1].numpy(), clip[16000:32000])
    assert owners.tolist() == [0, 0]


def test_int16_pcm_is_accepted_and_scaled():
    clip = tone_clips(1)[0]
    pcm = np.round(clip * 32768).astype(np.int16)
    segments, _ = BarlowSpeechFeatureExtractor().segment([pcm])
    np.testing.assert_array_equal(segments[0].numpy(), pcm.astype(np.float32) / 32768)


def test_normalisation_statistics_are_fitted_and_saved(tmp_path):
    clips = tone_clips(8)
    extractor = BarlowSpeechFeatureExtractor().fit_normalization(clips, batch_size=3)
    values = extractor(clips, sampling_rate=16000, return_tensors="np")["input_values"]
    assert abs(values.mean()) < 1e-3 and abs(values.std() - 1) < 1e-3
    extractor.save_pretrained(tmp_path)
    loaded = BarlowSpeechFeatureExtractor.from_pretrained(tmp_path)
    assert (loaded.mean, loaded.std) == (extractor.mean, extractor.std)
    np.testing.assert_array_equal(loaded(clips, sampling_rate=16000, return_tensors="np")["input_values"], values)


def test_fitted_statistics_standardise_per_utterance_normalised_features_too():
    clips = tone_clips(6)
    extractor = BarlowSpeechFeatureExtractor(per_utterance_normalize=True).fit_normalization(clips)
    values = extractor(clips, sampling_rate=16000, return_tensors="np")["input_values"]
    assert abs(values.mean()) < 1e-3 and abs(values.std() - 1) < 1e-3


def test_spectrogram_is_differentiable_for_waveform_augmentations():
    waveforms = torch.from_numpy(np.stack(tone_clips(2))).requires_grad_(True)
    BarlowSpeechFeatureExtractor().spectrogram(waveforms).sum().backward()
    assert torch.isfinite(waveforms.grad).all() and waveforms.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_cuda_tensors():
    clips = torch.from_numpy(np.stack(tone_clips(2))).cuda()
    features = BarlowSpeechFeatureExtractor()(clips, sampling_rate=16000, return_tensors="pt")
    assert features["input_values"].device.type == "cuda"
    cpu = BarlowSpeechFeatureExtractor()(clips.cpu(), sampling_rate=16000, return_tensors="pt")["input_values"]
    torch.testing.assert_close(features["input_values"].cpu(), cpu, atol=1e-3, rtol=1e-4)


def test_log_spectrogram_shape_follows_n_fft_and_hop():
    assert log_spectrogram(torch.zeros(2, 8000), n_fft=512, hop_length=160).shape == (2, 1, 257, 51)


@pytest.mark.parametrize(
    "audio, kwargs, message",
    [
        (np.zeros(16000, np.float32), {"sampling_rate": 44100}, "resample to 16000"),
        ([np.zeros((2, 16000), np.float32)], {"sampling_rate": 16000}, "mono"),
        (np.zeros((16000, 2), np.float32), {"sampling_rate": 16000}, r"mean\(axis=1\)"),
        (np.zeros((1, 1, 16000), np.float32), {"sampling_rate": 16000}, "shape"),
        ([np.zeros(0, np.float32)], {"sampling_rate": 16000}, "empty"),
        ([], {"sampling_rate": 16000}, "empty list"),
        (np.zeros(100, np.float32), {"sampling_rate": 16000}, "at least 1024"),
        (np.array([0.0, np.nan] * 8000, np.float32), {"sampling_rate": 16000}, "NaN or Inf"),
        (np.array([0.0, np.inf] * 8000, np.float32), {"sampling_rate": 16000}, "NaN or Inf"),
        (np.zeros(16000, np.int64), {"sampling_rate": 16000}, "int16 PCM"),
        (np.zeros(16000, bool), {"sampling_rate": 16000}, "float audio"),
        (np.zeros((0, 16000), np.float32), {"sampling_rate": 16000}, r"empty batch of shape \(0, 16000\)"),
        (["a.wav"], {"sampling_rate": 16000}, r"clip 0 is the file name 'a.wav'.*soundfile\.read\('a\.wav'"),
        ("a.wav", {"sampling_rate": 16000}, r"not files.*Audio\(decode=False\) entry \{'path'"),
        (Path("a.wav"), {"sampling_rate": 16000}, "not files"),
        ([{"array": np.zeros(16000)}], {}, r"clip 0 is a dict with 'array' but no 'sampling_rate'"),
        (np.zeros(16000, np.float32), {"sampling_rate": 16000, "max_lenght": 8000}, r"\['max_lenght'\].*'max_length'"),
        (
            np.zeros(16000, np.float32),
            {"sampling_rate": 16000, "truncation": True},
            "truncation=True needs max_length",
        ),
        (np.zeros(16000, np.float32), {"sampling_rate": 16000, "max_length": 8000}, "does nothing on its own"),
        (np.zeros(16000, np.float32), {"sampling_rate": 16000, "padding": "max_length"}, "needs max_length"),
        (np.zeros(16000, np.float32), {"sampling_rate": 16000, "padding": "longer"}, "padding='longer' is not one"),
        (
            [np.zeros(32000), np.zeros(16000)],
            {"sampling_rate": 16000, "padding": False, "return_tensors": "np"},
            "between 1 and 2 segments: a batch of tensors cannot hold rows of different lengths",
        ),
        (16000, {"sampling_rate": 16000}, "not supported"),
        (np.zeros(16000, np.float32), {"sampling_rate": 16000, "return_tensors": "tf"}, "return_tensors"),
    ],
)
def test_bad_input_raises_value_error_naming_the_fix(audio, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BarlowSpeechFeatureExtractor()(audio, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"last_segment": "wrap"}, "last_segment"),
        ({"segment_overlap": 1.0}, "segment_overlap"),
        ({"std": 0}, "std"),
        ({"hop_length": 2048}, "exceeds n_fft"),
        ({"n_fft": "1024"}, "n_fft='1024' must be a positive int"),
        ({"segment_seconds": 0}, "segment_seconds"),
        ({"segment_seconds": float("inf")}, "segment_seconds=inf must be a finite number > 0"),
        ({"n_mels": 0}, "n_mels=0"),
        ({"n_mels": 64, "f_max": 9000}, "f_max=9000"),
        ({"std": float("nan")}, "std=nan must be a finite number > 0"),
        ({"std": float("inf")}, "std=inf must be a finite number > 0"),
        ({"std": -1.0}, "std=-1.0 must be a finite number > 0"),
        ({"std": "1.0"}, "std='1.0' must be a finite number > 0"),
        ({"mean": float("nan")}, "mean=nan must be a finite number"),
        ({"mean": "0"}, "mean='0' must be a finite number"),
        ({"log_floor": 0}, "log_floor=0 must be a finite number >= 1.0842e-19"),
        ({"log_floor": float("nan")}, "log_floor=nan must be a finite number"),
        ({"log_floor": 1e-30}, "its square must be a normal float32"),
        ({"pad_mode": "bogus"}, "pad_mode='bogus' is not one of \\['reflect', 'constant', 'replicate', 'circular'\\]"),
        ({"segment_seconds": 0.001}, "segment_seconds=0.001 is 16 samples, fewer than one n_fft=1024 window"),
        ({"n_fft": 512, "segment_seconds": 0.016}, "at least n_fft / sampling_rate = 0.032 s"),
        ({"min_seconds": -1}, "min_seconds=-1 must be a finite number >= 0"),
        ({"chunk_segments": 0}, "chunk_segments=0 must be a positive int"),
    ],
)
def test_invalid_settings_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BarlowSpeechFeatureExtractor(**kwargs)


def test_a_bad_preprocessor_config_is_refused_at_load_naming_the_folder_and_the_field(tmp_path):
    BarlowSpeechFeatureExtractor().save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "preprocessor_config.json").read_text())
    for field, value in (("std", "1.0"), ("std", 0.0), ("log_floor", 0.0), ("pad_mode", "bogus")):
        (tmp_path / "preprocessor_config.json").write_text(json.dumps({**saved, field: value}))
        with pytest.raises(ValueError, match=rf"preprocessor_config\.json of '{tmp_path}' is invalid: {field}="):
            BarlowSpeechFeatureExtractor.from_pretrained(tmp_path)
        with pytest.raises(ValueError, match=rf"{field}="):  # the Auto class names the field
            AutoFeatureExtractor.from_pretrained(tmp_path)


def test_fit_normalization_refuses_audio_whose_statistics_would_not_be_finite():
    extractor = BarlowSpeechFeatureExtractor()
    with pytest.raises(ValueError, match=r"clip 0 peaks at 1e\+21.*Divide it by 32768"):
        extractor.fit_normalization([np.full(16000, 1e21, np.float32)])
    assert (extractor.mean, extractor.std) == (0.0, 1.0)  # nothing fitted, nothing saved


def test_float_audio_at_integer_scale_is_refused_but_overshoot_of_clipped_audio_passes():
    clip = tone_clips(1)[0]
    extractor = BarlowSpeechFeatureExtractor()
    for loud in (clip / np.abs(clip).max() * 30000, torch.from_numpy(clip * 32768)):
        with pytest.raises(ValueError, match=r"peaks at .*integer PCM stored as float.*Divide it by 32768"):
            extractor(loud, sampling_rate=16000)
    with pytest.raises(ValueError, match="clip 1 peaks at"):
        extractor(np.stack([clip, clip * 1000]), sampling_rate=16000)
    # a clipped clip resampled or filtered overshoots full scale by a few tens of percent: accepted
    overshoot = np.clip(clip * 50, -1, 1) * 1.5
    assert MAX_FLOAT_PEAK > np.abs(overshoot).max() > 1
    assert extractor(overshoot, sampling_rate=16000, return_tensors="np")["input_values"].shape == (1, 1, 513, 126)


def test_an_audio_dict_without_its_rate_takes_the_calls_rate_and_only_that():
    entry = {"array": tone_clips(1)[0]}
    with pytest.raises(ValueError, match="no 'sampling_rate'"):
        BarlowSpeechFeatureExtractor()(entry)
    features = BarlowSpeechFeatureExtractor()(entry, sampling_rate=16000)
    np.testing.assert_array_equal(
        features["input_values"], BarlowSpeechFeatureExtractor()(entry["array"], sampling_rate=16000)["input_values"]
    )


def test_max_length_truncation_and_padding_work_as_in_transformers():
    extractor = BarlowSpeechFeatureExtractor()
    clips = [tone_clips(1, seconds=3.0)[0], tone_clips(1, seed=1)[0]]
    batch = {"sampling_rate": 16000, "return_tensors": "np"}
    cut = extractor(clips, max_length=24000, truncation=True, **batch)
    assert cut["attention_mask"].tolist() == [[1, 1], [1, 0]]  # 1.5 s -> two segments, the last one padded
    alone = extractor(clips[0][:24000], sampling_rate=16000)["input_values"][0]
    np.testing.assert_array_equal(cut["input_values"][0], alone)
    np.testing.assert_array_equal(
        extractor(np.stack([clips[0], clips[0]]), max_length=24000, truncation=True, **batch)["input_values"][0],
        alone,
    )
    fixed = extractor(clips[1:], padding="max_length", max_length=48000, **batch)
    assert fixed["attention_mask"].tolist() == [[1, 0, 0]]  # every row as long as 3 s
    longest = extractor(clips, **batch)
    for padding in (True, "longest"):
        np.testing.assert_array_equal(
            extractor(clips, padding=padding, **batch)["input_values"], longest["input_values"]
        )
        # a list of rows (return_tensors=None) padded on request: the rows of the batch
        rows = extractor(clips, sampling_rate=16000, padding=padding)
        np.testing.assert_array_equal(np.stack(rows["input_values"]), longest["input_values"])
        assert [mask.tolist() for mask in rows["attention_mask"]] == [[1, 1, 1], [1, 0, 0]]
    equal = extractor([clips[1], clips[1]], padding=False, **batch)  # nothing to pad: accepted
    assert equal["attention_mask"].tolist() == [[1], [1]]


def test_rows_for_datasets_map_hold_only_their_own_segments_and_equal_the_padded_batch():
    """`return_tensors=None` (what `datasets.map` stores): one array per clip, no padding segments."""
    clips = [tone_clips(1, seconds=s, seed=i)[0] for i, s in enumerate((2.5, 0.5, 1.0, 4.2))]
    extractor = BarlowSpeechFeatureExtractor(chunk_segments=3)  # rows split across chunks
    rows = extractor(clips, sampling_rate=16000)
    batch = extractor(clips, sampling_rate=16000, return_tensors="np")
    assert isinstance(rows["input_values"], list) and [len(row) for row in rows["input_values"]] == [3, 1, 1, 5]
    for row, mask, padded, padded_mask in zip(
        rows["input_values"], rows["attention_mask"], batch["input_values"], batch["attention_mask"]
    ):
        assert row.shape[1:] == (513, 126) and row.dtype == np.float32
        assert mask.tolist() == [1] * len(row) and padded_mask[len(row) :].sum() == 0
        np.testing.assert_array_equal(row, padded[: len(row)])
    # the same rows with padding=False, and the 2-D batch form
    unpadded = extractor(clips, sampling_rate=16000, padding=False)
    for row, same in zip(rows["input_values"], unpadded["input_values"]):
        np.testing.assert_array_equal(row, same)
    equal = extractor(np.stack([clips[2], clips[2]]), sampling_rate=16000)["input_values"]
    assert [row.shape for row in equal] == [(1, 513, 126)] * 2


def record_batch_sizes(monkeypatch, extractor: BarlowSpeechFeatureExtractor) -> list[int]:
    """The sizes of the batches of segments `extractor.spectrogram` is called with, as they come."""
    sizes, spectrogram = [], extractor.spectrogram
    monkeypatch.setattr(
        extractor, "spectrogram", lambda segments: sizes.append(len(segments)) or spectrogram(segments)
    )
    return sizes


@pytest.mark.parametrize("last_segment, overlap", [("pad", 0.0), ("drop", 0.0), ("pad", 0.25)])
def test_spectrograms_are_computed_chunk_segments_at_a_time_with_the_same_values(monkeypatch, last_segment, overlap):
    settings = {"n_fft": 256, "hop_length": 128, "last_segment": last_segment, "segment_overlap": overlap}
    clips = [tone_clips(1, seconds=s, seed=i)[0] for i, s in enumerate((5.3, 0.5, 2.0, 3.7))]
    call = {"sampling_rate": 16000, "return_tensors": "np"}
    reference = BarlowSpeechFeatureExtractor(**settings, chunk_segments=1000)(clips, **call)
    batch = np.stack([clips[2], clips[2] + 0.01, clips[2] - 0.01])
    batch_reference = BarlowSpeechFeatureExtractor(**settings, chunk_segments=1000)(batch, **call)
    for chunk in (1, 2, 3, 7):
        extractor = BarlowSpeechFeatureExtractor(**settings, chunk_segments=chunk)
        sizes = record_batch_sizes(monkeypatch, extractor)
        for audio, expected in ((clips, reference), (batch, batch_reference)):
            sizes.clear()
            features = extractor(audio, **call)
            assert max(sizes) <= chunk and sum(sizes) == expected["attention_mask"].sum()
            np.testing.assert_array_equal(features["attention_mask"], expected["attention_mask"])
            np.testing.assert_allclose(features["input_values"], expected["input_values"], atol=1e-5)
