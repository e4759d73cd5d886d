import logging

import datasets
import numpy as np
import pytest

from barlow_speech.data.speech_commands import WORDS_35, load_speech_commands


def test_words35_counts_labels_and_official_lists(tmp_path, make, cache_dir):
    make.speech_commands_tree(tmp_path)
    ds = load_speech_commands(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 12 and ds.features["label"].names == list(WORDS_35)
    assert set(ds["word"]) == set(make.SC_WORDS)  # _background_noise_ is not a word
    for ex in ds:
        assert ds.features["label"].int2str(ex["label"]) == ex["word"]
    by_split = {
        s: sorted(p.split("/")[-1] for p, sp in zip(ds["path"], ds["split"]) if sp == s)
        for s in ("validation", "test")
    }
    assert by_split["validation"] == [
        "00abc001_nohash_0.wav",
        "00abc001_nohash_0.wav",
        "00abc001_nohash_1.wav",
        "00abc001_nohash_1.wav",
    ]
    assert len(by_split["test"]) == 4 and ds["split"].count("train") == 4
    assert set(ds["gender"]) == {-1} and ds["speaker_id"][0] == ds.features["speaker_id"].str2int("00abc000")


def test_v1_12_maps_other_words_to_unknown_and_adds_silence(tmp_path, make, cache_dir):
    make.speech_commands_tree(tmp_path)
    ds = load_speech_commands(tmp_path, classes="v1_12", cache_dir=cache_dir)
    names = ds.features["label"].names
    assert len(names) == 12 and names[-2:] == ["_unknown_", "_silence_"]
    labels = [names[i] for i in ds["label"]]
    assert labels.count("yes") == 3 and labels.count("no") == 3 and labels.count("_unknown_") == 6
    assert labels.count("_silence_") == 3  # 3.2 s of background noise -> three 1-s clips
    silence = [ex for ex in ds if names[ex["label"]] == "_silence_"]
    assert {len(ex["audio"]["array"]) for ex in silence} == {16_000}
    assert [ex["split"] for ex in silence] == ["validation", "test", "train"]


def test_a_corrupt_background_noise_file_is_reported_and_skipped_not_fatal(tmp_path, make, cache_dir, caplog):
    make.speech_commands_tree(tmp_path)
    make.corrupt(tmp_path / "_background_noise_" / "broken_noise.wav")
    with caplog.at_level(logging.WARNING):
        ds = load_speech_commands(tmp_path, classes="v1_12", cache_dir=cache_dir)
    names = ds.features["label"].names
    assert [names[i] for i in ds["label"]].count("_silence_") == 3  # the readable noise file still gives its clips
    assert "skipping unusable file" in caplog.text and "broken_noise.wav" in caplog.text
    assert "speech_commands: skipped 1 of 2 files" in caplog.text


def test_split_argument_filters(tmp_path, make, cache_dir):
    make.speech_commands_tree(tmp_path)
    assert set(load_speech_commands(tmp_path, split="test", cache_dir=cache_dir)["split"]) == {"test"}
    with pytest.raises(ValueError, match="split must be one of"):
        load_speech_commands(tmp_path, split="dev")


def test_missing_lists_and_foreign_folders_show_the_expected_layout(tmp_path, make):
    make.speech_commands_tree(tmp_path)
    make.write_audio(tmp_path / "banana" / "x_nohash_0.wav")
    with pytest.raises(FileNotFoundError, match="(?s)'banana'.*Expected layout"):
        load_speech_commands(tmp_path)
    (tmp_path / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="(?s)testing_list.txt is missing.*validation_list.txt"):
        load_speech_commands(tmp_path)


def _hub_folder(folder, make):
    """google/speech_commands v0.02 parquet layout: file, audio, label (ClassLabel), is_unknown, speaker_id,
    utterance_id."""
    hub_names = [
        "yes",
        "no",
        "up",
        "down",
        "left",
        "right",
        "on",
        "off",
        "stop",
        "go",
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "bed",
        "bird",
        "cat",
        "dog",
        "happy",
        "house",
        "marvin",
        "sheila",
        "tree",
        "wow",
        "backward",
        "forward",
        "follow",
        "learn",
        "visual",
        "_silence_",
    ]
    rows = {
        "file": ["yes/a1_nohash_0.wav", "marvin/b2_nohash_0.wav", "_silence_/noise.wav"],
        "audio": [{"bytes": make.audio_bytes(1.0, fmt="WAV"), "path": p} for p in ("a", "b", "c")],
        "label": [0, 26, 35],
        "is_unknown": [False, True, False],
        "speaker_id": ["a1", "b2", None],
        "utterance_id": [0, 0, 0],
    }
    features = datasets.Features(
        {
            "file": datasets.Value("string"),
            "audio": make.HUB_AUDIO,
            "label": datasets.ClassLabel(names=hub_names),
            "is_unknown": datasets.Value("bool"),
            "speaker_id": datasets.Value("string"),
            "utterance_id": datasets.Value("int8"),
        }
    )
    return make.hub_parquet(folder, "v0.02", "test", rows, features)


def test_hub_parquet_layout_maps_onto_the_schema(tmp_path, make, cache_dir):
    hub = _hub_folder(tmp_path / "speech_commands", make)
    words = load_speech_commands(hub, split="test", cache_dir=cache_dir)
    assert [words.features["label"].int2str(i) for i in words["label"]] == ["yes", "marvin"]  # silence is not a word
    v1 = load_speech_commands(hub, split="test", classes="v1_12", cache_dir=cache_dir)
    assert [v1.features["label"].int2str(i) for i in v1["label"]] == ["yes", "_unknown_", "_silence_"]
    assert (
        v1["word"] == ["yes", "marvin", "_silence_"] and v1.features["speaker_id"].int2str(v1["speaker_id"][0]) == "a1"
    )
    stream = load_speech_commands(hub, split="test", classes="v1_12", streaming=True, cache_dir=cache_dir)
    first = next(iter(stream))
    assert first["path"] == v1[0]["path"]
    np.testing.assert_allclose(first["audio"]["array"], v1[0]["audio"]["array"])
