"""`barlow_speech.metrics`: the package's `evaluate` modules by name, from any working directory (issue 30)."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import barlow_speech.metrics
from barlow_speech.evaluation.similarity import linear_cka


def test_names_are_the_shipped_modules_and_path_is_their_folder():
    assert barlow_speech.metrics.names() == ["disentanglement", "linear_probe", "representation_similarity"]
    folder = barlow_speech.metrics.path("linear_probe")
    assert (folder / "linear_probe.py").is_file() and (folder / "README.md").is_file()


@pytest.mark.parametrize(
    "name, message",
    [
        ("linear_probes", r"no metric 'linear_probes' \(did you mean 'linear_probe'\?\); .*'disentanglement'"),
        ("mig", r"no metric 'mig'; barlow_speech.metrics holds \['disentanglement', 'linear_probe', 'repr"),
    ],
)
def test_an_unknown_name_lists_the_modules(name, message):
    for function in (barlow_speech.metrics.path, barlow_speech.metrics.load):
        with pytest.raises(ValueError, match=message):
            function(name)


def test_load_by_name_works_offline_from_another_working_directory(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 4)).astype(np.float32)  # the module's features are float32
    b = np.concatenate([a, rng.normal(size=(50, 2))], axis=1).astype(np.float32)
    script = textwrap.dedent(
        """
        import json
        import sys

        import barlow_speech.metrics
        a, b = json.loads(sys.argv[1])
        module = barlow_speech.metrics.load("representation_similarity")
        result = module.compute(representations_a=a, representations_b=b, measures=["linear_cka"])
        print(json.dumps({"name": module.name, **result}))
        """
    )
    # offline (conftest.py sets HF_HUB_OFFLINE for the suite), in a folder where barlow_speech/metrics/ is no path
    env = {**os.environ, "HF_EVALUATE_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps([a.tolist(), b.tolist()])],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["name"] == "representation_similarity"
    assert output["linear_cka"] == linear_cka(a.astype(np.float64), b.astype(np.float64))
    assert output["num_samples"] == 50
