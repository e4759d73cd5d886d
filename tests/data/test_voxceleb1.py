import logging

import numpy as np
import pytest

from barlow_speech.data.voxceleb1 import load_voxceleb1, parse_iden_split


def test_native_tree_counts_labels_accent_gender_and_official_split(tmp_path, make, cache_dir):
    make.voxceleb1_tree(tmp_path)
    ds = load_voxceleb1(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 12
    assert ds.features["label"].names == ["id10001", "id10002", "id10003"]  # label = speaker
    first = ds[0]
    assert first["path"].endswith("wav/id10001/video000Xy/00001.wav") and first["label"] == 0
    assert first["accent"] == "Ireland" and ds.features["gender"].int2str(first["gender"]) == "male"
    assert ds.features["gender"].int2str(ds[-1]["gender"]) == "female" and ds[-1]["accent"] == "India"
    assert ds["split"][:4] == ["train", "validation", "test", "train"]  # iden_split codes 1, 2, 3, 1
    assert len(first["audio"]["array"]) == 19_200


def test_split_filter_keeps_the_speaker_label_space(tmp_path, make, cache_dir):
    make.voxceleb1_tree(tmp_path)
    test = load_voxceleb1(tmp_path, split="test", cache_dir=cache_dir, segment=True)
    assert set(test["split"]) == {"test"} and len(test) == 6  # 3 test files x 2 segments
    assert test.features["label"].num_classes == 3
    assert {len(a["array"]) for a in test["audio"]} == {16_000}


def test_iden_split_codes_are_validated(tmp_path):
    (tmp_path / "iden_split.txt").write_text("4 id10001/x/00001.wav\n")
    with pytest.raises(ValueError, match="split code '4'"):
        parse_iden_split(tmp_path / "iden_split.txt")


def test_missing_metadata_and_empty_tree_show_the_expected_layout(tmp_path, make):
    make.voxceleb1_tree(tmp_path)
    (tmp_path / "iden_split.txt").unlink()
    with pytest.raises(FileNotFoundError, match="(?s)iden_split.txt is missing.*Expected layout"):
        load_voxceleb1(tmp_path)
    with pytest.raises(FileNotFoundError, match="(?s)no wav/ folder.*vox1_meta.csv"):
        load_voxceleb1(tmp_path / "wav")


def test_corrupt_wav_is_skipped_and_counted(tmp_path, make, cache_dir, caplog):
    make.voxceleb1_tree(tmp_path)
    bad = make.corrupt(tmp_path / "wav" / "id10002" / "video101Xy" / "00002.wav")
    with caplog.at_level(logging.WARNING):
        ds = load_voxceleb1(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 11 and str(bad) not in ds["path"] and "skipped 1 of 12" in caplog.text


def test_streaming_matches_eager(tmp_path, make, cache_dir):
    make.voxceleb1_tree(tmp_path)
    eager = load_voxceleb1(tmp_path, cache_dir=cache_dir)
    for a, b in zip(load_voxceleb1(tmp_path, streaming=True).take(3), eager.select(range(3))):
        assert a["path"] == b["path"] and a["split"] == b["split"]
        np.testing.assert_array_equal(a["audio"]["array"], b["audio"]["array"])
