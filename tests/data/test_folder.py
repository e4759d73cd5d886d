import logging

import pytest

from barlow_speech.data import SegmentConfig, load_dataset_by_name
from barlow_speech.data.folder import load_audio_folder


def test_recursive_folder_groups_by_first_level_folder(tmp_path, make, cache_dir):
    make.write_audio(tmp_path / "loose.wav", 0.5)
    make.write_audio(tmp_path / "alice" / "day1" / "a.flac", 2.0, sr=22_050)
    make.write_audio(tmp_path / "bob" / "b.ogg", 1.0)
    (tmp_path / "bob" / "notes.txt").write_text("not audio")
    ds = load_audio_folder(tmp_path, cache_dir=cache_dir, segment=True)
    assert ds.features["label"].names == ["alice", "audio", "bob"]
    assert [ds.features["label"].int2str(c) for c in ds["label"]] == ["alice", "alice", "bob", "audio"]
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


def test_truncated_and_garbage_files_are_reported_counted_and_skipped(tmp_path, make, cache_dir, caplog):
    make.write_audio(tmp_path / "good.wav")
    make.truncate(make.write_audio(tmp_path / "cut.wav"))
    make.random_bytes(tmp_path / "junk.mp3")
    with caplog.at_level(logging.WARNING):
        ds = load_audio_folder(tmp_path, cache_dir=cache_dir)
    assert [p.rsplit("/", 1)[1] for p in ds["path"]] == ["good.wav"]
    assert "cut.wav is truncated: its header declares 16000 frames" in caplog.text
    assert "junk.mp3: libsndfile: Format not recognised" in caplog.text and "skipped 2 of 3 files" in caplog.text


def test_bad_file_report_is_repeated_when_the_dataset_comes_from_the_cache(tmp_path, make, cache_dir, caplog):
    make.write_audio(tmp_path / "good.wav")
    make.corrupt(tmp_path / "bad.wav")
    first = load_audio_folder(tmp_path, cache_dir=cache_dir)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = load_audio_folder(tmp_path, cache_dir=cache_dir)
    assert again.cache_files == first.cache_files  # answered from the cache: nothing was decoded into it
    assert f"skipping unusable file {tmp_path / 'bad.wav'}" in caplog.text and "skipped 1 of 2 files" in caplog.text


@pytest.mark.parametrize("streaming", [False, True])
def test_folder_where_every_file_is_bad_names_the_folder_the_count_and_reasons(tmp_path, make, cache_dir, streaming):
    make.corrupt(tmp_path / "clips" / "a.wav")
    make.truncate(make.write_audio(tmp_path / "clips" / "b.flac"))
    where = f"no usable clips in '{tmp_path / 'clips'}': 2 of 2 files are unusable"
    pattern = f"(?s){where}.*a.wav: cannot decode.*b.flac is truncated"
    with pytest.raises(ValueError, match=pattern):
        ds = load_audio_folder(tmp_path / "clips", cache_dir=cache_dir, streaming=streaming)
        list(ds)


def test_file_that_gives_no_segment_is_reported_not_dropped_silently(tmp_path, make, cache_dir, caplog):
    make.write_audio(tmp_path / "long.wav", 1.0)
    make.write_audio(tmp_path / "short.wav", 0.4)
    with caplog.at_level(logging.WARNING):
        ds = load_audio_folder(tmp_path, cache_dir=cache_dir, segment=SegmentConfig(pad_last=False))
    assert len(ds) == 1 and "short.wav: its 0.40 s give no segment" in caplog.text and "skipped 1 of 2" in caplog.text


def test_files_with_other_extensions_are_named_in_a_warning(tmp_path, make, cache_dir, caplog):
    make.write_audio(tmp_path / "a.wav")
    (tmp_path / "talk.m4a").write_bytes(b"\x00" * 10)
    with caplog.at_level(logging.WARNING):
        load_audio_folder(tmp_path, cache_dir=cache_dir)
    assert "left out 1 files" in caplog.text and "'.m4a': 1" in caplog.text
