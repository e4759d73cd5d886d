import logging

import pytest

from barlow_speech.data import load_dataset_by_name
from barlow_speech.data.folder import load_audio_folder


def test_recursive_folder_groups_by_first_level_folder(tmp_path, make, cache_dir):
    make.write_audio(tmp_path / "loose.wav", 0.5)
    make.write_audio(tmp_path / "alice" / "day1" / "a.flac", 2.0, sr=22_050)
    make.write_audio(tmp_path / "bob" / "b.ogg", 1.0)
    (tmp_path / "bob" / "notes.txt").write_text("not audio")
    ds = load_audio_folder(tmp_path, cache_dir=cache_dir, segment=True)
    assert ds.features["label"].names == ["alice", "audio", "bob"]
    assert [ds.features["label"].int2str(l) for l in ds["label"]] == ["alice", "alice", "bob", "audio"]
    assert {len(a["array"]) for a in ds["audio"]} == {16_000} and set(ds["gender"]) == {-1}


def test_registry_dispatches_by_name(tmp_path, make, cache_dir):
    make.write_audio(tmp_path / "x.wav")
    assert len(load_dataset_by_name("folder", tmp_path, cache_dir=cache_dir)) == 1
    with pytest.raises(ValueError, match="unknown dataset 'timit'"):
        load_dataset_by_name("timit", tmp_path)


def test_corrupt_file_is_reported_and_skipped(tmp_path, make, cache_dir, caplog):
    make.write_audio(tmp_path / "good.wav")
    make.corrupt(tmp_path / "bad.wav")
    with caplog.at_level(logging.WARNING):
        ds = load_audio_folder(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 1 and "bad.wav" in caplog.text and "skipped 1 of 2" in caplog.text


def test_empty_or_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no audio files"):
        load_audio_folder(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_audio_folder(tmp_path / "nope")
