"""One checkpoint loader (`barlow_speech.repo_folder.load_pretrained`) behind every path that reads a checkpoint:
the HEAR / s3prl frame encoder, the evaluation pipeline and publishing refuse the same broken folders the same way."""

import pytest

from barlow_speech import BarlowSpeechFeatureExtractor, BarlowSpeechForPreTraining, hear
from barlow_speech.evaluation.pipeline import load_upstream
from barlow_speech.repo_folder import load_checkpoint
from tests.factories import tiny_config

LOADERS = {"hear": hear.load_model, "evaluation": load_upstream, "publishing": load_checkpoint}


def _checkpoint(folder):
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(folder)
    BarlowSpeechFeatureExtractor().save_pretrained(folder)
    return str(folder)


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_names_a_truncated_weights_file_instead_of_a_traceback(tmp_path, loader):
    checkpoint = _checkpoint(tmp_path / "run")
    weights = tmp_path / "run" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    truncated = r"model\.safetensors is \d+ bytes but its header describes \d+ \(truncated\)"
    with pytest.raises(ValueError, match=truncated):
        LOADERS[loader](checkpoint)
