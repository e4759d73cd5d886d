"""Baselines of Table 2: the Supervised column trained with the stock Trainer, and random-init encoders."""

import numpy as np
import pytest
import torch
import transformers

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForAudioClassification, BarlowSpeechModel
from barlow_speech.data.synthetic import SyntheticSpeechConfig, load_synthetic
from barlow_speech.evaluation import baselines
from barlow_speech.evaluation.baselines import random_init_model, supervised_baseline
from barlow_speech.evaluation.probes import linear_probe
from tests.factories import tiny_config

# 8 speakers (4 per gender) with little nuisance: gender is learnable from scratch in a few hundred steps.
EASY = SyntheticSpeechConfig(
    num_speakers=8, snr_db=(30.0, 40.0), reverb_prob=0.0, channel_db=0.0, within_speaker_jitter=0.3
)


@pytest.fixture(scope="module")
def splits():
    return [
        load_synthetic(num_clips=n, split=s, config=EASY) for n, s in ((64, "train"), (32, "validation"), (64, "test"))
    ]


def test_supervised_baseline_trains_with_the_stock_trainer_and_beats_chance_on_gender(splits, monkeypatch):
    trainers = []

    class RecordingTrainer(transformers.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trainers.append(self)

    monkeypatch.setattr(baselines, "Trainer", RecordingTrainer)
    extractor = BarlowSpeechFeatureExtractor(n_fft=256, hop_length=256).fit_normalization(
        [a["array"] for a in splits[0]["audio"]]
    )
    result = supervised_baseline(
        tiny_config(),
        extractor,
        *splits,
        "gender",
        fractions=(1.0,),
        seeds=(0,),
        max_steps=150,
        batch_size=16,
        learning_rate=3e-3,
        device="cpu",
        task="GR",
        metadata={"dataset": "synthetic"},
    )
    (trainer,) = trainers
    assert (
        type(trainer).__mro__[1] is transformers.Trainer and type(trainer.model) is BarlowSpeechForAudioClassification
    )
    assert trainer.state.global_step == 150 and not trainer.model.config.freeze_encoder
    assert (result["schema"], result["model"], result["task"], result["dataset"]) == (
        "barlow_speech.probe/v1",
        "Supervised",
        "GR",
        "synthetic",
    )
    (entry,) = result["fractions"].values()
    assert entry["seeds"] == [0] and entry["runs"][0] >= 0.7, f"chance is 0.5 on balanced gender, got {entry['runs']}"
    assert entry["learning_rates"] == [3e-3] and entry["weight_decays"] == [1e-4]  # what each run trained with


def test_supervised_runs_use_the_linear_probe_label_subsets(splits, monkeypatch):
    monkeypatch.setattr(baselines.Trainer, "train", lambda self: None)  # subsets only: skip the optimisation
    extractor = BarlowSpeechFeatureExtractor(n_fft=128, hop_length=128)
    result = supervised_baseline(
        tiny_config(), extractor, *splits, "speaker_id", fractions=(0.25, 1.0), seeds=(0, 1), max_steps=1, device="cpu"
    )
    labels = [np.asarray(ds["speaker_id"]) for ds in splits]
    embeddings = [np.random.default_rng(0).normal(size=(len(y), 4)) for y in labels]
    probe = linear_probe(
        embeddings[0],
        labels[0],
        embeddings[1],
        labels[1],
        embeddings[2],
        labels[2],
        fractions=(0.25, 1.0),
        seeds=(0, 1),
        steps=1,
        device="cpu",
    )
    assert result["index_lists"] == probe["index_lists"]
    assert {k: len(e["runs"]) for k, e in result["fractions"].items()} == {"0.25": 2, "1": 2}


def test_supervised_baseline_rejects_an_unknown_label_column(splits):
    with pytest.raises(ValueError, match="no column 'loudness'"):
        supervised_baseline(tiny_config(), BarlowSpeechFeatureExtractor(), *splits, "loudness", device="cpu")


def test_random_init_model_has_the_architecture_and_seeded_fresh_weights():
    config = tiny_config()
    trained = BarlowSpeechModel(config)
    torch.nn.init.constant_(trained.embedder.embedder.convolution.weight, 0.5)
    first, again, other = (random_init_model(trained.config, seed) for seed in (0, 0, 1))
    assert type(first) is BarlowSpeechModel and first.config.to_dict() == trained.config.to_dict()
    state, state_again, state_other = first.state_dict(), again.state_dict(), other.state_dict()
    assert all(torch.equal(state[k], state_again[k]) for k in state)
    assert not torch.equal(
        state["embedder.embedder.convolution.weight"], state_other["embedder.embedder.convolution.weight"]
    )
    assert not torch.equal(
        state["embedder.embedder.convolution.weight"], trained.state_dict()["embedder.embedder.convolution.weight"]
    )
