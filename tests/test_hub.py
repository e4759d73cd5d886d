"""Hub publishing: the built repo loads as users will load it, the real huggingface_hub client uploads and downloads
it through a local Hub-compatible endpoint, the model card round-trips measured results, and failures are clear."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, metadata_load
from transformers import Trainer, TrainingArguments

from barlow_speech import (
    BarlowSpeechConfig,
    BarlowSpeechFeatureExtractor,
    BarlowSpeechForAudioClassification,
    BarlowSpeechForPreTraining,
)
from barlow_speech.cli import main as cli_main
from barlow_speech.demo import DemoSettings, demo_config
from barlow_speech.evaluation.disentanglement import disentanglement_runs
from barlow_speech.evaluation.probes import linear_probe
from barlow_speech.hub import HubPublishError, main, publish
from barlow_speech.model_card import ResultRecord, load_card_results, load_records, records_from_result
from barlow_speech.model_family import FAMILY, family_member
from barlow_speech.repo_folder import (
    build_repo_folder,
    load_projector,
    training_details_from_checkpoint,
    write_trainer_repo_contents,
)
from tests.factories import tiny_config, tone_clips
from tests.hub_server import HubServer

REPO_ROOT = Path(__file__).resolve().parents[1]
HF_VARIABLE_PREFIXES = ("HF_", "HUGGINGFACE_", "HUGGING_FACE_", "TRANSFORMERS_")
NUM_LABELS = 3
KEYWORD_SPOTTING = {"task": "audio-classification", "task_name": "Keyword spotting", "metric": "accuracy"}
KEYWORD_SPOTTING |= {"dataset": "google/speech_commands", "dataset_config": "v0.02", "split": "test", "n_runs": 50}
RESULTS = [
    {**KEYWORD_SPOTTING, "label_fraction": 0.05, "value": 0.525, "std": 0.0125},
    {**KEYWORD_SPOTTING, "label_fraction": 1.0, "value": 0.7503, "std": 0.01},
    {
        "task": "feature-extraction",
        "task_name": "Disentanglement",
        "dataset": "voxceleb1",
        "split": "test",
        "metric": "mig",
        "value": 0.007,
        "std": 0.0012,
        "n_runs": 50,
    },
]

# Loads a repo (folder or Hub id) in a Python where barlow_speech cannot be imported; saves the outputs.
LOAD_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    sys.modules["barlow_speech"] = None  # the package must not be needed
    import numpy as np, torch
    from huggingface_hub import snapshot_download
    from transformers import AutoFeatureExtractor, AutoModel, AutoModelForAudioClassification, AutoModelForPreTraining
    source, clips, out = sys.argv[1], np.load(sys.argv[2]), sys.argv[3]
    files = sorted(os.listdir(snapshot_download(source))) if sys.argv[4] == "hub" else []
    extractor = AutoFeatureExtractor.from_pretrained(source, trust_remote_code=True)
    x = extractor(list(clips), sampling_rate=16000, return_tensors="pt")["input_values"]
    encoder = AutoModel.from_pretrained(source, trust_remote_code=True).eval()
    pretraining = AutoModelForPreTraining.from_pretrained(source, trust_remote_code=True).eval()
    torch.manual_seed(0)
    classifier = AutoModelForAudioClassification.from_pretrained(source, trust_remote_code=True, num_labels=NUM).eval()
    modules = {type(m).__module__ for m in (encoder, pretraining, classifier, extractor)}
    assert not any(m.startswith("barlow_speech") for m in modules), modules
    with torch.no_grad():
        np.savez(out, input_values=x.numpy(), pooled=encoder(x).pooler_output.numpy(), z=pretraining(x).z_a.numpy(),
                 logits=classifier(x).logits.numpy())
    print(json.dumps({"files": files, "modules": sorted(modules)}))
    """
).replace("NUM", str(NUM_LABELS))

# Publishes through HF_ENDPOINT: first to a repo whose commits fail, then to org/bt-ls100.
PUBLISH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from barlow_speech.hub import HubPublishError, publish
    checkpoint, work, results = sys.argv[1], sys.argv[2], sys.argv[3]
    report = {}
    try:
        publish(checkpoint, "org/broken", output_dir=work + "/broken")
    except HubPublishError as error:
        report["failure"] = str(error)
    info = publish(checkpoint, "org/bt-ls100", results=[results], output_dir=work + "/bt-ls100")
    report["commit"] = info.oid
    publish(checkpoint, "org/bt-vc1", private=True, revision="dev", output_dir=work + "/bt-vc1")
    print(json.dumps(report))
    """
)


def _save_checkpoint(path: Path) -> Path:
    """A tiny pretraining checkpoint as a Trainer leaves it: model, feature extractor, trainer_state.json."""
    BarlowSpeechForPreTraining(tiny_config()).eval().save_pretrained(path)
    BarlowSpeechFeatureExtractor(mean=-2.0, std=3.0).save_pretrained(path)
    (path / "trainer_state.json").write_text(json.dumps({"epoch": 50.0, "global_step": 1000, "train_batch_size": 64}))
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return _save_checkpoint(tmp_path_factory.mktemp("checkpoint") / "bt-tiny")


@pytest.fixture(scope="module")
def clips_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clips") / "clips.npy"
    np.save(path, np.stack(tone_clips(3)))
    return path


def _local_outputs(checkpoint: Path, clips_file: Path) -> dict:
    """What the in-process package gives for the same checkpoint and audio."""
    extractor = BarlowSpeechFeatureExtractor.from_pretrained(checkpoint)
    x = extractor(list(np.load(clips_file)), sampling_rate=16000, return_tensors="pt")["input_values"]
    model = BarlowSpeechForPreTraining.from_pretrained(checkpoint).eval()
    torch.manual_seed(0)
    classifier = BarlowSpeechForAudioClassification.from_pretrained(checkpoint, num_labels=NUM_LABELS).eval()
    with torch.no_grad():
        return {
            "input_values": x.numpy(),
            "pooled": model.barlow(x).pooler_output.numpy(),
            "z": model(x).z_a.numpy(),
            "logits": classifier(x).logits.numpy(),
        }


def isolated_env(**env: str) -> dict[str, str]:
    """The caller's environment without PYTHONPATH and every Hugging Face variable, plus `env`.

    Offline switches (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, HF_DATASETS_OFFLINE), endpoints, tokens and cache paths
    all start with one of `HF_VARIABLE_PREFIXES`: none of the caller's reaches an isolated run, which sets its own.
    """
    kept = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith(HF_VARIABLE_PREFIXES)}
    return {**kept, **env}


def _run_isolated(script: str, args: list, cwd: Path, env: dict, pythonpath: str | None = None) -> dict:
    """Run `script` in a fresh Python, cwd outside the repo, with a private HF cache and modules cache.

    The environment is `isolated_env` (nothing Hugging Face from the caller); `env` sets what the run needs.
    """
    script_path = cwd / "script.py"
    script_path.write_text(script)
    run_env = isolated_env(HF_HOME=str(cwd / "hf_home"), HF_MODULES_CACHE=str(cwd / "hf_modules"), **env)
    if pythonpath:
        run_env["PYTHONPATH"] = pythonpath
    result = subprocess.run(
        [sys.executable, str(script_path), *map(str, args)],
        cwd=cwd,
        env=run_env,
        check=False,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _assert_same_outputs(remote_file: Path, local: dict) -> None:
    remote = np.load(remote_file)
    for key, value in local.items():
        np.testing.assert_allclose(remote[key], value, atol=1e-5, err_msg=key)


def test_built_folder_has_every_file_and_both_auto_maps(checkpoint, tmp_path):
    folder = build_repo_folder(checkpoint, tmp_path / "repo", model_name="org/bt-ls100")
    names = {p.name for p in folder.iterdir()}
    assert names == {
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
        "configuration_barlow.py",
        "modeling_barlow.py",
        "feature_extraction_barlow.py",
        "projector.safetensors",
        "README.md",
        "requirements.txt",
    }
    config = json.loads((folder / "config.json").read_text())
    assert set(config["auto_map"]) == {
        "AutoConfig",
        "AutoModel",
        "AutoModelForPreTraining",
        "AutoModelForAudioClassification",
    }
    extractor_map = json.loads((folder / "preprocessor_config.json").read_text())["auto_map"]
    assert extractor_map == {"AutoFeatureExtractor": "feature_extraction_barlow.BarlowSpeechFeatureExtractor"}
    for name in ("configuration_barlow.py", "modeling_barlow.py", "feature_extraction_barlow.py"):
        assert not re.search(r"^\s*(from|import) barlow_speech", (folder / name).read_text(), re.MULTILINE), name
    requirements = (folder / "requirements.txt").read_text()
    assert all(f"\n{pkg}>=" in requirements for pkg in ("torch", "transformers", "numpy", "safetensors"))


def test_projector_file_reproduces_the_latents_on_top_of_the_encoder(checkpoint, tmp_path):
    folder = build_repo_folder(checkpoint, tmp_path / "repo")
    model = BarlowSpeechForPreTraining.from_pretrained(checkpoint).eval()
    x = BarlowSpeechFeatureExtractor.from_pretrained(folder)(tone_clips(4), sampling_rate=16000, return_tensors="pt")[
        "input_values"
    ]
    with torch.no_grad():
        out = model(x)
        torch.testing.assert_close(load_projector(folder)(out.pooler_output), out.z_a)


def test_projector_of_a_model_reading_every_layer_takes_their_pooled_vectors(tmp_path):
    """`projector_input="all_layers"` (the demo's recipe): the published projector is as wide as every layer's pooled
    vectors together, reads what `head_inputs` returns, and the card says so."""
    checkpoint = tmp_path / "bt-all-layers"
    config = tiny_config(pooling="time_mean_std", pooling_bands=2, projector_input="all_layers")
    BarlowSpeechForPreTraining(config).eval().save_pretrained(checkpoint)
    BarlowSpeechFeatureExtractor().save_pretrained(checkpoint)
    folder = build_repo_folder(checkpoint, tmp_path / "repo")
    model = BarlowSpeechForPreTraining.from_pretrained(checkpoint).eval()
    features = BarlowSpeechFeatureExtractor.from_pretrained(folder)(
        tone_clips(4), sampling_rate=16000, return_tensors="pt"
    )
    projector = load_projector(folder)
    assert projector[0].in_features == config.projector_input_size == sum(config.layer_sizes)
    with torch.no_grad():
        head_input, embedding = model.barlow.head_inputs(**features)
        torch.testing.assert_close(projector(head_input), model(features["input_values"]).z_a)
    card = (folder / "README.md").read_text()
    assert f"| Projector | {config.projector_input_size} -> " in card and "| Projector input | all_layers |" in card
    assert "head_input, embedding = encoder.head_inputs(**features)" in card


def test_built_folder_loads_with_trust_remote_code_offline_without_the_package(checkpoint, clips_file, tmp_path):
    folder = build_repo_folder(checkpoint, tmp_path / "repo", model_name="org/bt-ls100")
    info = _run_isolated(
        LOAD_SCRIPT, [folder, clips_file, tmp_path / "out.npz", "folder"], tmp_path, env={"HF_HUB_OFFLINE": "1"}
    )
    assert all("barlow_speech" not in module for module in info["modules"])
    _assert_same_outputs(tmp_path / "out.npz", _local_outputs(checkpoint, clips_file))


@pytest.fixture(scope="module")
def hub_session(checkpoint, clips_file, tmp_path_factory):
    """Publish through a local Hub endpoint with the real client, then download and load the repo in a clean Python."""
    work = tmp_path_factory.mktemp("hub")
    (work / "results.json").write_text(json.dumps(RESULTS))
    with HubServer() as hub:
        hub.fail_commits_to.add("org/broken")
        client_env = {"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": hub.token}
        publish_dir = work / "publisher"
        publish_dir.mkdir()
        report = _run_isolated(
            PUBLISH_SCRIPT,
            [checkpoint, work, work / "results.json"],
            publish_dir,
            env=client_env,
            pythonpath=str(REPO_ROOT),
        )
        load_dir = work / "loader"
        load_dir.mkdir()
        loaded = _run_isolated(
            LOAD_SCRIPT, ["org/bt-ls100", clips_file, load_dir / "out.npz", "hub"], load_dir, env=client_env
        )
        yield {"hub": hub, "work": work, "report": report, "loaded": loaded, "out": load_dir / "out.npz"}


# What the client of an isolated run sees: offline mode, endpoint and cache, after creating a repo.
CLIENT_SETTINGS_SCRIPT = textwrap.dedent(
    """
    import json
    from huggingface_hub import HfApi, constants
    HfApi().create_repo("org/settings-check")
    print(json.dumps({"offline": constants.HF_HUB_OFFLINE, "endpoint": constants.ENDPOINT,
                      "cache": constants.HF_HUB_CACHE}))
    """
)


def test_isolated_client_ignores_the_callers_offline_endpoint_and_cache_variables(tmp_path, monkeypatch):
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "callers-cache"))
    with HubServer() as hub:
        settings = _run_isolated(
            CLIENT_SETTINGS_SCRIPT,
            [],
            tmp_path,
            env={"HF_ENDPOINT": hub.url, "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": hub.token},
        )
        assert "org/settings-check" in hub.repos
    assert settings == {"offline": False, "endpoint": hub.url, "cache": str(tmp_path / "hf_home" / "hub")}


def test_publish_uploads_the_whole_folder_in_one_commit(hub_session):
    hub, work = hub_session["hub"], hub_session["work"]
    received = hub.files("org/bt-ls100")
    local = {p.name: p.read_bytes() for p in (work / "bt-ls100").iterdir()}
    assert received == local
    commits = [(repo, revision) for repo, revision, _ in hub.commit_payloads]
    assert commits.count(("org/bt-ls100", "main")) == 1  # the whole folder in one commit
    lines = next(lines for repo, _, lines in hub.commit_payloads if repo == "org/bt-ls100")
    kinds = {line["value"]["path"]: line["key"] for line in lines if line["key"] != "header"}
    assert kinds["model.safetensors"] == kinds["projector.safetensors"] == "lfsFile"
    assert kinds["config.json"] == kinds["README.md"] == "file"
    assert hub_session["report"]["commit"] == hub.repos["org/bt-ls100"].branches["main"]


def test_publish_to_a_private_repo_branch_creates_both(hub_session):
    repo = hub_session["hub"].repos["org/bt-vc1"]
    assert repo.private
    assert hub_session["hub"].files("org/bt-vc1", "main") == {}
    assert "model.safetensors" in hub_session["hub"].files("org/bt-vc1", "dev")


def test_repo_downloaded_through_the_endpoint_loads_with_identical_outputs(hub_session, checkpoint, clips_file):
    assert set(hub_session["loaded"]["files"]) == set(hub_session["hub"].files("org/bt-ls100"))
    requested = {path.split("?")[0] for method, path in hub_session["hub"].requests if method in ("GET", "HEAD")}
    assert "/api/models/org/bt-ls100/revision/main" in requested  # snapshot_download asked the Hub, not a cache
    assert any(path.startswith("/org/bt-ls100/resolve/") and path.endswith("model.safetensors") for path in requested)
    _assert_same_outputs(hub_session["out"], _local_outputs(checkpoint, clips_file))


def test_failed_upload_is_a_clear_error_and_keeps_the_built_folder(hub_session):
    message = hub_session["report"]["failure"]
    folder = hub_session["work"] / "broken"
    assert "500" in message and "org/broken" in message
    assert f"kept at {folder.resolve()}" in message and "barlow-speech push --folder" in message
    assert {"model.safetensors", "config.json", "README.md"} <= {p.name for p in folder.iterdir()}
    assert len(hub_session["hub"].repos["org/broken"].commits) == 1  # only the empty initial commit


def test_card_metadata_gives_back_the_eval_results_passed_in(checkpoint, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    folder = build_repo_folder(
        checkpoint, tmp_path / "repo", results=[tmp_path / "results.json"], model_name="org/bt-ls100"
    )
    assert load_card_results(folder / "README.md") == [ResultRecord(**r) for r in RESULTS]
    metadata = metadata_load(folder / "README.md")
    metrics = [m for entry in metadata["model-index"][0]["results"] for m in entry["metrics"]]
    assert [(m["value"], m.get("args", {}).get("label_fraction")) for m in metrics] == [
        (r["value"], r.get("label_fraction")) for r in RESULTS
    ]
    card = ModelCard.load(folder / "README.md")
    assert card.data.datasets == ["openslr/librispeech_asr"] and card.data.license == "apache-2.0"
    assert (
        "| Keyword spotting | google/speech_commands | v0.02 | test | accuracy | 5% | 0.525 ± 0.0125 | 50 |"
        in card.text
    )
    assert "| Epochs | 50.0 |" in card.text and "doi     = {10.3390/info15020114}" in card.text


def test_card_without_results_says_not_evaluated_and_shows_no_number(checkpoint, tmp_path):
    folder = build_repo_folder(checkpoint, tmp_path / "repo", model_name="org/bt-ls100")
    card = ModelCard.load(folder / "README.md")
    assert "model-index" not in card.data.to_dict() and load_card_results(folder / "README.md") == []
    section = card.text.split("## Evaluation results", 1)[1].split("\n## ", 1)[0]
    assert "Not evaluated" in section
    assert not any(ch.isdigit() for ch in section), section
    assert "hop = 128 samples" in card.text and "do not disentangle speech factors" in card.text


def test_native_probe_and_disentanglement_results_become_records():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((60, 4)), np.arange(60) % 2
    probe = linear_probe(
        x, y, x[:20], y[:20], x[:20], y[:20], fractions=(0.5, 1.0), seeds=range(2), steps=5, model="bt", task="GR"
    )
    with pytest.raises(ValueError, match='add "dataset"'):
        records_from_result(probe)
    records = records_from_result({**probe, "dataset": "wluc", "split": "test"})
    assert [(r.label_fraction, r.n_runs, r.task_name) for r in records] == [
        (0.5, 2, "Gender recognition"),
        (1.0, 2, "Gender recognition"),
    ]
    assert records[1].value == pytest.approx(probe["fractions"]["1"]["mean"])
    factors = np.stack([np.arange(60) % 3, np.arange(60) % 2], axis=1)
    table3 = disentanglement_runs(x, factors, n_runs=2, metrics=("mig", "modularity"), factor_names=["id", "gender"])
    records = records_from_result([{**table3, "dataset": "voxceleb1"}])  # report.py files may hold a list
    assert {r.metric: r.value for r in records} == {k: v["mean"] for k, v in table3["metrics"].items()}
    assert all(r.task == "feature-extraction" and r.n_runs == 2 for r in records)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"task": "audio-classification", "dataset": "d", "metric": "accuracy"}, "lacks \\['value'\\]"),
        ({"task": "t", "dataset": "d", "metric": "m", "value": float("nan")}, "finite number"),
        ({"task": "t", "dataset": "d", "metric": "m", "value": 0.5, "label_fraction": 5}, "label_fraction=5"),
        ({"task": "t", "dataset": "d", "metric": "m", "value": 0.5, "fraction": 0.1}, "unknown keys \\['fraction'\\]"),
    ],
)
def test_malformed_result_records_are_rejected_with_the_reason(bad, message):
    with pytest.raises(ValueError, match=message):
        load_records([[bad]])


def test_missing_token_is_a_clear_error_before_anything_is_built(checkpoint, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("barlow_speech.hub.get_token", lambda: None)
    with pytest.raises(HubPublishError, match="HF_TOKEN.*hf auth login.*huggingface-cli login"):
        publish(checkpoint, "org/bt-ls100", output_dir=tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize("repo_id", ["bt-ls100", "org/bt ls100", "org/sub/bt-ls100", "org/bt--ls100", "/bt-ls100"])
def test_malformed_repo_id_is_rejected_with_the_expected_form(checkpoint, repo_id):
    with pytest.raises(ValueError, match="malformed.*namespace/name"):
        publish(checkpoint, repo_id, token="hf_x")


def test_checkpoint_missing_files_are_named(tmp_path):
    BarlowSpeechForPreTraining(tiny_config()).save_pretrained(tmp_path / "model_only")
    with pytest.raises(FileNotFoundError, match="lacks preprocessor_config.json"):
        build_repo_folder(tmp_path / "model_only", tmp_path / "repo")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json .*model.safetensors .*preprocessor_config.json"):
        build_repo_folder(tmp_path / "empty", tmp_path / "repo")


def test_push_command_builds_the_folder_and_reports_errors(checkpoint, tmp_path, capsys):
    assert (
        main(
            [
                "--checkpoint",
                str(checkpoint),
                "--repo_id",
                "org/bt-128",
                "--build_only",
                "--output_dir",
                str(tmp_path / "repo"),
                "--batch_size",
                "64",
            ]
        )
        == 0
    )
    card = (tmp_path / "repo" / "README.md").read_text()
    assert (
        "BT-128" in card and "assumes LibriSpeech train-clean-100" in card and "| Batch size (global) | 64 |" in card
    )
    assert "| Batch size (per device) | 64 |" in card  # trainer_state.json's train_batch_size, under its own label
    assert cli_main(["push", "--checkpoint", str(checkpoint), "--repo_id", "no-namespace"]) == 2
    assert "barlow-speech push: error: repo id 'no-namespace' is malformed" in capsys.readouterr().err


def _run_folder_with_a_checkpoint(path: Path) -> Path:
    """A pretraining output folder as `barlow-speech pretrain` leaves it: final model + card files at the top, a
    checkpoint inside."""
    _save_checkpoint(path)
    (path / "README.md").write_text("# run\n")
    return _save_checkpoint(path / "checkpoint-1000")


@pytest.mark.parametrize("target", ["run folder", "checkpoint's parent", "previous build"])
def test_push_never_deletes_a_folder_it_did_not_create(tmp_path, capsys, target):
    in_run = _run_folder_with_a_checkpoint(tmp_path / "run")
    final = _save_checkpoint(tmp_path / "final")
    published, output = {
        "run folder": (final, tmp_path / "run"),
        "checkpoint's parent": (in_run, tmp_path / "run"),
        "previous build": (final, build_repo_folder(final, tmp_path / "build")),
    }[target]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code = cli_main(
        [
            "push",
            "--checkpoint",
            str(published),
            "--repo_id",
            "org/bt-tiny",
            "--build_only",
            "--output_dir",
            str(output),
        ]
    )
    assert code == 2
    assert f"output_dir {output} is not an empty folder" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_trainer_writes_the_same_repo_contents_with_its_training_details(tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        gradient_accumulation_steps=2,
        num_train_epochs=3,
        report_to=[],
        hub_model_id="org/bt-16",
    )
    trainer = Trainer(
        model=BarlowSpeechForPreTraining(tiny_config()), args=args, processing_class=BarlowSpeechFeatureExtractor()
    )
    folder = write_trainer_repo_contents(trainer, results=[RESULTS[:1]])
    assert folder == tmp_path / "run"
    assert {"modeling_barlow.py", "feature_extraction_barlow.py", "projector.safetensors"} <= set(os.listdir(folder))
    card = (folder / "README.md").read_text()
    assert "| Batch size (global) | 16 |" in card and "| Epochs | 3 |" in card and "org/bt-16" in card
    assert load_card_results(folder / "README.md") == [ResultRecord(**RESULTS[0])]
    trainer.processing_class = None
    with pytest.raises(ValueError, match="processing_class=extractor"):
        write_trainer_repo_contents(trainer)


def test_training_details_come_from_trainer_state(checkpoint):
    assert training_details_from_checkpoint(checkpoint) == {
        "epochs": 50.0,
        "batch_size_per_device": 64,
        "optimizer_steps": 1000,
    }


def test_card_labels_a_per_device_batch_per_device_not_global(checkpoint, tmp_path):
    card = (build_repo_folder(checkpoint, tmp_path / "repo") / "README.md").read_text()
    assert "| Batch size (per device) | 64 |" in card
    assert "| Batch size (global) |" not in card  # trainer_state.json cannot tell the global batch


def test_family_covers_the_paper_models_with_their_latent_sizes():
    assert {"bt-ls100", "bt-ls360", "bt-vc1", "bt-16", "bt-128", "bt-2048"} <= set(FAMILY)
    for member in FAMILY.values():
        config = BarlowSpeechConfig(**member.config_overrides())
        paper = member.recipe is None
        assert config.latent_size == member.latent_size
        # the paper's ResNet-50 with global pooling; the demo's small ResNet pools frequency bands
        assert (config.backbone_config.hidden_sizes[-1], config.pooling) == (
            (2048, "global") if paper else (128, "time_mean_std")
        )
    demo = BarlowSpeechConfig(**family_member("bt-small-synthetic").config_overrides())
    trained_by_demo = demo_config(DemoSettings()).to_dict()
    assert {k: v for k, v in demo.to_dict().items() if not k.startswith("dino_")} == {
        k: v for k, v in trained_by_demo.items() if not k.startswith("dino_")
    }
    small = BarlowSpeechConfig(**family_member("bt-small").config_overrides())
    assert small.pooler_layers == [0, 1, 2, 3]  # the demo's encoder, whose embedding reads every layer
    assert {k: v for k, v in small.to_dict().items() if k != "pooler_layers"} == {
        k: v for k, v in demo.to_dict().items() if k != "pooler_layers"
    }
    assert (family_member("bt-small").upstream.dataset_id, family_member("bt-small").upstream.on_hub) == (
        "tts_speech",
        False,
    )
    assert family_member("BT-LS-360").upstream.split == "train.360"
    assert family_member("org/bt-vc1").upstream.on_hub is False
    with pytest.raises(ValueError, match="the family is"):
        family_member("bt-3")
