import logging

import numpy as np
import pytest
import soundfile as sf

from barlow_speech.data.audio import (
    AudioDecodeError,
    BadFiles,
    SegmentConfig,
    decode_audio,
    find_audio_files,
    resample,
    segment_offsets,
    segment_waveform,
    to_mono,
)


def test_int16_pcm_is_scaled_to_float32_unit_range(tmp_path):
    samples = np.array([0, 16384, -32768, 32767], dtype=np.int16)
    sf.write(tmp_path / "x.wav", samples, 16_000, subtype="PCM_16")
    wave = decode_audio(tmp_path / "x.wav")
    assert wave.dtype == np.float32
    np.testing.assert_allclose(wave, samples / 32768.0, atol=1e-6)


def test_stereo_is_downmixed_with_a_warning(tmp_path, make, caplog):
    path = make.write_audio(tmp_path / "st.flac", 0.5, channels=2)
    with caplog.at_level(logging.WARNING):
        wave = decode_audio(path)
    assert wave.shape == (8000,)
    assert "downmixing 2-channel" in caplog.text
    # the channels at half and full amplitude: either alone is a quarter of the amplitude off their mean
    channels = make.tone(0.5, channels=2)
    np.testing.assert_allclose(wave, channels.mean(axis=1), atol=1e-4)  # 16-bit FLAC: steps of 3e-5


def test_non_16k_audio_is_resampled_to_16k(tmp_path, make):
    path = make.write_audio(tmp_path / "a.wav", 1.0, sr=44_100, freq=440.0)
    wave = decode_audio(path)
    assert wave.shape == (16_000,)
    spectrum = np.abs(np.fft.rfft(wave))
    assert abs(np.argmax(spectrum) - 440) <= 1  # 1 Hz bins: the tone survives resampling


def test_resample_is_identity_at_the_same_rate():
    x = np.random.default_rng(0).standard_normal(100).astype(np.float32)
    np.testing.assert_array_equal(resample(x, 16_000, 16_000), x)
    assert resample(x, 8_000, 16_000).shape == (200,)


def test_to_mono_rejects_3d_input():
    with pytest.raises(ValueError, match="samples, channels"):
        to_mono(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("payload", [b"", b"RIFF\x00\x00garbage"])
def test_unreadable_or_empty_files_raise_decode_errors(tmp_path, payload):
    path = tmp_path / "bad.wav"
    path.write_bytes(payload)
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        decode_audio(path)


def test_zero_sample_file_is_a_decode_error(tmp_path):
    sf.write(tmp_path / "empty.wav", np.zeros(0, np.float32), 16_000)
    with pytest.raises(AudioDecodeError, match="no samples"):
        decode_audio(tmp_path / "empty.wav")


def test_segments_pad_the_last_piece_or_drop_it():
    wave = np.arange(40_000, dtype=np.float32)
    padded, starts = segment_waveform(wave, SegmentConfig(pad_last=True))
    assert padded.shape == (3, 16_000) and starts.tolist() == [0, 16_000, 32_000]
    np.testing.assert_array_equal(padded[2, :8_000], wave[32_000:])
    assert not padded[2, 8_000:].any()
    dropped, _ = segment_waveform(wave, SegmentConfig(pad_last=False))
    assert dropped.shape == (2, 16_000)
    np.testing.assert_array_equal(dropped[1], wave[16_000:32_000])


def test_overlapping_hop_and_short_recordings():
    assert segment_offsets(32_000, 16_000, 8_000, True).tolist() == [0, 8_000, 16_000]
    assert segment_offsets(33_000, 16_000, 8_000, True).tolist() == [0, 8_000, 16_000, 24_000]
    assert segment_offsets(5_000, 16_000, 16_000, True).tolist() == [0]
    assert segment_offsets(5_000, 16_000, 16_000, False).tolist() == []
    segments, _ = segment_waveform(np.ones(5_000, np.float32), SegmentConfig(length_s=0.5))
    assert segments.shape == (1, 8_000)


def test_min_voiced_fraction_drops_silent_segments():
    rng = np.random.default_rng(0)
    wave = np.concatenate(
        [0.3 * rng.standard_normal(16_000), np.zeros(16_000), 0.3 * rng.standard_normal(16_000)]
    ).astype(np.float32)
    kept, starts = segment_waveform(wave, SegmentConfig(min_voiced_fraction=0.5))
    assert starts.tolist() == [0, 32_000]
    assert kept.shape == (2, 16_000)


def test_segment_config_validates_its_fields():
    with pytest.raises(ValueError, match="positive"):
        SegmentConfig(length_s=0)
    with pytest.raises(ValueError, match="min_voiced_fraction"):
        SegmentConfig(min_voiced_fraction=1.5)


def test_bad_files_reports_each_path_and_a_summary(caplog):
    bad = BadFiles("demo")
    with caplog.at_level(logging.WARNING):
        bad.add("a.wav", "truncated")
        bad.log_summary(total=10)
    assert len(bad) == 1 and bad.paths == ["a.wav"]
    assert "a.wav: truncated" in caplog.text and "skipped 1 of 10 files" in caplog.text


def test_find_audio_files_is_recursive_sorted_and_skips_hidden(tmp_path, make):
    for rel in ["b/x.flac", "a.wav", "c/d/e.ogg", ".hidden/z.wav", "notes.txt"]:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".txt"):
            p.write_text("x")
        else:
            sf.write(
                p,
                np.zeros(100, np.float32),
                16_000,
                format={"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}[rel.rsplit(".", 1)[1]],
            )
    assert [p.relative_to(tmp_path).as_posix() for p in find_audio_files(tmp_path)] == [
        "a.wav",
        "b/x.flac",
        "c/d/e.ogg",
    ]


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_truncated_wav_or_flac_is_a_decode_error_not_a_shorter_clip(tmp_path, make, suffix):
    path = make.truncate(make.write_audio(tmp_path / f"cut.{suffix}", 1.0))
    with pytest.raises(AudioDecodeError, match=f"cut.{suffix} is truncated"):
        decode_audio(path)


def test_wav_with_a_streaming_size_placeholder_is_not_called_truncated(tmp_path, make):
    data = bytearray(make.write_audio(tmp_path / "live.wav", 0.5).read_bytes())
    at = data.index(b"data")
    data[at + 4 : at + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # what a recorder writes before it knows the size
    (tmp_path / "live.wav").write_bytes(bytes(data))
    assert decode_audio(tmp_path / "live.wav").shape == (8000,)


def test_garbage_mp3_gets_a_truthful_reason_and_a_missing_file_says_so(tmp_path, make):
    junk = make.random_bytes(tmp_path / "junk.mp3")
    with pytest.raises(AudioDecodeError, match="junk.mp3: libsndfile: Format not recognised") as err:
        decode_audio(junk)
    assert "does not exist" not in str(err.value)
    with pytest.raises(AudioDecodeError, match="cannot read .*gone.wav: No such file"):
        decode_audio(tmp_path / "gone.wav")
