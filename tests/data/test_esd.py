import logging

import numpy as np
import pytest

from barlow_speech.data.esd import EMOTIONS, load_esd, official_split


def test_official_split_by_position_within_each_emotion_block():
    assert [official_split(n) for n in (1, 20, 21, 50, 51, 350)] == ["evaluation"] * 2 + ["test"] * 2 + ["train"] * 2
    assert [official_split(n) for n in (351, 371, 401, 1420, 1750)] == [
        "evaluation",
        "test",
        "train",
        "evaluation",
        "train",
    ]


@pytest.mark.parametrize("split_folders", [False, True])
def test_native_tree_labels_language_gender_text_and_split(tmp_path, make, cache_dir, split_folders):
    make.esd_tree(tmp_path / "Emotion Speech Dataset", split_folders=split_folders)
    ds = load_esd(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 2 * 5 * 3 and ds.features["label"].names == list(EMOTIONS)
    for ex in ds:
        emotion = ds.features["label"].int2str(ex["label"])
        assert f"/{emotion}/" in ex["path"]
        speaker = ds.features["speaker_id"].int2str(ex["speaker_id"])
        assert ex["language"] == ("zh" if speaker == "0001" else "en")
        assert ds.features["gender"].int2str(ex["gender"]) == ("female" if speaker == "0001" else "male")
    assert ds["split"][:3] == ["evaluation", "test", "train"] and ds[0]["text"] == "sentence number 1"
    assert len(ds[0]["audio"]["array"]) == 20_800


def test_split_and_language_filters(tmp_path, make, cache_dir):
    make.esd_tree(tmp_path)
    test_en = load_esd(tmp_path, split="test", language="en", cache_dir=cache_dir, segment=True)
    assert set(test_en["split"]) == {"test"} and set(test_en["language"]) == {"en"} and len(test_en) == 5 * 2
    assert len(load_esd(tmp_path, split="validation", cache_dir=cache_dir)) == 10  # alias of evaluation


def test_file_in_the_wrong_split_folder_is_an_error(tmp_path, make):
    make.esd_tree(tmp_path, speakers=("0011",), indices=(1,), split_folders=True)
    src = tmp_path / "0011" / "Sad" / "evaluation" / "0011_001051.wav"
    (tmp_path / "0011" / "Sad" / "train").mkdir()
    src.rename(tmp_path / "0011" / "Sad" / "train" / src.name)
    with pytest.raises(ValueError, match="belongs to evaluation"):
        load_esd(tmp_path)


def test_empty_or_wrong_tree_shows_the_expected_layout(tmp_path, make):
    (tmp_path / "speaker_one" / "Angry").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="(?s)no speaker folders 0001 ... 0020.*Expected layout"):
        load_esd(tmp_path)
    (tmp_path / "0001" / "Angry").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="(?s)no <speaker>/<Emotion>/\\*.wav files"):
        load_esd(tmp_path)


def test_streaming_matches_eager(tmp_path, make, cache_dir):
    make.esd_tree(tmp_path, speakers=("0011",))
    eager = load_esd(tmp_path, cache_dir=cache_dir)
    for a, b in zip(load_esd(tmp_path, streaming=True).take(3), eager.select(range(3))):
        assert a["path"] == b["path"] and a["label"] == b["label"]
        np.testing.assert_array_equal(a["audio"]["array"], b["audio"]["array"])


def test_file_off_the_naming_scheme_is_reported_and_skipped_not_a_crash(tmp_path, make, cache_dir, caplog):
    make.esd_tree(tmp_path, speakers=("0011",))
    good = tmp_path / "0011" / "Angry" / "0011_000351.wav"
    stray = good.with_name("0011_000001 (copy).wav")
    stray.write_bytes(good.read_bytes())
    with caplog.at_level(logging.WARNING):
        ds = load_esd(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 5 * 3 and str(stray) not in ds["path"]
    assert f"{stray}: does not follow the ESD naming 0011_<nnnnnn>.wav" in caplog.text
    assert "skipped 1 of 16 files" in caplog.text
