import logging

import datasets
import numpy as np
import pytest

from barlow_speech.data.librispeech import load_librispeech, parse_speakers_txt


def test_native_tree_counts_schema_labels_gender_and_chapter(tmp_path, make, cache_dir):
    make.librispeech_tree(tmp_path)
    ds = load_librispeech(tmp_path, "train-clean-100", cache_dir=cache_dir)
    assert isinstance(ds, datasets.Dataset) and len(ds) == 6
    assert ds.features["label"].names == ["103", "1034", "1040"]  # label = speaker
    assert {"audio", "path", "speaker_id", "gender", "label", "chapter_id", "text"} <= set(ds.column_names)
    first = ds[0]
    assert first["audio"]["sampling_rate"] == 16_000 and len(first["audio"]["array"]) == 24_000
    assert ds.features["gender"].int2str(first["gender"]) == "female"
    assert first["label"] == first["speaker_id"] == 0
    assert first["chapter_id"] == 1000 and first["text"] == "WORDS OF UTTERANCE 0"
    assert [ds.features["gender"].int2str(g) for g in ds["gender"]] == ["female"] * 2 + ["male"] * 4


def test_segmentation_gives_one_second_pieces(tmp_path, make, cache_dir):
    make.librispeech_tree(tmp_path, seconds=1.5)
    ds = load_librispeech(tmp_path / "LibriSpeech", segment=True, cache_dir=cache_dir)
    assert len(ds) == 12  # 1.5 s -> one full + one padded segment per utterance
    assert {len(a["array"]) for a in ds["audio"]} == {16_000}
    assert ds["segment_start"][:2] == [0, 16_000]


def test_speakers_txt_names_may_contain_bars(tmp_path):
    (tmp_path / "SPEAKERS.TXT").write_text(
        ";ID|SEX|SUBSET|MINUTES|NAME\n60   | M | train-clean-100  | 20.18 | |CBW|Simon\n"
    )
    assert parse_speakers_txt(tmp_path / "SPEAKERS.TXT") == {"60": "M"}


def test_corrupt_flac_is_skipped_reported_and_counted(tmp_path, make, cache_dir, caplog):
    base = make.librispeech_tree(tmp_path)
    bad = make.corrupt(next((base / "train-clean-100" / "1034").rglob("*-0001.flac")))
    with caplog.at_level(logging.WARNING):
        ds = load_librispeech(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 5 and str(bad) not in ds["path"]
    assert str(bad) in caplog.text and "skipped 1 of 6 files" in caplog.text


def test_missing_speakers_file_and_wrong_layout_show_the_expected_tree(tmp_path, make):
    base = make.librispeech_tree(tmp_path)
    (base / "SPEAKERS.TXT").unlink()
    with pytest.raises(FileNotFoundError, match="(?s)SPEAKERS.TXT.*Expected layout:.*trans.txt"):
        load_librispeech(tmp_path)
    with pytest.raises(FileNotFoundError, match="(?s)train-clean-360.*Expected layout"):
        load_librispeech(tmp_path, "train-clean-360")


def test_empty_tree_raises_a_clear_error(tmp_path):
    (tmp_path / "LibriSpeech" / "train-clean-100").mkdir(parents=True)
    (tmp_path / "LibriSpeech" / "SPEAKERS.TXT").write_text("; none\n")
    with pytest.raises(FileNotFoundError, match="(?s)no .flac files.*Expected layout"):
        load_librispeech(tmp_path)


def test_streaming_yields_the_same_first_examples_as_eager(tmp_path, make, cache_dir):
    make.librispeech_tree(tmp_path)
    eager = load_librispeech(tmp_path, segment=True, cache_dir=cache_dir)
    stream = load_librispeech(tmp_path, segment=True, streaming=True)
    assert isinstance(stream, datasets.IterableDataset)
    for a, b in zip(stream.take(3), eager.select(range(3))):
        assert a["path"] == b["path"] and a["label"] == b["label"] and a["segment_start"] == b["segment_start"]
        np.testing.assert_array_equal(a["audio"]["array"], b["audio"]["array"])


def _librispeech_hub_folder(folder, make, bad_row=False):
    """A local folder in openslr/librispeech_asr's parquet layout (clean/train.100)."""
    rows = {"file": [], "audio": [], "text": [], "speaker_id": [], "chapter_id": [], "id": []}
    for i, (speaker, chapter) in enumerate([(103, 1240), (103, 1240), (1034, 121119)]):
        utt = f"{speaker}-{chapter}-{i:04d}"
        payload = b"not audio" if bad_row and i == 1 else make.audio_bytes(1.25, freq=200 + 20 * i)
        rows["file"].append(f"{utt}.flac")
        rows["audio"].append({"bytes": payload, "path": f"{utt}.flac"})
        rows["text"].append(f"TEXT {i}")
        rows["speaker_id"].append(speaker)
        rows["chapter_id"].append(chapter)
        rows["id"].append(utt)
    features = datasets.Features(
        {
            "file": datasets.Value("string"),
            "audio": make.HUB_AUDIO,
            "text": datasets.Value("string"),
            "speaker_id": datasets.Value("int64"),
            "chapter_id": datasets.Value("int64"),
            "id": datasets.Value("string"),
        }
    )
    return make.hub_parquet(folder, "clean", "train.100", rows, features)


def test_hub_parquet_layout_loads_into_the_same_schema(tmp_path, make, cache_dir):
    hub = _librispeech_hub_folder(tmp_path / "librispeech_asr", make)
    native = make.librispeech_tree(tmp_path / "native")
    ds = load_librispeech(hub, "train-clean-100", cache_dir=cache_dir, speakers_file=native / "SPEAKERS.TXT")
    reference = load_librispeech(tmp_path / "native", cache_dir=cache_dir)
    assert ds.features.keys() == reference.features.keys()
    assert ds.features["label"].names == ["103", "1034"] and len(ds) == 3
    assert ds[2]["label"] == 1 and ds[2]["chapter_id"] == 121119 and ds[2]["utterance_id"] == "1034-121119-0002"
    assert [ds.features["gender"].int2str(g) for g in ds["gender"]] == ["female", "female", "male"]
    assert len(ds[0]["audio"]["array"]) == 20_000


def test_hub_path_segments_streams_and_skips_undecodable_rows(tmp_path, make, cache_dir, caplog):
    hub = _librispeech_hub_folder(tmp_path / "librispeech_asr", make, bad_row=True)
    with caplog.at_level(logging.WARNING):
        eager = load_librispeech(hub, cache_dir=cache_dir, segment=True)
    assert len(eager) == 4 and set(eager["gender"]) == {-1}  # 2 good rows x 2 segments; no SPEAKERS.TXT
    assert "103-1240-0001" in caplog.text and "skipped 1 of 3" in caplog.text
    stream = load_librispeech(hub, cache_dir=cache_dir, segment=True, streaming=True)
    for a, b in zip(stream.take(2), eager.select(range(2))):
        assert a["path"] == b["path"] and a["segment_start"] == b["segment_start"]
        np.testing.assert_allclose(a["audio"]["array"], b["audio"]["array"])


def test_unknown_subset_on_the_hub_path_is_a_clear_error(tmp_path, make):
    hub = _librispeech_hub_folder(tmp_path / "hub", make)
    with pytest.raises(ValueError, match="unknown LibriSpeech subset 'train-clean-99'"):
        load_librispeech(hub, "train-clean-99")


def test_existing_relative_folder_wins_even_with_parquet_files_inside(tmp_path, make, cache_dir, monkeypatch):
    base = make.librispeech_tree(tmp_path / "data")
    (base / "cache").mkdir()
    prepared = datasets.Dataset.from_dict({"segment_start": [0]})
    prepared.to_parquet(str(base / "cache" / "metadata.parquet"))  # a `prepare` cache inside the tree
    monkeypatch.chdir(tmp_path)
    assert len(load_librispeech("data/LibriSpeech", cache_dir=cache_dir)) == 6
    monkeypatch.setenv("HOME", str(tmp_path))
    assert len(load_librispeech("~/data/LibriSpeech", cache_dir=cache_dir)) == 6


def test_missing_path_shaped_like_a_hub_id_names_both_readings(tmp_path, cache_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "data" / "Nope"
    with pytest.raises(FileNotFoundError, match=f"(?s)No local folder '{missing}' exists either.*Hub"):
        load_librispeech("data/Nope", cache_dir=cache_dir)
    with pytest.raises(FileNotFoundError, match="no such dataset folder './data/Nope'.*not a Hub id"):
        load_librispeech("./data/Nope", cache_dir=cache_dir)
