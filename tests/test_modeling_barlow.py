import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from transformers import (
    AutoFeatureExtractor,
    AutoModel,
    AutoModelForAudioClassification,
    AutoModelForPreTraining,
    Trainer,
    TrainingArguments,
    pipeline,
)

from barlow_speech import (
    BarlowSpeechConfig,
    BarlowSpeechFeatureExtractor,
    BarlowSpeechForAudioClassification,
    BarlowSpeechForPreTraining,
    BarlowSpeechModel,
)
from barlow_speech.modeling_barlow import barlow_twins_loss, pool_feature_map
from tests.factories import tiny_config, tone_clips

# Chunked inference (`max_segments_per_forward`) against one pass: measured differences up to 2e-6 (float32 rounding of
# convolutions over batches of another size); the same tolerance is stated in docs/reliability.md.
CHUNK_ATOL, CHUNK_RTOL = 1e-5, 1e-5
MEL_32 = {"n_fft": 512, "hop_length": 256, "n_mels": 32}


def _spectrograms(batch: int = 4) -> torch.Tensor:
    return BarlowSpeechFeatureExtractor()(tone_clips(batch), sampling_rate=16000, return_tensors="pt")["input_values"]


def test_paper_configuration_runs_a_forward_pass():
    """ResNet-50 on 1 x 513 x 126 with latent m = 2048 (paper Sec. 2.3)."""
    model = BarlowSpeechForPreTraining(BarlowSpeechConfig()).eval()
    x = _spectrograms(2)
    with torch.no_grad():
        out = model(x, x)
    assert out.pooler_output.shape == (2, 2048)
    assert out.z_a.shape == out.z_b.shape == (2, 2048)
    assert torch.isfinite(out.loss)


def test_base_model_outputs_pooled_embedding_last_hidden_state_and_every_stage():
    model = BarlowSpeechModel(tiny_config()).eval()
    out = model(_spectrograms(3), output_hidden_states=True)
    assert out.pooler_output.shape == (3, 16)
    assert out.last_hidden_state.shape[:3] == (3, 1, 16)  # (clips, segments, channels, freq', frames')
    assert len(out.hidden_states) == 1 + 2  # stem + 2 stages
    assert all(state.shape[:2] == (3, 1) for state in out.hidden_states)
    torch.testing.assert_close(out.pooler_output, out.last_hidden_state[:, 0].mean(dim=(2, 3)))


def test_segment_embeddings_are_averaged_per_utterance():
    extractor = BarlowSpeechFeatureExtractor()
    clips = [tone_clips(1, seconds=2.0)[0], tone_clips(1, seed=3)[0]]
    features = extractor(clips, sampling_rate=16000, return_tensors="pt")
    assert features["input_values"].shape[:2] == (2, 2) and features["attention_mask"].tolist() == [[1, 1], [1, 0]]
    model = BarlowSpeechModel(tiny_config()).eval()
    per_segment = model(features["input_values"][features["attention_mask"].bool()].unsqueeze(1)).pooler_output
    per_utterance = model(**features).pooler_output
    assert per_utterance.shape == (2, 16)
    torch.testing.assert_close(per_utterance[0], per_segment[:2].mean(0))
    torch.testing.assert_close(per_utterance[1], per_segment[2])


def test_pretraining_returns_loss_parts_latents_and_cross_correlation_and_gradients_reach_the_backbone():
    model = BarlowSpeechForPreTraining(tiny_config(lambda_offdiag=0.01)).train()
    x = _spectrograms(4)
    out = model(x, x + 0.1 * torch.randn_like(x), return_cross_correlation=True)
    assert out.z_a.shape == out.z_b.shape == (4, 32)
    assert out.cross_correlation.shape == (32, 32)
    torch.testing.assert_close(out.loss, out.invariance_loss + 0.01 * out.redundancy_loss)
    out.loss.backward()
    stem = model.barlow.embedder.embedder.convolution.weight.grad
    assert stem is not None and stem.abs().sum() > 0
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_a_projector_reading_every_layer_sees_their_pooled_vectors_and_reloads_identically(tmp_path):
    config = tiny_config(pooling="time_mean_std", pooling_bands=2, projector_input="all_layers")
    assert config.projector_input_size == sum(config.layer_sizes) > config.hidden_size
    torch.manual_seed(0)
    model = BarlowSpeechForPreTraining(config).eval()
    x = _spectrograms(4)
    every = model.barlow(x, output_hidden_states=True)
    features, pooled = model.barlow.head_inputs(x)
    torch.testing.assert_close(features, torch.cat(every.pooled_hidden_states, dim=-1))
    torch.testing.assert_close(pooled, every.pooler_output)
    out = model(x, x + 0.1)
    torch.testing.assert_close(out.z_a, model.projector(features))
    torch.testing.assert_close(out.pooler_output, every.pooler_output)  # embeddings do not change with the head
    out.loss.backward()  # the stem's block of the projector's first layer gets a gradient of its own
    stem_columns = model.projector[0].weight.grad[:, : config.layer_sizes[0]]
    assert stem_columns.abs().sum() > 0
    model.save_pretrained(tmp_path)
    loaded = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    assert loaded.config.projector_input == "all_layers"
    torch.testing.assert_close(loaded(x).z_a, model(x).z_a)
    last = tiny_config(pooling="time_mean_std", pooling_bands=2)
    assert last.projector_input == "last" and last.projector_input_size == last.hidden_size


def test_pretraining_without_second_view_only_encodes():
    out = BarlowSpeechForPreTraining(tiny_config()).eval()(_spectrograms(2))
    assert out.loss is None and out.z_a.shape == (2, 32)


def test_bf16_autocast_forward_gives_a_finite_loss_close_to_fp32():
    model = BarlowSpeechForPreTraining(tiny_config()).eval()
    x = _spectrograms(8)
    y = x + 0.2 * torch.randn_like(x)
    full = model(x, y).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = model(x, y)
    assert torch.isfinite(half.loss) and half.loss.dtype == torch.float32 and half.z_a.dtype == torch.bfloat16
    # The convolutions ran in bf16, the loss in float32: it equals, bit for bit, the float32 loss of the bf16 latents
    # (measured difference 0; a loss left in bf16 is 4e-5 to 5e-3 off at this seed).
    c = model.config
    again = barlow_twins_loss(
        half.z_a.float(), half.z_b.float(), c.lambda_offdiag, c.loss_variant, c.loss_eps, c.loss_scale
    )
    torch.testing.assert_close(half.loss, again.loss, rtol=1e-6, atol=0.0)
    # What the bf16 convolutions cost: |half - full| / full measured 1.3e-4 at this seed (the same with oneDNN held to
    # AVX2 or SSE4.1, ATen's default CPU capability, one thread or mkldnn off), and over 30 seeds of weights and
    # noise median 2.9e-3, worst 2.6e-2: a loss over 8 clips and 32 latents amplifies the rounding of some draws.
    # Tolerance about 2x that worst case.
    torch.testing.assert_close(half.loss, full, rtol=0.05, atol=0.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m(torch.zeros(2, 513, 126)), r"\(batch, segments, freq, frames\)"),
        (lambda m: m(torch.zeros(2, 1, 513, 126), torch.zeros(3, 1, 513, 126)), "same shape"),
        (lambda m: m(torch.zeros(1, 1, 513, 126), torch.zeros(1, 1, 513, 126)), "at least 2 samples"),
    ],
)
def test_bad_model_inputs_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call(BarlowSpeechForPreTraining(tiny_config()))


def test_classification_loss_and_label_count_check():
    model = BarlowSpeechForAudioClassification(tiny_config(num_labels=3)).eval()
    labels = torch.tensor([0, 1, 2, 1])
    out = model(_spectrograms(4), labels=labels)
    assert out.logits.shape == (4, 3) and torch.isfinite(out.loss)
    # the mean cross-entropy of these logits, without label smoothing or class weights
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels), rtol=1e-6, atol=0.0)
    log_likelihood = out.logits.log_softmax(-1)[torch.arange(4), labels]
    torch.testing.assert_close(out.loss, -log_likelihood.mean(), rtol=1e-5, atol=0.0)
    with pytest.raises(ValueError, match="one label per clip"):
        model(_spectrograms(4), labels=torch.tensor([0, 1]))


def _save_pretraining_checkpoint(path) -> None:
    config = tiny_config(id2label={0: "yes", 1: "no", 2: "up"}, label2id={"yes": 0, "no": 1, "up": 2})
    BarlowSpeechForPreTraining(config).save_pretrained(path)
    BarlowSpeechFeatureExtractor(mean=-3.0, std=2.5).save_pretrained(path)


def test_save_and_auto_class_round_trip_gives_identical_outputs(tmp_path):
    _save_pretraining_checkpoint(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert set(config["auto_map"]) >= {
        "AutoConfig",
        "AutoModel",
        "AutoModelForPreTraining",
        "AutoModelForAudioClassification",
    }
    assert {"configuration_barlow.py", "modeling_barlow.py"} <= {p.name for p in tmp_path.iterdir()}
    extractor = AutoFeatureExtractor.from_pretrained(tmp_path)
    assert isinstance(extractor, BarlowSpeechFeatureExtractor) and extractor.mean == -3.0
    x = extractor(tone_clips(2), sampling_rate=16000, return_tensors="pt")["input_values"]
    pretraining = AutoModelForPreTraining.from_pretrained(tmp_path).eval()
    encoder = AutoModel.from_pretrained(tmp_path).eval()
    assert isinstance(encoder, BarlowSpeechModel)
    torch.testing.assert_close(encoder(x).pooler_output, pretraining(x).pooler_output)
    classifier = AutoModelForAudioClassification.from_pretrained(tmp_path).eval()
    assert classifier.config.id2label[2] == "up"
    classifier.save_pretrained(tmp_path / "clf")
    reloaded = AutoModelForAudioClassification.from_pretrained(tmp_path / "clf").eval()
    torch.testing.assert_close(reloaded(x).logits, classifier(x).logits)


def test_an_encoder_loads_a_pretraining_checkpoint_without_reporting_its_heads_but_reports_foreign_keys(tmp_path):
    from safetensors.torch import load_file, save_file

    from barlow_speech.modeling_dino import DinoSpeechForPreTraining

    for name, model in (
        ("bt", BarlowSpeechForPreTraining(tiny_config())),
        ("dino", DinoSpeechForPreTraining(tiny_config(objective="dino"))),
    ):
        model.save_pretrained(tmp_path / name)
        _, info = AutoModel.from_pretrained(tmp_path / name, output_loading_info=True)
        assert info["unexpected_keys"] == set() and info["missing_keys"] == set(), (name, info)
        _, info = AutoModelForAudioClassification.from_pretrained(tmp_path / name, output_loading_info=True)
        assert info["unexpected_keys"] == set(), (name, info)  # the new head is missing, the heads dropped quietly
    weights = load_file(tmp_path / "bt" / "model.safetensors")
    save_file(
        {**weights, "classifier.weight": torch.zeros(2)}, tmp_path / "bt" / "model.safetensors", {"format": "pt"}
    )
    _, info = AutoModel.from_pretrained(tmp_path / "bt", output_loading_info=True)
    assert info["unexpected_keys"] == {"classifier.weight"}  # only the pretraining heads are expected to be dropped


REMOTE_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["barlow_speech"] = None  # the package must not be needed
    import numpy as np, torch
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification
    path, clips = sys.argv[1], np.load(sys.argv[2])
    extractor = AutoFeatureExtractor.from_pretrained(path, trust_remote_code=True)
    x = extractor(list(clips), sampling_rate=16000, return_tensors="pt")["input_values"]
    encoder = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
    classifier = AutoModelForAudioClassification.from_pretrained(path, trust_remote_code=True).eval()
    assert "barlow_speech" not in type(encoder).__module__, type(encoder).__module__
    with torch.no_grad():
        np.savez(sys.argv[3], pooled=encoder(x).pooler_output.numpy(), logits=classifier(x).logits.numpy())
    """
)


POOLINGS = [("global", 3), ("time_mean", 3), ("time_mean_std", 3), ("time_mean_std", [4, 3, 2])]  # bands per layer


@pytest.mark.parametrize("pooling, bands", POOLINGS)
def test_remote_code_loads_without_the_package_and_gives_identical_outputs(tmp_path, pooling, bands):
    checkpoint = tmp_path / "checkpoint"
    config = tiny_config(num_labels=3, pooling=pooling, pooling_bands=bands)
    BarlowSpeechForAudioClassification(config).save_pretrained(checkpoint)
    BarlowSpeechFeatureExtractor(mean=-2.0, std=3.0).save_pretrained(checkpoint)
    clips = np.stack(tone_clips(2, seconds=2.5))
    np.save(tmp_path / "clips.npy", clips)
    script = tmp_path / "load_remote.py"
    script.write_text(REMOTE_SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(checkpoint), str(tmp_path / "clips.npy"), str(tmp_path / "out.npz")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = np.load(tmp_path / "out.npz")
    extractor = BarlowSpeechFeatureExtractor.from_pretrained(checkpoint)
    x = extractor(list(clips), sampling_rate=16000, return_tensors="pt")["input_values"]
    local = BarlowSpeechForAudioClassification.from_pretrained(checkpoint).eval()
    with torch.no_grad():
        np.testing.assert_allclose(remote["logits"], local(x).logits.numpy(), atol=1e-5)
        np.testing.assert_allclose(remote["pooled"], local.barlow(x).pooler_output.numpy(), atol=1e-5)


def test_audio_classification_pipeline_labels_a_raw_waveform():
    config = tiny_config(id2label={0: "yes", 1: "no"}, label2id={"yes": 0, "no": 1})
    classifier = pipeline(
        "audio-classification",
        model=BarlowSpeechForAudioClassification(config).eval(),
        feature_extractor=BarlowSpeechFeatureExtractor(),
    )
    predictions = classifier(tone_clips(1, seconds=1.7)[0], top_k=2)
    assert {p["label"] for p in predictions} == {"yes", "no"}
    assert sum(p["score"] for p in predictions) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("pooling, bands", POOLINGS)
def test_pooling_modes_give_documented_shapes_per_clip_and_per_layer(pooling, bands):
    config = tiny_config(pooling=pooling, pooling_bands=bands)
    model = BarlowSpeechModel(config).eval()
    clips = [tone_clips(1, seconds=2.0)[0], tone_clips(1, seed=3)[0]]
    features = BarlowSpeechFeatureExtractor()(clips, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        out = model(**features, output_hidden_states=True)
        alone = [
            model(**BarlowSpeechFeatureExtractor()(c, sampling_rate=16000, return_tensors="pt")).pooler_output
            for c in clips
        ]
    assert out.pooler_output.shape == (2, config.hidden_size)
    assert [p.shape for p in out.pooled_hidden_states] == [(2, size) for size in config.layer_sizes]
    torch.testing.assert_close(out.pooled_hidden_states[-1], out.pooler_output)
    torch.testing.assert_close(torch.cat(alone), out.pooler_output, atol=1e-5, rtol=1e-4)
    # A two-segment clip is the mean of its segments' pooled vectors.
    segments = features["input_values"][0].unsqueeze(1)
    with torch.no_grad():
        per_segment = model(segments).pooler_output
    torch.testing.assert_close(out.pooler_output[0], per_segment.mean(0), atol=1e-5, rtol=1e-4)


def test_frequency_preserving_pooling_keeps_band_means_then_time_std():
    feature_map = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    pooled = pool_feature_map(feature_map, "time_mean_std", bands=2)
    bands = feature_map.reshape(2, 3, 2, 2, 5).mean(3)  # (n, channels, bands, frames)
    torch.testing.assert_close(pooled[:, :6], bands.mean(-1).flatten(1))
    torch.testing.assert_close(pooled[:, 6:], bands.std(-1, correction=0).flatten(1))
    torch.testing.assert_close(pool_feature_map(feature_map, "global"), feature_map.mean(dim=(2, 3)))


def test_a_band_constant_over_time_has_std_zero_and_gradient_zero_not_nan():
    one_frame = torch.randn(2, 3, 4, 1, requires_grad=True)  # std over one frame is 0
    silent = torch.zeros(2, 3, 4, 5)
    silent[:, 0] = torch.randn(2, 4, 5)  # channels 1-2 constant (0, as after a ReLU) over time
    silent.requires_grad_(True)
    for feature_map in (one_frame, silent):
        pooled = pool_feature_map(feature_map, "time_mean_std", bands=2)
        reference = feature_map.reshape(2, 3, 2, 2, -1).mean(3).std(-1, correction=0).flatten(1)
        torch.testing.assert_close(pooled[:, 6:], reference)
        pooled.square().sum().backward()
        assert torch.isfinite(feature_map.grad).all()
    assert one_frame.grad[..., 0].abs().sum() > 0  # the band means still pass a gradient


@pytest.mark.parametrize("pooling", ["global", "time_mean_std"])
def test_audio_classification_pipeline_and_head_honour_the_pooling(pooling):
    config = tiny_config(id2label={0: "yes", 1: "no"}, label2id={"yes": 0, "no": 1}, pooling=pooling)
    model = BarlowSpeechForAudioClassification(config).eval()
    assert model.classifier.in_features == config.hidden_size
    classify = pipeline("audio-classification", model=model, feature_extractor=BarlowSpeechFeatureExtractor())
    results = classify(tone_clips(3, seconds=1.5), batch_size=2, top_k=2)
    assert len(results) == 3 and all({r["label"] for r in result} == {"yes", "no"} for result in results)


class _ClipDataset(torch.utils.data.Dataset):
    def __init__(self, n: int):
        extractor = BarlowSpeechFeatureExtractor()
        self.x = extractor(tone_clips(n), sampling_rate=16000, return_tensors="pt")["input_values"]
        self.y = torch.arange(n) % 2

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> dict:
        return {"input_values": self.x[i], "labels": self.y[i]}


@pytest.mark.parametrize("freeze", [False, True])
def test_stock_trainer_fine_tunes_the_classifier(tmp_path, freeze):
    model = BarlowSpeechForAudioClassification(tiny_config(num_labels=2, freeze_encoder=freeze))
    encoder_before = {k: v.clone() for k, v in model.barlow.state_dict().items()}
    head_before = model.classifier.weight.clone()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        max_steps=3,
        learning_rate=1e-2,
        report_to="none",
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    result = Trainer(model=model, args=args, train_dataset=_ClipDataset(8)).train()
    assert np.isfinite(result.training_loss)
    assert not torch.equal(model.classifier.weight, head_before)
    encoder_after = model.barlow.state_dict()
    unchanged = all(torch.equal(encoder_before[k], encoder_after[k]) for k in encoder_before)
    assert unchanged == freeze  # linear evaluation leaves weights and BN statistics untouched


def _trainable(model: BarlowSpeechForAudioClassification) -> tuple[set[bool], bool]:
    """The `requires_grad` values of the encoder's parameters, and whether the head trains."""
    return {p.requires_grad for p in model.barlow.parameters()}, model.classifier.weight.requires_grad


def test_freeze_encoder_turns_off_the_encoder_gradients_after_the_constructor_and_every_from_pretrained(tmp_path):
    frozen = BarlowSpeechForAudioClassification(tiny_config(num_labels=2, freeze_encoder=True))
    assert _trainable(frozen) == ({False}, True)
    BarlowSpeechModel(tiny_config()).save_pretrained(tmp_path / "encoder")
    frozen.save_pretrained(tmp_path / "frozen")
    loads = [
        BarlowSpeechForAudioClassification.from_pretrained(tmp_path / "encoder", num_labels=2, freeze_encoder=True),
        AutoModelForAudioClassification.from_pretrained(tmp_path / "encoder", num_labels=2, freeze_encoder=True),
        BarlowSpeechForAudioClassification.from_pretrained(tmp_path / "frozen"),  # the flag saved in config.json
        BarlowSpeechForAudioClassification.from_pretrained(tmp_path / "frozen", output_loading_info=True)[0],
    ]
    for model in loads:
        assert model.config.freeze_encoder and _trainable(model) == ({False}, True)
    unfrozen = BarlowSpeechForAudioClassification.from_pretrained(tmp_path / "encoder", num_labels=2)
    assert _trainable(unfrozen) == ({True}, True)


def test_more_bands_than_frequency_rows_warns_that_features_repeat():
    feature_map = torch.randn(2, 8, 2, 5)  # 2 frequency rows
    with pytest.warns(UserWarning, match=r"pooling_bands=4 exceeds the 2 frequency rows .*identical copies"):
        pooled = pool_feature_map(feature_map, "time_mean", bands=4).view(2, 8, 4)
    assert torch.equal(pooled[:, :, 0], pooled[:, :, 1]) and torch.equal(pooled[:, :, 2], pooled[:, :, 3])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pool_feature_map(feature_map, "time_mean_std", bands=2)
        pool_feature_map(feature_map, "global", bands=16)  # global pooling has no bands


@pytest.mark.parametrize("head", [BarlowSpeechModel, BarlowSpeechForAudioClassification, BarlowSpeechForPreTraining])
def test_spectrograms_of_another_front_end_are_refused_naming_both(head):
    model = head(tiny_config(num_frequency_bins=32)).eval()
    mel = BarlowSpeechFeatureExtractor(**MEL_32)(tone_clips(2), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        model(mel["input_values"])  # the front end it was built for
        message = (
            r"trained on 32 frequency rows \(a 32-band log-mel front end, n_mels=32, .*\) but got 513 \(the default "
            r"513-bin linear STFT, n_fft=1024\): load the feature extractor saved with the model "
            r"\(AutoFeatureExtractor\.from_pretrained"
        )
        with pytest.raises(ValueError, match=message):
            model(_spectrograms(2))


def test_inference_runs_the_backbone_in_chunks_of_segments_with_the_same_outputs():
    torch.manual_seed(0)
    model = BarlowSpeechModel(tiny_config(max_segments_per_forward=3, pooling="time_mean_std", pooling_bands=2))
    clips = [tone_clips(1, seconds=7.5)[0], tone_clips(1, seconds=2.0, seed=1)[0]]
    inputs = BarlowSpeechFeatureExtractor()(clips, sampling_rate=16000, return_tensors="pt")  # 8 + 2 real segments
    batches = []
    model.embedder.register_forward_hook(lambda module, args, output: batches.append(len(args[0])))
    model.eval()
    with torch.no_grad():
        chunked = model(**inputs, output_hidden_states=True)
        model.config.max_segments_per_forward = None
        whole = model(**inputs, output_hidden_states=True)
    model.config.max_segments_per_forward = 3
    model(**inputs)  # gradients on: the graph of every segment is kept anyway, so one pass
    model.train()(**inputs)  # training: BatchNorm's statistics span the whole batch
    assert batches == [3, 3, 3, 1, 10, 10, 10]
    for name in ("pooler_output", "last_hidden_state", "hidden_states", "pooled_hidden_states"):
        torch.testing.assert_close(chunked[name], whole[name], atol=CHUNK_ATOL, rtol=CHUNK_RTOL)


def test_the_audio_classification_pipeline_runs_a_long_clip_in_chunks():
    config = tiny_config(id2label={0: "yes", 1: "no"}, label2id={"yes": 0, "no": 1}, max_segments_per_forward=2)
    model = BarlowSpeechForAudioClassification(config).eval()
    batches = []
    model.barlow.embedder.register_forward_hook(lambda module, args, output: batches.append(len(args[0])))
    classifier = pipeline("audio-classification", model=model, feature_extractor=BarlowSpeechFeatureExtractor())
    chunked = classifier(tone_clips(1, seconds=4.5)[0], top_k=2)
    model.config.max_segments_per_forward = None
    whole = classifier(tone_clips(1, seconds=4.5)[0], top_k=2)
    assert batches == [2, 2, 1, 5]
    assert [p["label"] for p in chunked] == [p["label"] for p in whole]
    for ours, reference in zip(chunked, whole):
        assert ours["score"] == pytest.approx(reference["score"], abs=CHUNK_ATOL)


def test_pooler_layers_make_pooler_output_the_chosen_layers_pooled_vectors_and_the_head_reads_them(tmp_path):
    config = tiny_config(pooling="time_mean_std", pooling_bands=2, pooler_layers=[0, -1], num_labels=4)
    assert config.pooled_layers == [0, 2] and config.hidden_size == config.layer_sizes[0] + config.layer_sizes[2]
    model = BarlowSpeechForAudioClassification(config).eval()
    assert model.classifier.in_features == config.hidden_size
    extractor = BarlowSpeechFeatureExtractor(n_fft=128, hop_length=64)
    inputs = extractor(tone_clips(3, seconds=2.5), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        outputs = model.barlow(**inputs, output_hidden_states=True)
        expected = torch.cat([outputs.pooled_hidden_states[0], outputs.pooled_hidden_states[2]], dim=-1)
        torch.testing.assert_close(outputs.pooler_output, expected)
        torch.testing.assert_close(model.barlow(**inputs).pooler_output, expected)  # without the hidden states
        model.save_pretrained(tmp_path)
        reloaded = BarlowSpeechForAudioClassification.from_pretrained(tmp_path).eval()
        assert reloaded.config.pooler_layers == [0, -1]
        torch.testing.assert_close(reloaded(**inputs).logits, model(**inputs).logits)
    default = BarlowSpeechModel(tiny_config(pooling="time_mean_std", pooling_bands=2)).eval()
    with torch.no_grad():
        outputs = default(**inputs, output_hidden_states=True)
    torch.testing.assert_close(outputs.pooler_output, outputs.pooled_hidden_states[-1])  # None: the last stage
