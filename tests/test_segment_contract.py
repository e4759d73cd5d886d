"""The segment contract: whatever path the extractor's output takes, the model returns one row per clip, equal to
what the clip alone gives (issue "No silent failures")."""

import datasets
import numpy as np
import pytest
import torch
from transformers import Trainer, TrainingArguments, default_data_collator, pipeline

from barlow_speech import (
    BarlowSpeechDataCollator,
    BarlowSpeechFeatureExtractor,
    BarlowSpeechForAudioClassification,
    BarlowSpeechModel,
)
from tests.factories import tiny_config, tone_clips

LABELS = {0: "yes", 1: "no", 2: "up"}
SMALL_FRONT_END = {"n_fft": 512, "hop_length": 256, "n_mels": 32}  # 32 x 63 per segment: a 30-s clip stays small


def _classifier() -> BarlowSpeechForAudioClassification:
    torch.manual_seed(0)
    config = tiny_config(id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    return BarlowSpeechForAudioClassification(config).eval()


def _mixed_clips() -> list[np.ndarray]:
    """1-s, 3-s, 0.5-s and 2.2-s clips: one, three, one and three segments."""
    return [tone_clips(1, seconds=s, seed=i)[0] for i, s in enumerate((1.0, 3.0, 0.5, 2.2))]


def _alone(model: BarlowSpeechForAudioClassification, clip: np.ndarray) -> torch.Tensor:
    with torch.no_grad():
        return model(**BarlowSpeechFeatureExtractor()(clip, sampling_rate=16000, return_tensors="pt")).logits[0]


@pytest.mark.parametrize("seconds, count, batch_size", [((1.0,), 3, 3), ((1.0,), 4, 2), ((3.0,), 3, 2), (None, 4, 3)])
def test_pipeline_returns_one_result_per_clip_whatever_the_batch_size(seconds, count, batch_size):
    model = _classifier()
    clips = _mixed_clips() if seconds is None else [tone_clips(1, seconds=seconds[0], seed=i)[0] for i in range(count)]
    classify = pipeline("audio-classification", model=model, feature_extractor=BarlowSpeechFeatureExtractor())
    results = classify(clips, batch_size=batch_size, top_k=3)
    assert len(results) == count
    for clip, result in zip(clips, results):
        expected = torch.softmax(_alone(model, clip), -1)
        scores = {r["label"]: r["score"] for r in result}
        np.testing.assert_allclose([scores[LABELS[i]] for i in range(3)], expected.numpy(), atol=1e-5)


def _dataset(clips: list[np.ndarray]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"audio": [c.tolist() for c in clips], "label": [i % 3 for i in range(len(clips))]}
    )


@pytest.mark.parametrize("batched", [True, False])
def test_datasets_map_then_trainer_predict_gives_one_row_per_clip_equal_to_the_clip_alone(tmp_path, batched):
    clips = _mixed_clips() * 3  # 12 clips of mixed length
    extractor = BarlowSpeechFeatureExtractor()

    def featurise(batch):
        return extractor(batch["audio"], sampling_rate=16000)

    mapped = _dataset(clips).map(featurise, batched=batched, batch_size=5, remove_columns=["audio"])
    model = _classifier()
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_eval_batch_size=4, report_to="none", use_cpu=True, disable_tqdm=True
    )
    trainer = Trainer(model=model, args=args, data_collator=BarlowSpeechDataCollator(extractor))
    predictions = trainer.predict(mapped).predictions
    assert predictions.shape == (12, 3)
    expected = torch.stack([_alone(model, clip) for clip in clips]).numpy()
    np.testing.assert_allclose(predictions, expected, atol=1e-4)


def test_a_batched_map_stores_each_clip_at_its_own_length_not_the_batchs_longest():
    """40 1-s clips and one 30-s clip: padding every row to 30 segments stored ~17x what the rows hold (issue 30)."""
    clips = tone_clips(40) + tone_clips(1, seconds=30.0, seed=1)
    extractor = BarlowSpeechFeatureExtractor(**SMALL_FRONT_END)
    dataset = datasets.Dataset.from_dict({"audio": clips})

    def featurise(batch):
        return extractor(batch["audio"], sampling_rate=16000)

    stored = {batched: dataset.map(featurise, batched=batched, remove_columns=["audio"]) for batched in (True, False)}
    sizes = {batched: mapped.data.nbytes for batched, mapped in stored.items()}
    segment_bytes = extractor.num_bins * extractor.num_frames * 4
    # 70 real segments; measured: 71.2 segments' bytes (masks and offsets included) per-example and batched, against
    # 1,250 when every row was padded to the 30-s clip
    assert sizes[False] < 2 * 70 * segment_bytes
    assert sizes[True] < 2 * sizes[False]
    rows = stored[True]["input_values"]
    assert [len(row) for row in rows] == [1] * 40 + [30]
    np.testing.assert_array_equal(
        np.asarray(rows[40], np.float32), extractor(clips[40], sampling_rate=16000)["input_values"][0]
    )


def test_trainer_trains_on_a_batched_map_with_the_default_collator_for_one_second_clips(tmp_path):
    extractor = BarlowSpeechFeatureExtractor()
    mapped = _dataset(tone_clips(8)).map(
        lambda b: extractor(b["audio"], sampling_rate=16000), batched=True, remove_columns=["audio"]
    )
    mapped.set_format("torch")
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=2,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        save_strategy="no",
    )
    model = _classifier().train()
    trainer = Trainer(model=model, args=args, train_dataset=mapped, data_collator=default_data_collator)
    assert np.isfinite(trainer.train().training_loss)
    # one prediction row per clip, next to that clip's label (docs/reliability.md)
    predicted = trainer.predict(mapped)
    assert predicted.predictions.shape == (8, 3)
    assert predicted.label_ids.tolist() == [i % 3 for i in range(8)]  # the labels of _dataset, in order


def test_collator_featurises_raw_audio_rows_and_pads_feature_rows_alike():
    clips = _mixed_clips()
    extractor = BarlowSpeechFeatureExtractor()
    raw = BarlowSpeechDataCollator(extractor)([{"audio": clip, "label": i} for i, clip in enumerate(clips)])
    rows = [
        {k: v[0] for k, v in extractor(clip, sampling_rate=16000).items()} | {"label": i}
        for i, clip in enumerate(clips)
    ]
    padded = BarlowSpeechDataCollator(extractor)(rows)
    assert raw["labels"].tolist() == padded["labels"].tolist() == [0, 1, 2, 3]
    assert (
        raw["attention_mask"].tolist()
        == padded["attention_mask"].tolist()
        == [[1, 0, 0], [1, 1, 1], [1, 0, 0], [1, 1, 1]]
    )
    torch.testing.assert_close(raw["input_values"], padded["input_values"])


def test_raw_audio_rows_train_with_remove_unused_columns_false_and_the_collator_names_it_otherwise(tmp_path):
    dataset = _dataset(tone_clips(4))
    collator = BarlowSpeechDataCollator(BarlowSpeechFeatureExtractor())
    settings = {"per_device_train_batch_size": 2, "max_steps": 1, "report_to": "none", "use_cpu": True}
    settings |= {"disable_tqdm": True, "save_strategy": "no"}
    for remove_unused_columns in (True, False):  # True: the Trainer's default, which drops the "audio" column
        args = TrainingArguments(str(tmp_path), remove_unused_columns=remove_unused_columns, **settings)
        trainer = Trainer(model=_classifier().train(), args=args, train_dataset=dataset, data_collator=collator)
        if remove_unused_columns:
            with pytest.raises(ValueError, match=r"rows have keys \['label'\].*remove_unused_columns=False"):
                trainer.train()
        else:
            assert np.isfinite(trainer.train().training_loss)


def test_datasets_audio_column_goes_straight_into_the_extractor_and_a_wrong_rate_row_is_named():
    clips = tone_clips(3)
    rows = [{"array": c, "sampling_rate": 16000, "path": f"{i}.wav"} for i, c in enumerate(clips)]
    ds = datasets.Dataset.from_dict({"audio": rows})
    extractor = BarlowSpeechFeatureExtractor()
    from_column = extractor(ds[:3]["audio"])["input_values"]
    np.testing.assert_allclose(from_column, extractor(clips, sampling_rate=16000)["input_values"], atol=1e-6)
    np.testing.assert_allclose(extractor(ds[0]["audio"])["input_values"], from_column[:1], atol=1e-6)
    wrong = datasets.Dataset.from_dict({"audio": rows[:1] + [{"array": clips[1], "sampling_rate": 8000, "path": "x"}]})
    # the advice names a resampler that needs no extra, and the extra that datasets' own resampling needs
    advice = r"clip 1 is sampled at 8000 Hz.*expects 16000 Hz.*resample\(array, 8000\).*barlow-speech\[decode\]"
    with pytest.raises(ValueError, match=advice):
        extractor(wrong["audio"])


def test_undecoded_audio_entries_are_read_with_soundfile(tmp_path):
    import soundfile

    clip = tone_clips(1, seconds=1.5)[0]
    soundfile.write(tmp_path / "a.wav", clip, 16000, subtype="FLOAT")
    extractor = BarlowSpeechFeatureExtractor()
    by_path = extractor([{"path": str(tmp_path / "a.wav"), "bytes": None}])["input_values"]
    by_bytes = extractor({"path": None, "bytes": (tmp_path / "a.wav").read_bytes()})["input_values"]
    expected = extractor(clip, sampling_rate=16000)["input_values"]
    np.testing.assert_allclose(by_path, expected, atol=1e-6)
    np.testing.assert_allclose(by_bytes, expected, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"attention_mask": torch.ones(2, 3)}, r"attention_mask has shape \(2, 3\)"),
        ({"attention_mask": torch.tensor([[1, 1], [0, 0]])}, r"clips \[1\] have no real segment"),
        ({"segment_to_utterance": torch.tensor([0, 0, 1, 1])}, "segment_to_utterance is no longer an input"),
    ],
)
def test_inconsistent_segment_information_is_an_error_not_a_different_row_count(kwargs, message):
    model = BarlowSpeechModel(tiny_config()).eval()
    with pytest.raises(ValueError, match=message):
        model(torch.zeros(2, 2, 513, 126), **kwargs)


def test_labels_must_match_the_clips():
    features = BarlowSpeechFeatureExtractor()(_mixed_clips(), sampling_rate=16000, return_tensors="pt")
    with pytest.raises(ValueError, match="labels has shape \\(5,\\) but there are 4 clips"):
        _classifier()(**features, labels=torch.zeros(5, dtype=torch.long))


@pytest.mark.parametrize(
    "audio, kwargs, message",
    [
        (
            np.zeros(16000, np.float32),
            {"sampling_rate": "16000"},
            r"sampling_rate='16000' is a str; pass the rate as an int",
        ),
        ([0, 120, -3000] * 6000, {"sampling_rate": 16000}, "list of integers"),
        ([{"sampling_rate": 16000}], {}, "needs 'array'"),
    ],
)
def test_ambiguous_inputs_are_rejected_with_the_fix(audio, kwargs, message):
    with pytest.raises(ValueError, match=message):
        BarlowSpeechFeatureExtractor()(audio, **kwargs)
