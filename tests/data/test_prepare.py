import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from barlow_speech.data import prepare as prepare_module
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
        "--drop_last",
        "--loader_args",
        f"cache_dir={tmp_path / 'hf'}",
    ]
    assert main(argv) == 0
    cached = CachedSegments(tmp_path / "out")
    assert len(cached) == 6  # 6 train files (2 per speaker) of 1.2 s, the 0.2-s pieces dropped
    assert json.loads((tmp_path / "out" / "index.json").read_text())["source"]["split"] == "train"


def _cache_contents(folder) -> tuple:
    cached = CachedSegments(folder)
    return cached.index, np.array(cached.segments), cached.metadata.to_dict()


def _fail_after(count: int):
    """An `_iter_segments` that yields `count` segments, then fails as a full disk or a crash would."""
    original = prepare_module._iter_segments

    def failing(dataset, segment):
        for index, item in enumerate(original(dataset, segment)):
            if index == count:
                raise OSError(28, "No space left on device")
            yield item

    return failing


def test_a_failed_prepare_leaves_the_previous_cache_as_it_was(tmp_path, make, monkeypatch):
    make.wluc_tree(tmp_path / "wluc", clips=2)
    make.librispeech_tree(tmp_path / "ls", seconds=1.5)
    prepare(load_wluc(tmp_path / "wluc", streaming=True), tmp_path / "cache")
    before = _cache_contents(tmp_path / "cache")
    monkeypatch.setattr(prepare_module, "_iter_segments", _fail_after(3))
    with pytest.raises(OSError, match="No space left"):
        prepare(load_librispeech(tmp_path / "ls", streaming=True), tmp_path / "cache")
    after = _cache_contents(tmp_path / "cache")
    assert after[0] == before[0] and after[2] == before[2]
    np.testing.assert_array_equal(after[1], before[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "ls", "wluc"]  # no partial folder left


KILLED_PREPARE = """
import pathlib, sys, time
import barlow_speech.data.prepare as prepare_module
from barlow_speech.data.librispeech import load_librispeech

original = prepare_module._iter_segments


def stalls(dataset, segment):
    for index, item in enumerate(original(dataset, segment)):
        if index == 3:
            pathlib.Path(sys.argv[3]).touch()
            time.sleep(600)
        yield item


prepare_module._iter_segments = stalls
prepare_module.prepare(load_librispeech(sys.argv[1], streaming=True), sys.argv[2])
"""


def test_a_killed_prepare_leaves_the_previous_cache_and_a_partial_folder_that_never_loads(tmp_path, make):
    make.wluc_tree(tmp_path / "wluc", clips=2)
    make.librispeech_tree(tmp_path / "ls", seconds=1.5)
    prepare(load_wluc(tmp_path / "wluc", streaming=True), tmp_path / "cache")
    before = _cache_contents(tmp_path / "cache")
    ready = tmp_path / "ready"
    script = [sys.executable, "-c", KILLED_PREPARE, str(tmp_path / "ls"), str(tmp_path / "cache"), str(ready)]
    run = subprocess.Popen(script, env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=Path(__file__).parents[2])
    try:
        deadline = time.monotonic() + 120
        while not ready.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ready.exists(), "the prepare subprocess never reached its fourth segment"
    finally:
        run.kill()  # SIGKILL: no cleanup runs
        run.wait()
    after = _cache_contents(tmp_path / "cache")
    assert after[0] == before[0] and after[2] == before[2]
    np.testing.assert_array_equal(after[1], before[1])
    (partial,) = tmp_path.glob(".cache.partial-*")
    assert (partial / "segments.f32").stat().st_size > 0  # the killed run had started writing there
    with pytest.raises(ValueError, match="was still writing when it stopped; delete it"):
        CachedSegments(partial)


def test_prepare_replaces_a_cache_but_refuses_a_folder_of_other_files(tmp_path, make):
    make.wluc_tree(tmp_path / "wluc", clips=2)
    make.librispeech_tree(tmp_path / "ls", seconds=1.5)
    prepare(load_wluc(tmp_path / "wluc", streaming=True), tmp_path / "cache")
    prepare(load_librispeech(tmp_path / "ls", streaming=True), tmp_path / "cache")
    assert len(CachedSegments(tmp_path / "cache")) == 12 and not list(tmp_path.glob(".cache.*"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="is not an empty folder nor a segment cache"):
        prepare(load_wluc(tmp_path / "wluc", streaming=True), tmp_path / "home")
    assert (tmp_path / "home" / "thesis.tex").read_text() == "years of work"
