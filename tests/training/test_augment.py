"""Two-view augmentations: determinism under a seed, views differ, shapes/dtypes kept, no NaN, CUDA."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pytest
import soundfile
import torch
import torch.nn.functional as F

from barlow_speech.training.augment import (
    AddNoise,
    FrequencyMask,
    MixupBYOLA,
    MultiCropAugmentation,
    MultiCropConfig,
    RandomEqualizer,
    RandomGain,
    RandomResizedCrop,
    RandomReverb,
    RandomSpeed,
    RandomTimeShift,
    TimeMask,
    TwoViewAugmentation,
    TwoViewAugmentationConfig,
    coloured_noise,
    equalize,
    load_noise_bank,
    log_mixup_exp,
    mix_at_snr,
    random_crops,
    resample_speed,
    resized_crop,
    reverberate,
    room_impulse_responses,
    time_shift,
)

SAMPLES = 4000


def make_waveforms(batch: int = 6, samples: int = SAMPLES, seed: int = 0, device: str = "cpu") -> torch.Tensor:
    """Harmonic tones with different pitches, so every row is distinct: (batch, samples)."""
    t = torch.arange(samples) / 16000.0
    f0 = 100.0 + 40.0 * torch.arange(batch)[:, None]
    rng = torch.Generator().manual_seed(seed)
    tones = sum(torch.sin(2 * math.pi * k * f0 * t + torch.rand(batch, 1, generator=rng)) / k for k in range(1, 6))
    return (0.1 * tones).float().to(device)


def to_spectrogram(waveforms: torch.Tensor) -> torch.Tensor:
    """Log-magnitude STFT (n_fft 256, hop 64): (n, samples) -> (n, 1, 129, frames)."""
    window = torch.hann_window(256, device=waveforms.device)
    spec = torch.stft(waveforms, 256, 64, window=window, return_complex=True).abs()
    return torch.log(spec + 1e-5).unsqueeze(1)


def make_spectrograms(batch: int = 4, freq: int = 33, frames: int = 20) -> torch.Tensor:
    return torch.randn(batch, 1, freq, frames, generator=torch.Generator().manual_seed(1))


WAVEFORM_MODULES = [
    lambda seed: RandomTimeShift(400, seed=seed),
    lambda seed: RandomTimeShift(400, circular=False, seed=seed),
    lambda seed: RandomGain((-6.0, 6.0), seed=seed),
    lambda seed: AddNoise((0.0, 20.0), colours=("white", "pink", "brown"), seed=seed),
    lambda seed: RandomSpeed((0.8, 1.2), seed=seed),
    lambda seed: RandomEqualizer(3.0, seed=seed),
]
SPECTROGRAM_MODULES = [
    lambda seed: FrequencyMask(8, 2, seed=seed),
    lambda seed: TimeMask(5, 2, mask_value=0.0, seed=seed),
    lambda seed: RandomResizedCrop(seed=seed),
]


@pytest.mark.parametrize("factory", WAVEFORM_MODULES)
def test_waveform_modules_are_seeded_shape_preserving_and_random_per_example(factory):
    x = make_waveforms()
    out = factory(3)(x)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert torch.equal(out, factory(3)(x)), "same seed must give the same output"
    assert not torch.equal(out, factory(4)(x)), "another seed must give another output"
    assert not torch.allclose(out, x)
    change = (out - x).abs().mean(dim=1) / x.abs().mean(dim=1)
    assert change.std() > 0, "parameters must be drawn per example, not once per batch"


@pytest.mark.parametrize("factory", SPECTROGRAM_MODULES)
def test_spectrogram_modules_are_seeded_and_shape_preserving(factory):
    x = make_spectrograms()
    out = factory(3)(x)
    assert out.shape == x.shape and out.dtype == x.dtype and torch.isfinite(out).all()
    assert torch.equal(out, factory(3)(x))
    assert not torch.equal(out, x)


def test_a_generator_argument_overrides_the_module_seed():
    x = make_waveforms()
    module = RandomGain(seed=1)
    a = module(x, generator=torch.Generator().manual_seed(9))
    b = RandomGain(seed=2)(x, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)


def test_probability_zero_is_identity_and_probability_is_per_example():
    x = make_waveforms(batch=64)
    assert torch.equal(RandomGain(p=0.0, seed=0)(x), x)
    out = RandomGain((6.0, 6.0), p=0.5, seed=0)(x)
    changed = ~torch.isclose(out, x).all(dim=1)
    assert 10 < int(changed.sum()) < 54


def test_time_shift_circular_rolls_and_zero_fill_pads():
    x = torch.arange(10.0).repeat(2, 1)
    shifts = torch.tensor([3, -2])
    assert torch.equal(time_shift(x, shifts, circular=True)[0], torch.roll(x[0], 3))
    assert torch.equal(time_shift(x, shifts, circular=True)[1], torch.roll(x[1], -2))
    zero = time_shift(x, shifts, circular=False)
    assert torch.equal(zero[0], torch.tensor([0, 0, 0, 0, 1, 2, 3, 4, 5, 6.0]))
    assert torch.equal(zero[1], torch.tensor([2, 3, 4, 5, 6, 7, 8, 9, 0, 0.0]))


def test_mix_at_snr_reaches_the_requested_snr():
    x = make_waveforms()
    noise = coloured_noise(x.shape, 1.0, x.device, torch.Generator().manual_seed(0))
    snr = torch.linspace(-5.0, 30.0, x.shape[0])
    mixed = mix_at_snr(x, noise, snr)
    measured = 10 * torch.log10(x.pow(2).mean(1) / (mixed - x).pow(2).mean(1))
    assert torch.allclose(measured, snr, atol=1e-3)


def test_noise_colours_set_the_spectral_slope_per_example():
    exponents = torch.tensor([0.0, 1.0, 2.0]).repeat_interleave(4)
    noise = coloured_noise((12, 8192), exponents, torch.device("cpu"), torch.Generator().manual_seed(0))
    power = torch.fft.rfft(noise).abs().pow(2).reshape(3, 4, -1).mean(1)
    low_over_high = power[:, 10:100].mean(1) / power[:, 2000:4000].mean(1)
    assert 0.5 < low_over_high[0] < 2.0, "white is flat"
    assert 10 < low_over_high[1] < low_over_high[2], "pink tilts, brown tilts more"
    assert torch.allclose(noise.std(dim=1), torch.ones(12), atol=1e-4)


def test_equalizer_applies_the_synthetic_corpus_channel_model_to_the_spectrum():
    from barlow_speech.data.synthetic import _envelope_db

    x = torch.randn(3, 16000, generator=torch.Generator().manual_seed(0))
    gains = 3.0 * torch.randn(3, 7, generator=torch.Generator().manual_seed(1))
    points = torch.logspace(math.log10(125.0), math.log10(8000.0), 7)
    out = equalize(x, gains, 16000, points)
    measured_db = 20 * torch.log10(torch.fft.rfft(out).abs() / torch.fft.rfft(x).abs())
    expected_db = _envelope_db(np.fft.rfftfreq(16000, 1 / 16000), gains.double().numpy())
    assert np.abs(measured_db.numpy() - expected_db).max() < 0.01  # measured 3e-4 dB (float32 FFTs)
    assert torch.allclose(equalize(x, torch.zeros(3, 7), 16000, points), x, atol=1e-5)
    assert torch.allclose(RandomEqualizer(0.0, seed=0)(x), x, atol=1e-5)
    uneven = torch.tensor([100.0, 200.0, 1000.0])  # any ascending points: 200 Hz gets its own gain
    ramp = equalize(x[:1], torch.tensor([[0.0, 6.0, 0.0]]), 16000, uneven)
    gain_at_200 = 20 * torch.log10(torch.fft.rfft(ramp)[0, 200].abs() / torch.fft.rfft(x[:1])[0, 200].abs())
    assert abs(gain_at_200.item() - 6.0) < 0.01
    half = equalize(x.to(torch.bfloat16), gains, 16000, points)
    assert half.dtype == torch.bfloat16 and torch.allclose(half.float(), out, atol=0.05 * out.abs().max().item())


def test_rooms_decay_60_db_at_rt60_with_the_drawn_direct_to_reverberant_ratio():
    rt60, drr = torch.tensor([0.2, 0.5] * 64), torch.tensor([0.0, 6.0] * 64)
    rooms = room_impulse_responses(rt60, drr, 12000, 16000, torch.Generator().manual_seed(0))
    assert rooms.shape == (128, 12000) and torch.all(rooms[:, 0] == 1.0)
    tail_db = 10 * torch.log10(rooms[:, 1:].square().sum(1))
    assert torch.allclose(tail_db, -drr, atol=1e-3)
    energy = rooms[:, 1:11201].square().reshape(64, 2, 70, 160).mean(dim=(0, 3))  # per room kind, 10-ms windows
    for kind, seconds in enumerate((0.2, 0.5)):  # decay over one RT60, first 10 ms vs 10 ms at RT60: -60 dB
        at_rt60 = int(seconds * 100)
        decay_db = 10 * torch.log10(energy[kind, at_rt60] / energy[kind, 0])
        assert abs(decay_db.item() + 60.0) < 3.0


def test_reverberation_keeps_level_and_length_and_a_dry_room_keeps_the_signal():
    x = make_waveforms(samples=8000)
    impulse = torch.zeros(6, 400)
    impulse[:, 0] = 1.0
    assert torch.allclose(reverberate(x, impulse), x, atol=1e-5)  # a room with no tail
    wet = RandomReverb((0.3, 0.6), seed=0)(x)
    assert wet.shape == x.shape and torch.isfinite(wet).all()
    assert torch.allclose(wet.square().mean(1), x.square().mean(1), rtol=1e-4)  # the RMS level is kept
    assert (wet - x).square().mean() > 0.1 * x.square().mean()  # and the room changed the signal
    delayed = torch.zeros(1, 8000)
    delayed[0, 7999] = 1.0  # a click at the end: the tail past the clip is cut, not wrapped to the start
    room = room_impulse_responses(torch.tensor([0.5]), torch.tensor([0.0]), 4000, 16000, None)
    assert reverberate(delayed, room)[0, :7999].abs().max() < 1e-6  # FFT round-off only (measured 3.5e-8)
    assert torch.equal(RandomReverb(p=0.0)(x), x)
    with pytest.raises(ValueError, match="rt60_s"):
        RandomReverb((0.8, 0.1))
    views = TwoViewAugmentation(TwoViewAugmentationConfig(seed=0, reverb_prob=0.5))
    assert any(isinstance(m, RandomReverb) for m in views.waveform_augmentations)
    assert not any(isinstance(m, RandomReverb) for m in TwoViewAugmentation().waveform_augmentations)


def test_speed_rate_one_is_identity_and_faster_speed_raises_pitch():
    x = make_waveforms(batch=1, samples=8000)
    assert torch.allclose(resample_speed(x, torch.tensor([1.0])), x, atol=1e-6)
    fast = resample_speed(x, torch.tensor([1.25]))
    peak = lambda w: torch.fft.rfft(w[0, :4000]).abs().argmax()  # noqa: E731
    assert abs(peak(fast) / peak(x) - 1.25) < 0.05


def test_noise_bank_is_loaded_resampled_and_used(tmp_path):
    rng = np.random.default_rng(0)
    soundfile.write(tmp_path / "hum.wav", 0.3 * np.sin(np.arange(8000) * 0.2), 8000)  # resampled to 16 kHz
    soundfile.write(tmp_path / "stereo.wav", rng.standard_normal((16000, 2)) * 0.1, 16000)
    (tmp_path / "README.md").write_text("not audio")
    bank = load_noise_bank(tmp_path)
    assert bank.dtype == torch.float32 and bank.shape == (16000 + 16000,)
    assert torch.allclose(bank[:16000].pow(2).mean().sqrt(), torch.tensor(1.0), atol=1e-2)
    x = make_waveforms()
    out = AddNoise((10.0, 10.0), noise_bank=bank, seed=0)(x)
    assert torch.allclose(
        10 * torch.log10(x.pow(2).mean(1) / (out - x).pow(2).mean(1)), torch.full((6,), 10.0), atol=1e-3
    )


def test_unreadable_noise_files_are_reported_and_skipped(tmp_path, caplog):
    soundfile.write(tmp_path / "hum.wav", 0.3 * np.sin(np.arange(16000) * 0.2), 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    with caplog.at_level(logging.WARNING):
        bank = load_noise_bank(tmp_path)
    assert bank.shape == (16000,)
    assert "broken.wav" in caplog.text and "noise bank: skipped 1 of 2 files" in caplog.text
    (tmp_path / "hum.wav").unlink()
    with pytest.raises(FileNotFoundError, match="no usable noise.*cannot decode"):
        load_noise_bank(tmp_path)


def test_noise_bank_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_noise_bank(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no .wav"):
        load_noise_bank(tmp_path)


def test_resized_crop_identity_box_returns_the_input_and_half_box_zooms_into_time():
    x = torch.arange(20.0).repeat(2, 1, 9, 1)  # value = frame index
    same = resized_crop(x, torch.tensor([[0, 0, 9, 20]] * 2), canvas=(9, 20))
    assert torch.allclose(same, x, atol=1e-4)
    half = resized_crop(x, torch.tensor([[0, 0, 9, 10]] * 2), canvas=(9, 20), mode="bilinear")
    assert torch.allclose(half[0, 0, 4], torch.linspace(0.0, 9.0, 20), atol=1e-4)
    padded = resized_crop(x, torch.tensor([[0, 0, 9, 30]] * 2), canvas=(9, 30), mode="bilinear")
    assert torch.allclose(padded[0, 0, 4, [0, -1]], torch.zeros(2), atol=1e-4), "canvas margins are zeros"


def test_resized_crop_matches_byol_a_canvas_crop_and_interpolate():
    """Reference: nttcslab/byol-a RandomResizeCrop.forward (explicit zero canvas, crop, F.interpolate)."""
    x = make_spectrograms(batch=5, freq=16, frames=24)
    canvas = (16, 36)
    boxes = torch.tensor([[0, 0, 16, 36], [0, 6, 16, 24], [2, 3, 9, 30], [5, 10, 11, 13], [0, 20, 16, 16]])
    ours = resized_crop(x, boxes, canvas, mode="bilinear")
    for k, (top, left, h, w) in enumerate(boxes.tolist()):
        area = torch.zeros(1, 1, *canvas)
        area[..., :, 6:30] = x[k]  # input at the centre: (36 - 24) // 2 = 6
        ref = F.interpolate(
            area[..., top : top + h, left : left + w], size=(16, 24), mode="bilinear", align_corners=True
        )
        assert torch.allclose(ours[k], ref[0], atol=1e-5), k


def test_log_mixup_exp_mixes_in_linear_space():
    x, z = torch.full((2, 1, 3, 3), math.log(2.0)), torch.full((2, 1, 3, 3), math.log(4.0))
    out = log_mixup_exp(x, z, torch.tensor([0.0, 0.25]))
    assert torch.allclose(out[0], x[0]) and torch.allclose(out[1], torch.full((1, 3, 3), math.log(2.5)))


def _marked_views(clips: int, views: int) -> torch.Tensor:
    """Crop-major `(views * clips, 1, clips, 4)` log-spectrograms: silence (-30) but a 0-dB row at clip c's bin."""
    x = torch.full((views * clips, 1, clips, 4), -30.0)
    for row in range(views * clips):
        x[row, 0, row % clips] = 0.0
    return x


def test_mixup_partners_are_other_clips_of_the_batch_and_it_keeps_no_state():
    clips, views = 5, 2
    x = _marked_views(clips, views)
    mixup = MixupBYOLA(ratio=0.4)
    out = mixup(x, generator=torch.Generator().manual_seed(0), clips=clips)
    loud = out.exp().squeeze(1).amax(-1) > 1e-6  # (rows, bins): the bins of the clip and of its partner
    for row in range(views * clips):
        own = row % clips
        partners = [b for b in torch.nonzero(loud[row]).flatten().tolist() if b != own]
        assert loud[row, own] and len(partners) == 1, (row, partners)  # mixed with one other clip, never itself
    assert mixup.state_dict() == {} and not list(mixup.buffers())  # nothing for a checkpoint to carry
    again = MixupBYOLA(ratio=0.4)(x, generator=torch.Generator().manual_seed(0), clips=clips)
    torch.testing.assert_close(out, again)  # the partners come from the generator alone
    one_clip = _marked_views(1, views)
    assert torch.equal(mixup(one_clip, clips=1), one_clip)  # no other clip to mix with
    with pytest.raises(ValueError, match="7 rows are not views of 5 clips"):
        mixup(make_spectrograms(batch=7), clips=5)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        RandomGain()(torch.zeros(2, 1, 100))
    with pytest.raises(ValueError, match=r"unsqueeze\(1\)"):
        FrequencyMask(3)(torch.zeros(2, 10, 10))
    with pytest.raises(ValueError, match="min <= max"):
        RandomGain((6.0, -6.0))
    with pytest.raises(ValueError, match="colours"):
        AddNoise(colours=("purple",))
    for bad in ({"num_points": 1}, {"gain_db_std": -3.0}, {"low_hz": 8000.0, "high_hz": 125.0}, {"high_hz": 9000.0}):
        with pytest.raises(ValueError, match="num_points >= 2"):
            RandomEqualizer(**{"gain_db_std": 3.0, **bad})
    with pytest.raises(ValueError, match="eq_db_std"):
        TwoViewAugmentation(TwoViewAugmentationConfig(eq_db_std=-3.0))
    with pytest.raises(ValueError, match="one row per waveform"):
        equalize(torch.zeros(2, 100), torch.zeros(2, 3), 16000, torch.tensor([125.0, 1000.0]))


def run_two_views(device: str, seed: int = 0, batch: int = 6):
    aug = TwoViewAugmentation(
        TwoViewAugmentationConfig(
            seed=seed, speed_rates=(0.9, 1.1), eq_db_std=3.0, reverb_prob=0.5, freq_mask_width=10, time_mask_width=8
        )
    )
    x = make_waveforms(batch=batch, device=device)
    first = aug(x, to_spectrogram)
    second = aug(x, to_spectrogram)  # mixup memory is full now: exercises every stage
    return x, first, second


def check_two_views(device: str) -> None:
    x, (a, b), (c, d) = run_two_views(device)
    expected = to_spectrogram(x).shape
    for view in (a, b, c, d):
        assert view.shape == expected and view.dtype == torch.float32 and view.device == x.device
        assert torch.isfinite(view).all()
    assert all(not torch.allclose(u[i], v[i]) for u, v in ((a, b), (c, d)) for i in range(x.shape[0])), "views differ"
    _, (a2, b2), (c2, d2) = run_two_views(device)
    assert torch.equal(a, a2) and torch.equal(b, b2) and torch.equal(c, c2) and torch.equal(d, d2), "seeded"
    _, (a3, _), _ = run_two_views(device, seed=1)
    assert not torch.equal(a, a3)


def test_two_views_differ_keep_shapes_and_are_deterministic_under_a_seed():
    check_two_views("cpu")
    stages = TwoViewAugmentation(TwoViewAugmentationConfig(eq_db_std=3.0, reverb_prob=0.5)).waveform_augmentations
    names = ["RandomTimeShift", "RandomGain", "RandomEqualizer", "RandomReverb", "AddNoise"]
    assert [type(m).__name__ for m in stages] == names
    default = TwoViewAugmentation().waveform_augmentations
    assert not any(isinstance(module, RandomEqualizer) for module in default)  # off by default


def test_two_views_accept_a_spectrogram_function_without_channel_axis():
    aug = TwoViewAugmentation(TwoViewAugmentationConfig(seed=0))
    a, b = aug(make_waveforms(), lambda w: to_spectrogram(w)[:, 0])
    assert a.shape == b.shape == to_spectrogram(make_waveforms()).shape


def test_two_views_reject_a_spectrogram_function_that_changes_the_batch():
    aug = TwoViewAugmentation(TwoViewAugmentationConfig(seed=0))
    with pytest.raises(ValueError, match="to_spectrogram returned"):
        aug(make_waveforms(), lambda w: to_spectrogram(w[:1]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_two_views_run_on_cuda_tensors():
    check_two_views("cuda")


def test_segment_views_are_independent_segments_of_each_clip():
    x = make_waveforms(batch=4, samples=SAMPLES)
    plain = TwoViewAugmentationConfig(
        seed=0, gain_prob=0.0, noise_prob=0.0, shift_prob=0.0, mixup_prob=0.0, rrc_prob=0.0, mask_prob=0.0
    )
    segments = dataclasses.replace(plain, view_segment_seconds=0.1)  # 1,600 of the 4,000 samples
    seen = []
    view_a, view_b = TwoViewAugmentation(segments)(x, lambda w: seen.append(w) or to_spectrogram(w))
    (waveforms,) = seen
    assert waveforms.shape == (8, 1600) and view_a.shape == view_b.shape == to_spectrogram(waveforms[:4]).shape
    for row in range(8):  # every row is a window of its own clip
        clip = x[row % 4]
        assert any(torch.equal(clip[s : s + 1600], waveforms[row]) for s in range(SAMPLES - 1600 + 1)), row
    for clip in range(4):  # and the two views of a clip are different windows
        assert not torch.equal(waveforms[clip], waveforms[4 + clip]), clip
    again = TwoViewAugmentation(segments)(x, to_spectrogram)
    assert torch.equal(again[0], view_a) and torch.equal(again[1], view_b)  # seeded
    whole, _ = TwoViewAugmentation(plain)(x, to_spectrogram)
    assert whole.shape == to_spectrogram(x).shape  # None: the whole clip, as before
    with pytest.raises(ValueError, match="at least one sample"):
        TwoViewAugmentation(dataclasses.replace(plain, view_segment_seconds=1e-5))
    with pytest.raises(ValueError, match="longer than the 4000-sample clips"):
        TwoViewAugmentation(dataclasses.replace(plain, view_segment_seconds=0.5))(x, to_spectrogram)
    with pytest.raises(ValueError, match="multi-crop draws its own segments"):
        MultiCropAugmentation(MultiCropConfig(views=segments))


def test_random_crops_are_crop_major_windows_of_each_row():
    x = torch.arange(20.0).reshape(2, 10)
    crops = random_crops(x, count=3, num_samples=4, generator=torch.Generator().manual_seed(0))
    assert crops.shape == (6, 4)
    for row in range(6):
        source = x[row % 2]
        start = int(crops[row, 0] - source[0])
        assert torch.equal(crops[row], source[start : start + 4])


def test_multi_crop_gives_long_and_short_crops_of_the_same_clips_reproducibly():
    config = MultiCropConfig(
        num_long=2,
        long_seconds=0.25,
        num_short=3,
        short_seconds=0.125,
        views=TwoViewAugmentationConfig(mixup_prob=0.0),
    )
    x = make_waveforms(batch=4)  # 4000 samples = 0.25 s
    long, short = MultiCropAugmentation(config)(x, to_spectrogram, generator=torch.Generator().manual_seed(0))
    assert long.shape == (8, *to_spectrogram(x).shape[1:])
    assert short.shape == (12, *to_spectrogram(x[:, :2000]).shape[1:])  # short crops stay short spectrograms
    assert torch.isfinite(long).all() and torch.isfinite(short).all()
    assert not torch.allclose(long[:4], long[4:]), "the two long crops of a clip differ"
    again = MultiCropAugmentation(config)(x, to_spectrogram, generator=torch.Generator().manual_seed(0))
    assert torch.equal(long, again[0]) and torch.equal(short, again[1])


def test_multi_crop_allows_no_short_crops():
    x = make_waveforms(batch=2)
    no_short = MultiCropConfig(num_short=0, long_seconds=0.25, short_seconds=0.125)
    long, short = MultiCropAugmentation(no_short)(x, to_spectrogram)
    assert long.shape[0] == 4 and short is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"num_long": 1, "num_short": 0}, "DINO needs >= 1 long crop"),
        ({"short_seconds": 1.5}, "expected 0 < short_seconds <= long_seconds"),
    ],
)
def test_multi_crop_config_errors_say_what_is_allowed(fields, message):
    with pytest.raises(ValueError, match=message):
        MultiCropConfig(**fields)
