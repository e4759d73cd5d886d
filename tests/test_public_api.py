"""The public names import from the package root, and `import barlow_speech` does not pay for training."""

import subprocess
import sys
import textwrap

import pytest

from tests.test_benchmarks import load_benchmark, ratio_in


def test_training_names_load_on_first_access_only():
    code = textwrap.dedent(
        """
        import sys
        import barlow_speech
        assert "barlow_speech.training.trainer" not in sys.modules
        assert "transformers.trainer" not in sys.modules
        assert "BarlowTwinsTrainer" in dir(barlow_speech) and "BarlowTwinsTrainer" in barlow_speech.__all__
        from barlow_speech import BarlowSpeechDataCollator, BarlowTwinsArguments, BarlowTwinsTrainer
        from barlow_speech.training import trainer
        assert BarlowTwinsTrainer is trainer.BarlowTwinsTrainer
        assert BarlowTwinsArguments is trainer.BarlowTwinsArguments
        try:
            barlow_speech.NotAName
        except AttributeError as error:
            assert "NotAName" in str(error)
        else:
            raise AssertionError("unknown names must raise AttributeError")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_import_costs_about_what_transformers_models_cost_and_less_than_the_trainer(monkeypatch, capsys):
    module = load_benchmark("import_time", monkeypatch)
    module.main(["--repeats", "2"])
    out = capsys.readouterr().out
    assert ratio_in(out, "ratio import barlow_speech / from transformers import PreTrainedModel") < 1.5
    assert ratio_in(out, "ratio import barlow_speech / with the trainer") < 0.95
