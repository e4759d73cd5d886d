import numpy as np
import pytest

from barlow_speech.data.wluc import background_noise_files, load_wluc, stratified_split


def test_native_tree_leaders_genders_and_counts(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path)
    ds = load_wluc(tmp_path, cache_dir=cache_dir)
    assert len(ds) == 50 and ds.features["label"].names == sorted(
        make.WLUC_LEADERS
    )  # other/, _background_noise_ excluded
    genders = {
        ds.features["label"].int2str(c): ds.features["gender"].int2str(g) for c, g in zip(ds["label"], ds["gender"])
    }
    assert genders == {
        "Benjamin_Netanyau": "male",
        "Jens_Stoltenberg": "male",
        "Julia_Gillard": "female",
        "Magaret_Tarcher": "female",
        "Nelson_Mandela": "male",
    }
    assert {len(a["array"]) for a in ds["audio"]} == {16_000}


def test_split_is_stratified_deterministic_and_in_clip_order(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path)
    ds = load_wluc(tmp_path / "16000_pcm_speeches", cache_dir=cache_dir)
    for leader in range(5):
        splits = [s for s, c in zip(ds["split"], ds["label"]) if c == leader]
        assert splits == ["train"] * 8 + ["validation", "test"]
    nelson = [p for p, c in zip(ds["path"], ds["label"]) if c == 4]
    assert [p.rsplit("/", 1)[1] for p in nelson[:3]] == ["0.wav", "1.wav", "2.wav"]  # numeric, not lexicographic
    assert load_wluc(tmp_path, split="test", cache_dir=cache_dir)["split"] == ["test"] * 5


def test_seeded_split_shuffles_reproducibly_with_the_same_proportions():
    a, b = stratified_split(20, (0.5, 0.25, 0.25), seed=3), stratified_split(20, (0.5, 0.25, 0.25), seed=3)
    assert a == b and a != stratified_split(20, (0.5, 0.25, 0.25))
    assert (a.count("train"), a.count("validation"), a.count("test")) == (10, 5, 5)
    with pytest.raises(ValueError, match="summing to 1"):
        stratified_split(10, (0.5, 0.5, 0.5))


def test_unknown_leader_needs_a_gender(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path, clips=2)
    make.write_audio(tmp_path / "16000_pcm_speeches" / "Angela_Merkel" / "0.wav")
    with pytest.raises(ValueError, match="Angela_Merkel"):
        load_wluc(tmp_path)
    ds = load_wluc(tmp_path, genders={"Angela_Merkel": "female"}, cache_dir=cache_dir)
    assert "Angela_Merkel" in ds.features["label"].names


def test_background_noise_is_listed_for_augmentation(tmp_path, make):
    make.wluc_tree(tmp_path, clips=1)
    assert [p.name for p in background_noise_files(tmp_path)] == ["running_tap.wav"]


def test_wrong_layout_shows_the_expected_tree(tmp_path):
    (tmp_path / "speeches").mkdir()
    with pytest.raises(FileNotFoundError, match="(?s)no leader folders.*Nelson_Mandela"):
        load_wluc(tmp_path)


def test_streaming_matches_eager(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path, clips=3)
    eager = load_wluc(tmp_path, cache_dir=cache_dir)
    for a, b in zip(load_wluc(tmp_path, streaming=True).take(4), eager.select(range(4))):
        assert a["path"] == b["path"] and a["split"] == b["split"]
        np.testing.assert_array_equal(a["audio"]["array"], b["audio"]["array"])


def test_a_split_without_clips_is_an_error_not_an_empty_dataset(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path, clips=3)  # 3 clips per leader at 0.8 / 0.1 / 0.1: 2 train, 1 validation, no test
    with pytest.raises(ValueError, match="wluc: no clips of split 'test'.*fraction"):
        load_wluc(tmp_path, split="test", cache_dir=cache_dir)
