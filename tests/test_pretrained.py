"""The encoder shipped inside the package (`barlow_speech.pretrained("bt-small")`, issue 32): it loads offline with
the Auto classes as the README's first snippet does, is the recipe it claims to be, ships with the wheel, and its
model card carries the numbers of docs/heldout_speech.md."""

import fnmatch
import re
from pathlib import Path

import numpy as np
import pytest
import tomllib
import torch
from transformers import AutoFeatureExtractor, AutoModel

import barlow_speech
from barlow_speech import BarlowSpeechConfig, BarlowSpeechModel
from barlow_speech.recipes import BT_SMALL
from barlow_speech.shipped import FOLDER, available

ROOT = Path(__file__).resolve().parents[1]
# architecture fields of the recipe that the shipped config must hold as the recipe says (config, then backbone)
RECIPE_FIELDS = ("pooling", "pooling_bands", "pooler_layers", "num_frequency_bins", "layer_sizes")
BACKBONE_FIELDS = ("depths", "hidden_sizes", "embedding_size", "layer_type", "num_channels")


def test_bt_small_is_shipped_and_a_typo_lists_what_is():
    assert "bt-small" in available()
    assert barlow_speech.pretrained("bt-small") == FOLDER / "bt-small"
    with pytest.raises(ValueError, match=r"no shipped model 'bt-smal' \(did you mean 'bt-small'\?\).*'bt-ls100'"):
        barlow_speech.pretrained("bt-smal")


def test_bt_small_loads_offline_with_the_auto_classes_and_embeds_a_clip():
    folder = barlow_speech.pretrained("bt-small")
    model, info = AutoModel.from_pretrained(folder, output_loading_info=True)
    extractor = AutoFeatureExtractor.from_pretrained(folder)
    assert isinstance(model, BarlowSpeechModel)
    assert {key: sorted(value) for key, value in info.items() if key != "error_msgs"} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
    }
    clip = np.random.default_rng(0).normal(scale=0.05, size=40000).astype(np.float32)  # 2.5 s
    features = extractor(clip, sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        outputs = model.eval()(**features, output_hidden_states=True)
    # the default embedding reads every layer: the pooled vectors of stem and stages, concatenated
    assert outputs.pooler_output.shape == (1, model.config.hidden_size)
    expected = torch.cat([outputs.pooled_hidden_states[layer] for layer in model.config.pooled_layers], dim=-1)
    torch.testing.assert_close(outputs.pooler_output, expected)
    assert torch.isfinite(outputs.pooler_output).all()


def test_the_shipped_config_is_the_bt_small_recipe():
    shipped = BarlowSpeechConfig.from_pretrained(barlow_speech.pretrained("bt-small"))
    recipe = BarlowSpeechConfig(**BT_SMALL.config_kwargs())
    for config, fields in ((lambda c: c, RECIPE_FIELDS), (lambda c: c.backbone_config, BACKBONE_FIELDS)):
        assert {key: getattr(config(shipped), key) for key in fields} == {
            key: getattr(config(recipe), key) for key in fields
        }
    extractor = AutoFeatureExtractor.from_pretrained(barlow_speech.pretrained("bt-small"))
    assert (extractor.n_fft, extractor.hop_length, extractor.n_mels) == (BT_SMALL.n_fft, BT_SMALL.hop_length, 128)
    assert extractor.mean != 0.0 and extractor.std != 1.0  # normalised on the pretraining corpus


def test_every_shipped_file_is_package_data_and_no_code_is_shipped():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for path in (FOLDER / "bt-small").iterdir():
        relative = str(path.relative_to(FOLDER.parent))
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns["barlow_speech"]), relative
    assert sorted(path.suffix for path in (FOLDER / "bt-small").iterdir()) == [".json", ".json", ".md", ".safetensors"]


def _bt_small_row(text: str) -> str:
    """The `| bt-small | ... |` table row of a Markdown page, whitespace-normalised."""
    rows = [line for line in text.splitlines() if re.match(r"\|\s*bt-small\s*\|", line)]
    assert len(rows) == 1, rows
    return " ".join(rows[0].split())


def test_the_model_card_lists_data_steps_and_the_measured_numbers_of_the_docs():
    card = (FOLDER / "bt-small" / "README.md").read_text()
    for fact in ("tts_speech", "9,000 steps", "docs/heldout_speech.md", "configs/upstream/bt-small.yaml"):
        assert fact in card
    assert _bt_small_row(card) == _bt_small_row((ROOT / "docs" / "heldout_speech.md").read_text())
