"""Frame times of every hidden state, per-frame features, and interpolation onto the absolute time grid."""

import math

import pytest
import torch

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechModel
from barlow_speech.frames import frame_features, resample_frames, time_strides
from barlow_speech.modeling_barlow import pool_feature_map
from tests.factories import tiny_config, tone_clips


@pytest.mark.parametrize("downsample_in_first_stage", [False, True])
def test_time_strides_give_each_hidden_states_frame_count(downsample_in_first_stage):
    config = tiny_config()
    config.backbone_config.downsample_in_first_stage = downsample_in_first_stage
    model = BarlowSpeechModel(config).eval()
    extractor = BarlowSpeechFeatureExtractor()
    features = extractor(tone_clips(1), sampling_rate=16000, return_tensors="pt")
    states = model(**features, output_hidden_states=True).hidden_states
    frames = [state.shape[-1] for state in states]
    # "same"-padded strided layers: frame j over STFT frame stride * j, so ceil(126 / stride) frames
    assert frames == [math.ceil(extractor.num_frames / stride) for stride in time_strides(model)]
    assert time_strides(model)[-1] == (16 if downsample_in_first_stage else 8)


def test_frame_features_keep_bands_and_average_to_time_mean_pooling():
    feature_map = torch.randn(3, 8, 17, 5)
    frames = frame_features(feature_map, bands=4)
    assert frames.shape == (3, 5, 32)
    torch.testing.assert_close(frames.mean(dim=1), pool_feature_map(feature_map, "time_mean", 4))


def test_resample_frames_maps_segment_frames_to_absolute_times():
    segment_samples, frame_samples, per_segment = 1000, 256, 4  # centres 0, 256, 512, 768 in each segment
    centres = torch.arange(3)[:, None] * segment_samples + torch.arange(per_segment) * frame_samples
    frames = centres.float()[None, :, :, None].repeat(2, 1, 1, 1)  # each frame's value is its own centre time
    frames[1, 2] = float("nan")  # clip 1 has 2 segments: its third is padding and must never be read
    grid = torch.arange(0, 3000, 50)
    out = resample_frames(frames, torch.tensor([3, 2]), frame_samples, segment_samples, grid)[..., 0]
    inside = grid <= 2768
    # linear in time, across segment boundaries too (768 -> 1000 -> 1256 ...)
    torch.testing.assert_close(out[0, inside], grid[inside].float())
    torch.testing.assert_close(out[0, ~inside], torch.full_like(out[0, ~inside], 2768.0))
    assert not out[1].isnan().any()
    torch.testing.assert_close(out[1, grid <= 1768], grid[grid <= 1768].float())
    torch.testing.assert_close(out[1, grid > 1768], torch.full_like(out[1, grid > 1768], 1768.0))
