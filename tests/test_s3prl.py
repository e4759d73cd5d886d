"""The s3prl upstream: variable-length lists in, one frame grid and width for every layer, padding-free features."""

import math

import numpy as np
import pytest
import torch

from barlow_speech.s3prl import UpstreamExpert, barlow_speech_local
from tests.factories import tiny_checkpoint, tone_clips

LENGTHS = (4800, 24000, 35200)  # 0.3 s, 1.5 s, 2.2 s


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_checkpoint(tmp_path_factory.mktemp("s3prl"))


@pytest.fixture(scope="module")
def upstream(checkpoint):
    return UpstreamExpert(checkpoint).eval()


def _wavs() -> list[torch.Tensor]:
    clips = tone_clips(len(LENGTHS), max(LENGTHS) / 16000)
    return [torch.from_numpy(clip[:length]) for clip, length in zip(clips, LENGTHS)]


def test_every_layer_shares_frames_and_width(upstream):
    with torch.no_grad():
        outputs = upstream(_wavs())
    hidden_states = outputs["hidden_states"]
    assert len(hidden_states) == 3  # stem + the tiny ResNet's two stages
    frames = math.ceil(max(LENGTHS) / upstream.get_downsample_rates("hidden_states"))
    assert {tuple(state.shape) for state in hidden_states} == {(len(LENGTHS), frames, upstream.hidden_size)}
    assert outputs["last_hidden_state"] is hidden_states[-1]
    assert upstream.hidden_size == 16 * upstream.model.config.layer_bands[-1]  # widest layer: channels x bands


def test_frames_follow_the_downsample_rate_and_are_zero_after_each_clip(upstream):
    rate = upstream.get_downsample_rates("hidden_states")
    assert rate == 512  # the stem's stride: 4 STFT hops of 128 samples (32 ms)
    with torch.no_grad():
        hidden_states = upstream(_wavs())["hidden_states"]
    for index, length in enumerate(LENGTHS):
        frames = len(range(0, length, rate))  # what s3prl's S3PRLUpstream expects
        for state in hidden_states:
            assert state[index, :frames].abs().sum(-1).gt(0).all()
            assert state[index, frames:].eq(0).all()


def test_padding_does_not_change_a_clips_features(upstream):
    wavs = _wavs()
    rate = upstream.get_downsample_rates("hidden_states")
    with torch.no_grad():
        batched = upstream(wavs)["hidden_states"]
        for index, wav in enumerate(wavs):
            alone = upstream([wav])["hidden_states"]
            frames = len(range(0, wav.shape[0], rate))
            for layer_alone, layer_batched in zip(alone, batched):
                assert layer_alone.shape[1] == frames
                torch.testing.assert_close(layer_alone[0], layer_batched[index, :frames], atol=1e-5, rtol=1e-5)


def test_gradients_reach_the_encoder_when_fine_tuned(checkpoint):
    upstream = UpstreamExpert(checkpoint).eval()
    upstream(_wavs()[:1])["last_hidden_state"].sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in upstream.parameters())


def test_hub_entry_and_model_config_yaml(checkpoint, tmp_path):
    config = tmp_path / "upstream.yaml"
    config.write_text("bands: 2\nchunk_segments: 1\n")
    upstream = barlow_speech_local(checkpoint, str(config), refresh=False)
    assert isinstance(upstream, UpstreamExpert)
    assert upstream.hidden_size == 32 and upstream.layer_bands == [4, 4, 2] and upstream.chunk_segments == 1
    config.write_text("layers: 2\n")
    with pytest.raises(ValueError, match=r"sets \['layers'\].*only \['bands', 'chunk_segments'\]"):
        UpstreamExpert(checkpoint, str(config))


@pytest.mark.slow
def test_s3prl_featurizer_takes_the_weighted_sum(checkpoint, monkeypatch):
    """Through s3prl's own S3PRLUpstream and Featurizer (needs `pip install s3prl` and a torchaudio matching torch)."""
    s3prl_nn = pytest.importorskip("s3prl.nn")
    from s3prl import hub

    monkeypatch.setattr(hub, "barlow_speech_local", barlow_speech_local, raising=False)
    model = s3prl_nn.S3PRLUpstream("barlow_speech_local", path_or_url=checkpoint).eval()
    featurizer = s3prl_nn.Featurizer(model)
    wavs = torch.from_numpy(np.stack(tone_clips(2, 1.5)))
    with torch.no_grad():
        all_hs, all_lens = model(wavs, torch.tensor([16000, 24000]))
        hs, hs_len = featurizer(all_hs, all_lens)
    assert hs.shape == (2, 47, featurizer.output_size) and hs_len.tolist() == [32, 47]
