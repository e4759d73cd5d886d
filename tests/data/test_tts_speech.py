"""The multilingual speech corpus: determinism, labels, held-out languages and voices, and clear errors."""

import dataclasses

import numpy as np
import pytest

from barlow_speech.data.espeak import Utterance, Voice, espeak_languages, synthesize_chunks
from barlow_speech.data.tts_speech import (
    EVALUATION_LANGUAGES,
    LANGUAGES,
    PRETRAINING_LANGUAGES,
    PROSODIES,
    TTSSpeechConfig,
    keywords,
    load_tts_speech,
    vocabulary,
    voice_population,
)

SMALL = TTSSpeechConfig(num_pretraining_voices=6, num_evaluation_voices=4, clip_seconds=1.5)


def audio(dataset) -> np.ndarray:
    return np.stack([np.asarray(a["array"], dtype=np.float32) for a in dataset["audio"]])


def test_same_seed_gives_the_same_clips_and_another_seed_others():
    first = load_tts_speech(10, split="train", seed=3, config=SMALL, chunk_size=4)
    again = load_tts_speech(10, split="train", seed=3, config=SMALL, chunk_size=4)
    other = load_tts_speech(10, split="train", seed=4, config=SMALL, chunk_size=4)
    np.testing.assert_array_equal(audio(first), audio(again))
    assert first["text"] == again["text"] and first["speaker_id"] == again["speaker_id"]
    assert first["text"] != other["text"]
    assert not np.array_equal(audio(first), audio(other))


def test_clips_are_speech_at_the_configured_length_and_level():
    dataset = load_tts_speech(8, split="pretrain", seed=0, config=SMALL)
    waves = audio(dataset)
    assert waves.shape == (8, int(1.5 * 16000))
    assert dataset[0]["audio"]["sampling_rate"] == 16000
    rms_db = 20 * np.log10(np.sqrt(np.mean(waves**2, axis=1)))
    low, high = SMALL.level_dbfs
    assert np.all(rms_db > low - 1.0) and np.all(rms_db < high + 1.0)  # clipping may take a little off the top
    assert np.abs(waves).max() <= 1.0


def test_labels_name_the_language_voice_gender_prosody_and_text_of_each_clip():
    config = dataclasses.replace(SMALL, label="speaker_id")
    dataset = load_tts_speech(12, split="test", seed=1, config=config)
    features = dataset.features
    assert features["language"].names == list(EVALUATION_LANGUAGES)
    assert features["speaker_id"].names == [voice.name for voice in voice_population(config, "evaluation")]
    assert features["prosody"].names == list(PROSODIES)
    assert dataset["label"] == dataset["speaker_id"]  # `label` copies config.label
    voices = voice_population(config, "evaluation")
    for row in dataset:
        assert features["gender"].names[row["gender"]] == voices[row["speaker_id"]].gender
        prosody = PROSODIES[row["prosody"]]
        assert row["text"].endswith({"question": "?", "exclamation": "!", "excited": "!"}.get(prosody, "."))
        language = EVALUATION_LANGUAGES[row["language"]]
        vocabulary_words = set(vocabulary(language, config.vocabulary_size))
        words = row["text"].rstrip(".?!").replace(",", "").split()
        assert words and all(word in vocabulary_words for word in words)


def test_keyword_clips_hold_one_keyword_of_an_evaluation_language():
    config = dataclasses.replace(SMALL, label="keyword", keywords_per_language=2)
    dataset = load_tts_speech(10, split="validation", seed=0, config=config, kind="keyword")
    names = dataset.features["keyword"].names
    assert names == list(keywords(config)) and len(names) == 2 * len(EVALUATION_LANGUAGES)
    assert audio(dataset).shape == (10, 16000)
    for row in dataset:
        language, word = names[row["keyword"]].split(":")
        assert row["text"].rstrip(".?!") == word
        assert EVALUATION_LANGUAGES[row["language"]] == language


def test_evaluation_languages_and_voices_never_occur_in_pretraining():
    assert not set(PRETRAINING_LANGUAGES) & set(EVALUATION_LANGUAGES)
    assert set(PRETRAINING_LANGUAGES) | set(EVALUATION_LANGUAGES) == set(LANGUAGES)
    pretraining = voice_population(SMALL, "pretrain")
    evaluation = voice_population(SMALL, "evaluation")
    assert not {v.name for v in pretraining} & {v.name for v in evaluation}
    strip = [dataclasses.replace(v, name="x") for v in pretraining]  # no evaluation voice is a renamed pretraining one
    assert not any(dataclasses.replace(v, name="x") in strip for v in evaluation)
    pretrain = load_tts_speech(8, split="pretrain", seed=0, config=SMALL)
    assert pretrain.features["language"].names == list(PRETRAINING_LANGUAGES)
    assert set(pretrain.features["speaker_id"].names) == {v.name for v in pretraining}
    assert [v.gender for v in evaluation] == ["female", "male"] * 2


def test_a_subset_of_voices_speaks_alone():
    dataset = load_tts_speech(6, split="train", seed=0, config=SMALL, voices=["e001", "e003"])
    names = dataset.features["speaker_id"].names
    assert {names[i] for i in dataset["speaker_id"]} <= {"e001", "e003"}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"evaluation_languages": ("xx",)}, "unknown language 'xx'"),
        ({"evaluation_languages": ("fii",)}, "did you mean 'fi'"),
        ({"pretraining_languages": ("en", "fi")}, "in both pretraining_languages and evaluation_languages"),
        ({"num_evaluation_voices": 0}, "num_evaluation_voices=0 must be >= 1"),
        ({"clip_seconds": 0.0}, "clip_seconds=0.0 must be between"),
        ({"label": "accent"}, "label='accent' is not one of"),
        ({"noise_prob": 1.5}, "noise_prob=1.5 must be a probability"),
        ({"snr_db": (30.0, 5.0)}, "snr_db=(30.0, 5.0) must be a range"),
    ],
)
def test_bad_corpus_settings_are_value_errors_that_say_what_is_allowed(change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TTSSpeechConfig(**change)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "dev"}, "split='dev' is not one of"),
        ({"kind": "sentence"}, "kind='sentence' is not one of"),
        ({"split": "pretrain", "kind": "keyword"}, "use an evaluation split"),
        ({"voices": ["p000"]}, r"\['p000'\] not in this split's population"),
        ({"num_clips": 0}, "num_clips=0"),
    ],
)
def test_bad_loader_arguments_are_value_errors_naming_the_fix(kwargs, message):
    arguments = {"num_clips": 2, "split": "train", "config": SMALL, **kwargs}
    with pytest.raises(ValueError, match=message):
        load_tts_speech(**arguments)


def test_an_unknown_language_or_a_bad_voice_is_named_by_the_synthesiser():
    voice = Voice("v1", "female", (180, 260))
    with pytest.raises(ValueError, match="eSpeak NG has no language 'xx'"):
        synthesize_chunks([[Utterance("hello", "xx", voice)]], processes=1)
    with pytest.raises(ValueError, match="gender='child'"):
        Voice("v2", "child", (180, 260))
    with pytest.raises(ValueError, match="pitch_hz=.*base <= top"):
        Voice("v3", "male", (200, 100))
    with pytest.raises(ValueError, match="file name"):
        Voice("../evil", "male", (100, 150))


def test_a_chunk_synthesised_in_a_fresh_process_does_not_depend_on_what_came_before():
    voice = Voice("v1", "male", (110, 170), formant_scale=(100, 96, 98, 97, 100, 100, 100, 100, 100))
    chunk = [Utterance("hello there.", "en", voice, seed=1), Utterance("guten Tag?", "de", voice, seed=2)]
    first, second = synthesize_chunks([chunk, chunk], processes=2)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert first[0].dtype == np.int16 and len(first[0]) > 0.3 * 22050


def median_pitch_hz(wave: np.ndarray, rate: int = 22050) -> float:
    """Median autocorrelation pitch (60-400 Hz) of the loud 40-ms frames."""
    frames = np.lib.stride_tricks.sliding_window_view(wave.astype(np.float32), 882)[::441]
    energy = (frames**2).mean(axis=1)
    lags = np.arange(rate // 400, rate // 60)
    estimates = []
    for frame in frames[energy > 0.25 * energy.max()]:
        frame = frame - frame.mean()
        autocorrelation = np.correlate(frame, frame, "full")[len(frame) - 1 :]
        estimates.append(rate / lags[np.argmax(autocorrelation[lags])])
    return float(np.median(estimates))


def test_a_voice_speaks_at_its_own_pitch():
    low = Voice("low", "male", (95, 130), formant_scale=(100, 92, 92, 92, 92, 100, 100, 100, 100))
    high = Voice("high", "female", (210, 320), formant_scale=(100, 118, 118, 118, 118, 100, 100, 100, 100))
    (clips,) = synthesize_chunks([[Utterance("a test of two voices.", "en", v, seed=0) for v in (low, high)]])
    low_hz, high_hz = (median_pitch_hz(clip) for clip in clips)
    assert 80 < low_hz < 160 and 200 < high_hz < 380  # measured 115 and 286 Hz


def test_every_corpus_language_is_one_espeak_speaks():
    assert {LANGUAGES[code] for code in LANGUAGES} <= espeak_languages()


def test_segment_seconds_cuts_every_clip_into_rows_that_keep_its_labels():
    whole = load_tts_speech(3, split="pretrain", seed=5, config=SMALL)
    config = dataclasses.replace(SMALL, segment_seconds=0.5)
    cut = load_tts_speech(3, split="pretrain", seed=5, config=config)
    assert len(cut) == 9 and audio(cut).shape == (9, 8000)
    np.testing.assert_array_equal(audio(cut).reshape(3, -1), audio(whole))
    assert cut["speaker_id"] == [s for s in whole["speaker_id"] for _ in range(3)]
    assert cut["path"][:3] == [f"{whole['path'][0]}/{k}" for k in range(3)]
    with pytest.raises(ValueError, match="must divide clip_seconds=1.5"):
        dataclasses.replace(SMALL, segment_seconds=0.4)


def test_the_registry_generates_the_corpus_for_pretraining_and_evaluation():
    from barlow_speech.data.registry import dataset_spec
    from barlow_speech.evaluation.sources import DataSource

    spec = dataset_spec("tts_speech")
    assert spec.generated and spec.pretraining_split == "pretrain"
    rows = spec.generate(
        2, seed=0, split="pretrain", loader_args={"segment_seconds": 0.5, "num_pretraining_voices": 4}
    )
    assert len(rows) == 2 * 6 and rows.features["speaker_id"].names == ["p000", "p001", "p002", "p003"]  # 3-s clips
    with pytest.raises(ValueError, match="unknown key 'segmnt_seconds' \\(did you mean 'segment_seconds'\\?\\)"):
        spec.generate(2, seed=0, split="pretrain", loader_args={"segmnt_seconds": 1.0})
    source = DataSource(
        "tts_speech", loader_args={"num_evaluation_voices": 4, "label": "speaker_id"}, num_clips=4, num_eval_clips=2
    )
    train, test = source.load("train"), source.load("test")
    assert (len(train), len(test)) == (4, 2)
    assert train.features["language"].names == list(EVALUATION_LANGUAGES)
    assert train["label"] == train["speaker_id"]
