"""Every command declares its arguments as dataclasses parsed by one CommandParser: underscore flags only, the dashed
forms as deprecated aliases with a note, no abbreviations, defaults and groups in --help."""

import pytest
from transformers import TrainingArguments

from barlow_speech.arguments import CommandParser, underscore_flags
from barlow_speech.cli import main as cli_main
from barlow_speech.data.prepare import PrepareArguments
from barlow_speech.demo import DemoArguments, parse_settings
from barlow_speech.evaluation.cli import COMMAND_ARGUMENTS, parse_command
from barlow_speech.export import ExportArguments
from barlow_speech.hub import PushArguments
from barlow_speech.recipes import PRETRAINING_DEFAULTS
from barlow_speech.training.pretrain import argument_parser, parse_arguments


def parsers() -> dict[str, CommandParser]:
    """The parser of every command that takes flags."""
    found = {command: CommandParser([arguments], command) for command, (arguments, _) in COMMAND_ARGUMENTS.items()}
    found["pretrain"] = argument_parser()
    found["push"] = CommandParser([PushArguments], "push")
    found["prepare"] = CommandParser([PrepareArguments], "prepare")
    found["demo"] = CommandParser([DemoArguments], "demo")
    found["export"] = CommandParser([ExportArguments], "export")
    return found


PARSERS = parsers()
# (command, flag) for every multi-word flag of every command
MULTI_WORD = sorted(
    (command, option)
    for command, parser in PARSERS.items()
    for action in parser._actions
    for option in action.option_strings
    if "_" in option
)


def test_every_command_takes_flags():
    assert set(PARSERS) >= {"demo", "pretrain", "prepare", "probe", "disentangle", "report", "export"}
    assert len(MULTI_WORD) > 150  # TrainingArguments' among them


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_flags_are_spelled_with_underscores_only(command):
    options = [option for action in PARSERS[command]._actions for option in action.option_strings]
    assert [option for option in options if "-" in option[2:]] == []


@pytest.mark.parametrize(("command", "flag"), MULTI_WORD)
def test_the_dashed_form_of_every_flag_is_a_deprecated_alias(command, flag, capsys):
    parser, dashed = PARSERS[command], "--" + flag[2:].replace("_", "-")
    assert underscore_flags([dashed, "x", f"{dashed}=y"], parser.flag_names(), command) == [flag, "x", f"{flag}=y"]
    note = capsys.readouterr().err
    assert f"barlow-speech {command}: {dashed} is deprecated" in note and f"use {flag}." in note


def test_dashed_flags_parse_to_the_same_arguments_as_the_underscore_ones(tmp_path, capsys):
    dashed = parse_arguments(["--output-dir", str(tmp_path), "--max-steps", "3", "--per-device-train-batch-size", "4"])
    underscored = parse_arguments(
        ["--output_dir", str(tmp_path), "--max_steps", "3", "--per_device_train_batch_size", "4"]
    )
    assert dashed == underscored and dashed.training.max_steps == 3
    assert "--max-steps is deprecated" in capsys.readouterr().err
    reproduce = parse_command("reproduce", ["table2", "--data-root", "data", "--output-dir", "out"])
    assert (reproduce.data_root, reproduce.output_dir) == ("data", "out")
    assert parse_command("reproduce", ["table2", "--data_root", "data", "--output_dir", "out"]) == reproduce
    (push,) = CommandParser([PushArguments], "push").parse(
        ["--checkpoint", "c", "--repo-id", "org/m", "--build-only", "--commit-message", "m", "--batch-size", "8"]
    )
    assert (push.repo_id, push.build_only, push.commit_message, push.batch_size) == ("org/m", True, "m", 8)
    old = ["synthetic", "-", "out", "--length-s", "0.5", "--drop-last", "--loader-arg", "a=1", "--loader-arg", "b=2"]
    (prepare,) = CommandParser([PrepareArguments], "prepare", renamed={"loader-arg": "loader_args"}).parse(old)
    assert (prepare.length_s, prepare.drop_last, prepare.loader_args) == (0.5, True, ["a=1", "b=2"])
    assert "--loader-arg is deprecated" in capsys.readouterr().err


def test_a_flag_is_never_abbreviated_and_a_typo_names_the_flag(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"unknown argument\(s\) --backbon \(did you mean '--backbone'\?\)"):
        parse_arguments(["--backbon", "tiny", "--output_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="--pretrain_clip .*did you mean '--pretrain_clips'"):
        parse_settings(["--pretrain_clip", "10"])
    assert cli_main(["probe", "--mode", "logmel", "--output_dir", str(tmp_path)]) == 2
    assert "did you mean '--model'" in capsys.readouterr().err


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_help_shows_defaults_and_one_group_per_argument_dataclass(command):
    text = PARSERS[command].format_help()
    assert "(default: " in text and f"usage: barlow-speech {command}" in text
    titles = [group.title for group in PARSERS[command]._action_groups if group._group_actions]
    assert len(titles) >= 2 and len(titles) == len(set(titles))


def test_pretrain_help_lists_the_common_training_flags_and_help_all_every_one(capsys):
    brief = argument_parser().format_help()
    assert "--max_steps" in brief and "--learning_rate" in brief and "--adam_beta1" not in brief
    assert "--help_all" in brief and len(brief.splitlines()) < 300
    with pytest.raises(SystemExit):
        argument_parser().parse(["--help_all"])
    full = capsys.readouterr().out
    assert "--adam_beta1" in full and len(full.splitlines()) > len(brief.splitlines()) + 200
    assert TrainingArguments.__name__ in full  # the group's title


def test_pretrain_defaults_follow_the_backbone_where_no_flag_sets_them(tmp_path, caplog):
    caplog.set_level("INFO", logger="barlow_speech.training.pretrain")
    tiny = parse_arguments(["--backbone", "tiny", "--output_dir", str(tmp_path)])
    assert tiny.model.build_config().projector_dims == [64, 64, 64]  # 4 x the last stage's 16 channels
    training = tiny.training
    assert (training.max_steps, training.learning_rate, training.per_device_train_batch_size) == (300, 2e-3, 32)
    assert "--backbone tiny defaults: --max_steps 300 --learning_rate 0.002" in caplog.text
    paper = parse_arguments(["--output_dir", str(tmp_path)])  # resnet50: not TrainingArguments' 5e-5 and batch 8
    assert (paper.model.latent_size, paper.training.learning_rate, paper.training.train_batch_size) == (2048, 1e-3, 64)
    assert paper.training.max_steps == PRETRAINING_DEFAULTS["resnet50"].max_steps
    config = tmp_path / "run.yaml"
    config.write_text("backbone: tiny\nlatent_size: 16\nlearning_rate: 0.01\nnum_train_epochs: 2\n")
    mine = parse_arguments(
        ["--config", str(config), "--output_dir", str(tmp_path), "--per_device_train_batch_size", "4"]
    )
    assert (mine.model.latent_size, mine.training.learning_rate, mine.training.train_batch_size) == (16, 0.01, 4)
    assert (mine.training.max_steps, mine.training.num_train_epochs) == (-1, 2)  # epochs given: no default steps
    assert "tiny" in argument_parser().format_help().split("options:")[0]  # --help says the defaults


def test_pretrain_without_output_dir_is_an_error_not_a_default_folder(capsys):
    with pytest.raises(ValueError, match="--output_dir is required"):
        parse_arguments(["--backbone", "tiny"])
    assert cli_main(["pretrain", "--backbone", "tiny"]) == 2
    assert "--output_dir is required" in capsys.readouterr().err


def test_pretrain_view_args_are_checked_by_the_views_before_any_data_loads(tmp_path):
    flags = ["--backbone", "tiny", "--output_dir", str(tmp_path), "--views", "demo"]
    views = parse_arguments([*flags, "--view_args", "reverb_prob=0.5", "rrc_time_scale=[1, 1]"]).data.views_config()
    assert (views.reverb_prob, views.rrc_time_scale, views.freq_mask_width) == (0.5, (1, 1), 10)  # over the preset
    with pytest.raises(ValueError, match=r"--view_args freq_mask_widht: .*did you mean 'freq_mask_width'"):
        parse_arguments([*flags, "--view_args", "freq_mask_widht=3"])
    with pytest.raises(ValueError, match=r"--views demo --view_args eq_db_std=-1: eq_db_std=-1: expected a spread"):
        parse_arguments([*flags, "--view_args", "eq_db_std=-1"])
    with pytest.raises(ValueError, match=r"--views demo --view_args reverb_prob=1.5: p=1.5: expected a probability"):
        parse_settings(["--reverb_prob", "1.5"])  # the demo's settings are checked where pretrain checks them
