import logging

import datasets
import numpy as np
import pytest

from barlow_speech.data.schema import (
    GENDERS,
    clip_arrays,
    common_features,
    convert_hub_dataset,
    iter_clips,
    load_hub_split,
)
from barlow_speech.data.synthetic import load_synthetic


def _hub_folder_with_a_bad_row(folder, make):
    """Three rows in a Hub parquet layout; the middle one's audio bytes are not audio."""
    payloads = [make.audio_bytes(0.5), b"not audio", make.audio_bytes(0.5, freq=330.0)]
    rows = {"id": ["a", "b", "c"], "audio": [{"bytes": p, "path": f"{i}.flac"} for i, p in zip("abc", payloads)]}
    features = datasets.Features({"id": datasets.Value("string"), "audio": make.HUB_AUDIO})
    return make.hub_parquet(folder, "default", "train", rows, features)


def _convert(ds):
    row = lambda r: {"path": r["id"], "speaker_id": "s", "gender": GENDERS.index("male"), "label": "x"}  # noqa: E731
    return convert_hub_dataset(ds, common_features(["x"], ["s"]), row, dataset_name="toy")


def test_eager_hub_conversion_reports_the_bad_row_on_every_load_not_only_the_first(tmp_path, make, cache_dir, caplog):
    hub = _hub_folder_with_a_bad_row(tmp_path / "hub", make)
    for _ in range(2):  # the second load would be answered from the datasets cache without re-decoding
        caplog.clear()
        with caplog.at_level(logging.INFO):
            out = _convert(load_hub_split(hub, "default", "train", cache_dir=cache_dir))
        assert out["path"] == ["a", "c"]
        assert "toy: skipped 1 of 3 files" in caplog.text and "b:" in caplog.text
        assert "decoded all" not in caplog.text


def test_streamed_hub_conversion_logs_a_summary_when_the_stream_is_exhausted(tmp_path, make, cache_dir, caplog):
    hub = _hub_folder_with_a_bad_row(tmp_path / "hub", make)
    stream = _convert(load_hub_split(hub, "default", "train", streaming=True, cache_dir=cache_dir))
    assert isinstance(stream, datasets.IterableDataset)
    with caplog.at_level(logging.WARNING):
        paths = [ex["path"] for ex in stream]
    assert paths == ["a", "c"]
    assert "toy: skipping unusable file b" in caplog.text and "toy: skipped 1 of 3 files" in caplog.text
    assert len(next(iter(stream))["audio"]["array"]) == 8000


def test_eager_hub_split_whose_rows_are_all_bad_is_a_clear_error(tmp_path, make, cache_dir):
    rows = {"id": ["a", "b"], "audio": [{"bytes": b"not audio", "path": f"{i}.flac"} for i in "ab"]}
    features = datasets.Features({"id": datasets.Value("string"), "audio": make.HUB_AUDIO})
    hub = make.hub_parquet(tmp_path / "hub", "default", "train", rows, features)
    pattern = "(?s)toy: no usable clips in this Hub split: 2 of 2 files are unusable.*a: cannot decode"
    with pytest.raises(ValueError, match=pattern):
        _convert(load_hub_split(hub, "default", "train", cache_dir=cache_dir))


def test_clip_arrays_reads_the_arrow_column_in_row_order_and_checks_the_rate():
    ds = load_synthetic(num_clips=12, seed=0, split="train").select([7, 2, 11, 2])  # an indices mapping, a repeat
    clips = clip_arrays(ds)
    assert len(clips) == 4 and all(c.dtype == np.float32 and c.shape == (16000,) for c in clips)
    for clip, row in zip(clips, ds):
        assert np.array_equal(clip, np.asarray(row["audio"]["array"], dtype=np.float32))
    rows = [{"array": np.ones(4, np.float32), "sampling_rate": 16000}, {"array": np.zeros(3), "sampling_rate": 8000}]
    with pytest.raises(ValueError, match="example 1 is sampled at 8000 Hz"):
        clip_arrays(datasets.Dataset.from_dict({"audio": rows}))
    assert [c.tolist() for c in clip_arrays(datasets.Dataset.from_dict({"audio": rows}), None)] == [[1] * 4, [0] * 3]
    bare = datasets.Dataset.from_dict({"audio": [np.ones(2, np.float32), np.zeros(5, np.float32)]})
    assert [len(c) for c in clip_arrays(bare)] == [2, 5]
    pieces = [load_synthetic(num_clips=5, seed=s, split="test") for s in (1, 2)]  # two Arrow tables
    joined = datasets.concatenate_datasets(pieces).select(range(2, 9))  # a contiguous slice across both
    streamed = list(iter_clips(joined, chunk_rows=3))  # chunks that cross the tables' boundary
    assert [np.array_equal(a, np.asarray(r["audio"]["array"], np.float32)) for a, r in zip(streamed, joined)] == [
        True
    ] * 7
    chosen = clip_arrays(ds, rows=[3, 0])  # rows of a dataset, in the order asked
    assert [np.array_equal(a, b) for a, b in zip(chosen, [clips[3], clips[0]])] == [True, True]
    rates = [16000, 8000] * 3  # rows 1, 3, 5 at 8 kHz
    mixed = datasets.Dataset.from_dict({"audio": [{"array": [0.5] * 3, "sampling_rate": r} for r in rates]})
    assert len(clip_arrays(mixed, rows=[4, 2, 0])) == 3
    with pytest.raises(ValueError, match="example 5 is sampled at 8000 Hz"):  # the dataset's row, not the position
        clip_arrays(mixed, rows=[4, 5])
    missing_third = [{"array": [0.1], "sampling_rate": 16000}] * 3 + [{"array": None, "sampling_rate": 16000}]
    with pytest.raises(ValueError, match="clip 3 is not decoded"):
        clip_arrays(datasets.Dataset.from_dict({"audio": missing_third}), rows=[0, 3])
    missing = [{"array": [0.1], "sampling_rate": 16000}, {"array": None, "sampling_rate": 16000}]
    with pytest.raises(ValueError, match="clip 1 is not decoded"):
        clip_arrays(datasets.Dataset.from_dict({"audio": missing}))
    stereo = [{"array": [[0.1, 0.2], [0.3, 0.4]], "sampling_rate": 16000}]
    with pytest.raises(ValueError, match="downmix to mono"):
        clip_arrays(datasets.Dataset.from_dict({"audio": stereo}))
    undecoded = datasets.Dataset.from_dict({"audio": [{"path": "a.wav", "bytes": None}]})
    with pytest.raises(ValueError, match="not decoded"):
        clip_arrays(undecoded)
    with pytest.raises(ValueError, match="no 'audio' column"):
        clip_arrays(datasets.Dataset.from_dict({"wave": [[0.0]]}))
