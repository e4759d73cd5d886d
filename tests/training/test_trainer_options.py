"""BarlowTwinsTrainer options whose effect a loss curve does not show: `push_to_hub`, `--sync_batchnorm`,
`--channels_last` and `--noise_dir`. Each test fails when its option is ignored."""

import json
import logging
import textwrap

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn
from transformers import TrainingArguments

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining
from barlow_speech.data.synthetic import load_synthetic
from barlow_speech.training.augment import AddNoise
from barlow_speech.training.pretrain import build_trainer, parse_arguments
from barlow_speech.training.trainer import BarlowTwinsArguments, BarlowTwinsTrainer
from tests.factories import tiny_config, tiny_training_arguments
from tests.hub_server import HubServer
from tests.test_hub import REPO_ROOT, _run_isolated


@pytest.fixture(scope="module")
def corpus():
    return load_synthetic(num_clips=16, seed=0, split="train")


def _trainer(tmp_path, corpus, max_steps=1, **barlow) -> BarlowTwinsTrainer:
    torch.manual_seed(0)
    return BarlowTwinsTrainer(
        model=BarlowSpeechForPreTraining(tiny_config()),
        args=tiny_training_arguments(tmp_path, max_steps),
        train_dataset=corpus,
        feature_extractor=BarlowSpeechFeatureExtractor(),
        barlow_args=BarlowTwinsArguments(**barlow),
    )


# Pushes a tiny BarlowTwinsTrainer's model through HF_ENDPOINT with the trainer's push_to_hub.
PUSH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining
    from barlow_speech.training.trainer import BarlowTwinsTrainer
    from tests.factories import tiny_config, tiny_training_arguments
    args = tiny_training_arguments(sys.argv[1], max_steps=1)
    args.hub_model_id = "org/bt-trainer"
    torch.manual_seed(0)
    model = BarlowSpeechForPreTraining(tiny_config())
    trainer = BarlowTwinsTrainer(model=model, args=args, feature_extractor=BarlowSpeechFeatureExtractor())
    info = trainer.push_to_hub()
    print(json.dumps({"oid": info.oid}))
    """
)


def test_push_to_hub_uploads_the_remote_code_projector_and_card_with_the_weights(tmp_path):
    # The client runs in its own Python, as in tests/test_hub.py: this process set HF_HUB_OFFLINE=1 (conftest) and
    # huggingface_hub reads its endpoint and offline switch at import.
    run = tmp_path / "run"
    with HubServer() as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": hub.token}
        report = _run_isolated(PUSH_SCRIPT, [run], tmp_path, env=env, pythonpath=str(REPO_ROOT))
        received = hub.files("org/bt-trainer")
    assert report["oid"] == hub.repos["org/bt-trainer"].branches["main"]
    # stock push_to_hub would upload only the weights, config, preprocessor and a generic card
    ours = {"modeling_barlow.py", "feature_extraction_barlow.py", "configuration_barlow.py", "projector.safetensors"}
    assert ours | {"model.safetensors", "config.json", "preprocessor_config.json", "README.md"} <= set(received)
    assert received["model.safetensors"] == (run / "model.safetensors").read_bytes()
    assert "AutoModel" in json.loads(received["config.json"])["auto_map"]
    assert "org/bt-trainer" in received["README.md"].decode()


def _world_of_two(monkeypatch) -> None:
    """What `self.args.world_size` reads under a 2-process launch (the rest of the run stays one CPU process)."""
    monkeypatch.setattr(TrainingArguments, "world_size", property(lambda self: 2))


def _batch_norms(model: nn.Module) -> list[type]:
    return [type(m) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@pytest.mark.parametrize("sync_batchnorm", [True, False])
def test_sync_batchnorm_under_several_cpu_processes_warns_that_it_needs_cuda_and_keeps_batchnorm(
    tmp_path, corpus, monkeypatch, caplog, sync_batchnorm
):
    _world_of_two(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="barlow_speech.training.trainer"):
        trainer = _trainer(tmp_path, corpus, sync_batchnorm=sync_batchnorm)
    warned = [r.getMessage() for r in caplog.records if "SyncBatchNorm needs CUDA" in r.getMessage()]
    assert len(warned) == (1 if sync_batchnorm else 0)
    assert nn.SyncBatchNorm not in _batch_norms(trainer.model)  # gloo has no SyncBatchNorm: nothing is converted
    assert len(_batch_norms(trainer.model)) > 0


def test_sync_batchnorm_does_nothing_in_one_process(tmp_path, corpus, caplog):
    with caplog.at_level(logging.WARNING, logger="barlow_speech.training.trainer"):
        trainer = _trainer(tmp_path, corpus, sync_batchnorm=True)
    assert "SyncBatchNorm" not in caplog.text and nn.SyncBatchNorm not in _batch_norms(trainer.model)


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_runs_the_step_in_channels_last_memory_format(tmp_path, corpus, channels_last):
    trainer = _trainer(tmp_path, corpus, channels_last=channels_last)
    stem = trainer.model.barlow.embedder.embedder.convolution
    seen = []
    # The stem's output has many channels, so its layout shows which format the step ran in (the views have one
    # channel, for which both formats are the same strides).
    handle = stem.register_forward_hook(lambda module, inputs, output: seen.append(output))
    trainer.train()
    handle.remove()
    assert len(seen) == 2  # one step, two views
    for output in seen:
        assert output.shape[1] > 1
        assert output.is_contiguous(memory_format=torch.channels_last) == channels_last
        assert output.is_contiguous() != channels_last
    # weights whose two layouts differ: more than one input channel and a kernel wider than 1 x 1
    kernels = [
        m.weight
        for m in trainer.model.modules()
        if isinstance(m, nn.Conv2d) and m.in_channels > 1 and m.kernel_size != (1, 1)
    ]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last) == channels_last for w in kernels)


def test_noise_dir_fills_the_noise_bank_of_the_pretraining_views(tmp_path):
    rng = np.random.default_rng(0)
    noise = (0.3 * rng.standard_normal(4000)).astype(np.float32)
    (tmp_path / "noise").mkdir()
    sf.write(tmp_path / "noise" / "recorded.wav", noise, 16000)
    flags = ["--output_dir", str(tmp_path / "out"), "--backbone", "tiny", "--num_clips", "8"]
    parsed = parse_arguments([*flags, "--normalization_clips", "4", "--noise_dir", str(tmp_path / "noise")])
    trainer = build_trainer(parsed.model, parsed.data, parsed.barlow, parsed.training, parsed.dino)
    banks = [m.noise_bank for m in trainer.augmentation.modules() if isinstance(m, AddNoise)]
    stored, _ = sf.read(tmp_path / "noise" / "recorded.wav", dtype="float64")
    expected = stored / np.sqrt(np.mean(stored**2))  # load_noise_bank scales each file to unit RMS
    assert len(banks) == 1 and banks[0] is not None
    np.testing.assert_allclose(banks[0].numpy(), expected, rtol=1e-5, atol=1e-6)
