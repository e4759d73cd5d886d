import json
import re

import pytest

from barlow_speech import LOSS_VARIANTS, BarlowSpeechConfig, BarlowSpeechFeatureExtractor, BarlowSpeechModel
from tests.factories import tiny_config, tone_clips


def test_defaults_are_the_paper_configuration():
    config = BarlowSpeechConfig()
    assert config.model_type == "barlow_speech"
    assert config.backbone_config.model_type == "resnet"
    assert config.backbone_config.num_channels == 1
    assert list(config.backbone_config.depths) == [3, 4, 6, 3]  # ResNet-50
    assert config.hidden_size == 2048 and config.latent_size == 2048
    assert (config.pooling, config.layer_sizes) == ("global", [64, 256, 512, 1024, 2048])
    assert config.lambda_offdiag == pytest.approx(5.1e-3)
    assert config.loss_variant == "bt"


def test_round_trip_through_save_pretrained(tmp_path):
    config = tiny_config(loss_variant="mbt_bn_ln", lambda_offdiag=0.01)
    config.save_pretrained(tmp_path)
    loaded = BarlowSpeechConfig.from_pretrained(tmp_path)
    assert loaded.backbone_config.hidden_sizes == [8, 16]
    assert loaded.backbone_config.num_channels == 1
    assert loaded.projector_dims == [32, 32]
    assert (loaded.loss_variant, loaded.lambda_offdiag) == ("mbt_bn_ln", 0.01)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"loss_variant": "vicreg"}, str(list(LOSS_VARIANTS))),
        ({"lambda_offdiag": -1.0}, "lambda_offdiag"),
        ({"projector_dims": []}, "projector_dims"),
        ({"projector_dims": [32, 0]}, "projector_dims"),
        ({"n_fft": 1024}, "n_fft belongs to the feature extractor"),
        ({"pooling": "max"}, "pooling='max' is not one of"),
        ({"pooling_bands": 0}, "pooling_bands=0 must be an int >= 1"),
        ({"pooling_bands": [4, 2]}, "must be one int >= 1 per entry of hidden_states (5: the stem, then each stage)"),
        ({"pooling_bands": [4, 0, 2]}, "must be one int >= 1 per entry of hidden_states"),
        ({"pooler_layers": []}, "pooler_layers=[] must be a non-empty list of entries of hidden_states"),
        ({"pooler_layers": [5]}, "ints in [-5, 5) (0 = the stem, 4 = the last stage)"),
        ({"pooler_layers": [1, -4]}, "names a layer twice"),
        ({"classifier_dropout": 1.5}, "classifier_dropout"),
        ({"backbone_config": {"num_channels": 3}}, "num_channels=1"),
        ({"lambda_offdiag": float("nan")}, "lambda_offdiag=nan must be a finite number"),
        ({"lambda_offdiag": float("inf")}, "lambda_offdiag=inf must be a finite number"),
        ({"loss_scale": float("nan")}, "loss_scale=nan must be a finite number"),
        ({"loss_eps": float("inf")}, "loss_eps=inf must be a finite number"),
        ({"classifier_dropout": float("nan")}, "classifier_dropout=nan must be a finite number"),
        ({"backbone_config": {"hiden_sizes": [8, 16]}}, "'hiden_sizes' (did you mean 'hidden_sizes'?)"),
        ({"backbone_config": {"depths": [1, 1], "hidden_sizes": [8, 16, 32]}}, "pass lists of the same length"),
        ({"num_labels": 0}, "pass num_labels >= 1"),
        ({"projector_input": "first"}, "projector_input='first' is not one of ['last', 'all_layers']"),
        ({"num_frequency_bins": 0}, "num_frequency_bins=0 must be an int >= 1, or None"),
        ({"num_frequency_bins": "513"}, "num_frequency_bins='513' must be an int >= 1, or None"),
        ({"max_segments_per_forward": 0}, "max_segments_per_forward=0 must be an int >= 1, or None"),
    ],
)
def test_invalid_values_raise_value_error_saying_what_is_allowed(overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BarlowSpeechConfig(**overrides)


@pytest.mark.parametrize(
    "pooling, expected", [("global", [8, 8, 16]), ("time_mean", [24, 24, 48]), ("time_mean_std", [48, 48, 96])]
)
def test_pooled_sizes_follow_the_pooling_mode(pooling, expected):
    config = tiny_config(pooling=pooling, pooling_bands=3)
    assert config.layer_sizes == expected and config.hidden_size == expected[-1]


def test_pooling_bands_per_layer_set_each_layer_width_and_survive_save_and_load(tmp_path):
    config = tiny_config(pooling="time_mean_std", pooling_bands=(4, 3, 2))  # stem 8, stage 1 8, stage 2 16 channels
    assert config.layer_bands == [4, 3, 2] and config.layer_sizes == [64, 48, 64] and config.hidden_size == 64
    config.save_pretrained(tmp_path)
    loaded = BarlowSpeechConfig.from_pretrained(tmp_path)
    assert loaded.pooling_bands == [4, 3, 2] and loaded.layer_sizes == [64, 48, 64]
    assert tiny_config(pooling="time_mean", pooling_bands=5).layer_bands == [5, 5, 5]


def test_the_config_records_the_front_ends_rows_and_a_config_saved_before_the_field_loads_unchecked(tmp_path):
    assert BarlowSpeechConfig().num_frequency_bins == BarlowSpeechFeatureExtractor().num_bins == 513
    tiny_config(num_frequency_bins=32).save_pretrained(tmp_path)
    assert BarlowSpeechConfig.from_pretrained(tmp_path).num_frequency_bins == 32
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["num_frequency_bins"], saved["max_segments_per_forward"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    old = BarlowSpeechConfig.from_pretrained(tmp_path)
    assert (old.num_frequency_bins, old.max_segments_per_forward) == (None, 32)  # front end unknown: not checked
    model = BarlowSpeechModel(old).eval()
    for extractor in (BarlowSpeechFeatureExtractor(), BarlowSpeechFeatureExtractor(n_fft=128, hop_length=128)):
        features = extractor(tone_clips(1), sampling_rate=16000, return_tensors="pt")
        assert model(**features).pooler_output.shape == (1, 16)


def test_every_config_built_for_a_front_end_records_its_rows():
    from barlow_speech.demo import DemoSettings, demo_config
    from barlow_speech.training.pretrain import ModelArguments

    settings = DemoSettings()
    assert demo_config(settings).num_frequency_bins == settings.encoder().feature_extractor().num_bins == 128
    assert demo_config(settings, "dino").num_frequency_bins == 128
    rows = {
        (): 513,
        (("n_fft", 256),): 129,
        (("n_fft", 512), ("hop_length", 256), ("n_mels", 32)): 32,
    }
    for front_end, expected in rows.items():
        assert ModelArguments(backbone="tiny", **dict(front_end)).build_config().num_frequency_bins == expected


def test_a_one_element_pooling_bands_list_is_one_number_for_every_layer():
    # what `--pooling_bands 8` parses to: the config, which owns the field, reads it as 8 for every layer
    one = BarlowSpeechConfig(backbone_config=tiny_config().backbone_config, pooling="time_mean", pooling_bands=[8])
    assert one.pooling_bands == 8  # stored, saved and reloaded as the number
    assert one.layer_bands == [8] * len(one.layer_channels)
    with pytest.raises(ValueError, match="one int >= 1 per entry of hidden_states"):
        BarlowSpeechConfig(backbone_config=tiny_config().backbone_config, pooling="time_mean", pooling_bands=[8, 4])
