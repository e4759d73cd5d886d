import json

import numpy as np
import pytest
import torch

from barlow_speech.data.audio import SegmentConfig
from barlow_speech.data.librispeech import load_librispeech
from barlow_speech.data.prepare import CachedSegments, main, prepare
from barlow_speech.data.wluc import load_wluc


def test_prepare_caches_segments_that_match_the_loader(tmp_path, make, cache_dir):
    make.librispeech_tree(tmp_path / "src", seconds=1.5)
    utterances = load_librispeech(tmp_path / "src", cache_dir=cache_dir)
    out = prepare(utterances, tmp_path / "cache")
    cached = CachedSegments(out)
    segmented = load_librispeech(tmp_path / "src", cache_dir=cache_dir, segment=True)
    assert len(cached) == len(segmented) == 12
    assert cached.segments.shape == (12, 16_000) and cached.segments.dtype == np.float32
    for i in (0, 5, 11):
        np.testing.assert_array_equal(
            cached[i]["input_values"].numpy(), np.asarray(segmented[i]["audio"]["array"], np.float32)
        )
        assert cached[i]["label"] == segmented[i]["label"] and cached[i]["gender"] == segmented[i]["gender"]
    assert cached.metadata["segment_start"] == segmented["segment_start"]
    assert cached.label_names == ["103", "1034", "1040"]
    index = json.loads((out / "index.json").read_text())
    assert index["shape"] == [12, 16_000] and index["segment"]["length_s"] == 1.0


def test_cached_segments_feed_a_torch_dataloader(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path, clips=4)
    prepare(load_wluc(tmp_path, streaming=True), tmp_path / "c")
    loader = torch.utils.data.DataLoader(CachedSegments(tmp_path / "c"), batch_size=8, shuffle=False)
    batch = next(iter(loader))
    assert batch["input_values"].shape == (8, 16_000) and batch["label"].tolist() == [0] * 4 + [1] * 4
    assert CachedSegments(tmp_path / "c").get_batch([3, 1]).shape == (2, 16_000)


def test_pre_segmented_input_with_a_different_length_is_rejected(tmp_path, make, cache_dir):
    make.wluc_tree(tmp_path, clips=1)
    ds = load_wluc(tmp_path, cache_dir=cache_dir, segment=SegmentConfig(length_s=0.5))
    with pytest.raises(ValueError, match="must have 16000 samples, got 8000"):
        prepare(ds, tmp_path / "c")


def test_missing_cache_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="barlow-speech prepare"):
        CachedSegments(tmp_path)


def test_cli_prepare_writes_a_cache(tmp_path, make):
    make.voxceleb1_tree(tmp_path / "vox")
    argv = [
        "voxceleb1",
        str(tmp_path / "vox"),
        str(tmp_path / "out"),
        "--split",
        "train",
        "--drop-last",
        "--loader-arg",
        f"cache_dir={tmp_path / 'hf'}",
    ]
    assert main(argv) == 0
    cached = CachedSegments(tmp_path / "out")
    assert len(cached) == 6  # 6 train files (2 per speaker) of 1.2 s, the 0.2-s pieces dropped
    assert json.loads((tmp_path / "out" / "index.json").read_text())["source"]["split"] == "train"
