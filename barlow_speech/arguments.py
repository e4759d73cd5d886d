"""The arguments of every `barlow-speech <command>`: HfArgumentParser dataclasses, as transformers' examples declare
theirs, parsed by `CommandParser`, and the checks their `__post_init__` share.

One spelling: transformers' underscores (`--output_dir`). The dashed forms (`--output-dir`) still work for a release:
`CommandParser.parse` rewrites them and prints a one-line deprecation note naming the new spelling. No abbreviations
(`--backbon` is an error naming `--backbone`), defaults shown in `--help`, one option group per dataclass, and
`--config FILE` (YAML or JSON: flag -> value) read before the command line, which overrides it.

    >>> parser = CommandParser([ProbeArguments], "probe", __doc__)
    >>> (probe_args,) = parser.parse(["--model", "runs/bt", "--output_dir", "eval"])
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, get_type_hints

import yaml
from transformers import HfArgumentParser


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """` (did you mean 'x'?)` with the closest of `choices`, or "" when none is close."""
    matches = difflib.get_close_matches(value, choices, n=1)
    return f" (did you mean {matches[0]!r}?)" if matches else ""


def check_choice(flag: str, value: str, choices: Sequence[str]) -> None:
    """A ValueError naming the flag, the value, the choices and the closest one when `value` is not a choice."""
    if value not in choices:
        raise ValueError(f"--{flag} {value}: expected one of {list(choices)}{did_you_mean(value, choices)}.")


def check_at_least(flag: str, value: float | None, minimum: float, why: str = "") -> None:
    """A ValueError naming the flag, the value and the allowed range when `value < minimum` (None passes)."""
    if value is not None and value < minimum:
        raise ValueError(f"--{flag} {value}: expected a value >= {minimum}{why}.")


def read_config_file(file: Path) -> Any:
    """A `--config` file's content (YAML for .yaml/.yml, else JSON); a syntax error is a ValueError naming the file,
    the line and the column."""
    text = file.read_text()
    if file.suffix in (".yaml", ".yml"):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(error, "problem", None) or str(error).splitlines()[0]
            raise ValueError(f"--config {file}: not valid YAML{where}: {problem}.") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"--config {file}: not valid JSON at line {error.lineno}, column {error.colno}: {error.msg}."
        ) from None


def expand_config(argv: Sequence[str], known: Sequence[str], command: str = "pretrain") -> list[str]:
    """`argv` with `--config FILE` (a YAML or JSON mapping of flag -> value) replaced by the file's flags, placed first
    so that flags on the command line override them; an unknown key is an error naming the file and the closest
    known key (`known`: the flag names of `barlow-speech <command>` without dashes)."""
    argv = list(argv)
    if "--config" not in argv:
        return argv
    at = argv.index("--config")
    if at + 1 >= len(argv):
        raise ValueError("--config needs a file path.")
    file = Path(argv[at + 1])
    if not file.is_file():
        raise FileNotFoundError(f"--config {file}: no such file.")
    values = read_config_file(file)
    if not isinstance(values, dict):
        raise ValueError(f"--config {file} must hold a mapping of argument names to values, got {type(values)}.")
    unknown = [str(key) for key in values if str(key).replace("-", "_") not in known]
    if unknown:
        names = ", ".join(f"{key!r}{did_you_mean(key, known)}" for key in unknown)
        raise ValueError(
            f"--config {file}: unknown key(s) {names}; the keys are the flags of `barlow-speech {command} --help` "
            "without the leading dashes."
        )
    flags: list[str] = []
    for key, value in values.items():
        if isinstance(value, (list, tuple)):
            flags += [f"--{key}", *map(str, value)]
        else:
            flags += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags + argv[:at] + argv[at + 2 :]


def underscore_flags(
    argv: Sequence[str], known: Iterable[str], command: str, renamed: Mapping[str, str] | None = None
) -> list[str]:
    """`argv` with each deprecated dashed flag (`--output-dir`, `--output-dir=x`) in its underscore spelling, and a
    one-line note on stderr per flag rewritten; `known`: the command's flags without the leading dashes; `renamed`:
    deprecated names (without dashes) whose new name is not their underscore spelling (`loader-arg`: `loader_args`)."""
    known, rewritten = set(known), []
    for at, item in enumerate(argv):
        if item == "--":  # what follows is not a flag
            return rewritten + list(argv[at:])
        name, sep, value = item.partition("=")
        underscored = "--" + (renamed or {}).get(name[2:], name[2:].replace("-", "_"))
        if name.startswith("--") and name != underscored and underscored[2:] in known:
            print(
                f"barlow-speech {command}: {name} is deprecated and will be removed in the next release; use "
                f"{underscored}.",
                file=sys.stderr,
            )
            item = underscored + sep + value
        rewritten.append(item)
    return rewritten


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """The description (examples) as written; after each option's help its default, where it has one to say (not
    None or False, and not already said in the help)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        help_ = action.help or ""
        unset = any(action.default is value for value in (None, False, argparse.SUPPRESS))
        if action.required or unset or "default" in help_:
            return help_
        return f"{help_} (default: %(default)s)"


class _UnderscoreOnly:
    """An argument group that registers only the underscore spelling of a flag (HfArgumentParser adds the dashed one
    too; `underscore_flags` rewrites it with a deprecation note instead)."""

    def __init__(self, group: argparse._ArgumentGroup):
        self.group = group

    def add_argument(self, *names: str, **kwargs: Any) -> argparse.Action:
        return self.group.add_argument(*(name for name in names if "-" not in name[2:]), **kwargs)


class CommandParser(HfArgumentParser):
    """The parser of `barlow-speech <command>`: flags from dataclasses (a field with `metadata={"positional": True}`
    is a positional argument), one group per dataclass (its `_argument_group_name`, else its name; the first line of
    its docstring), no abbreviations, defaults in `--help`.

    Args:
        dataclass_types: the argument dataclasses, in the order `parse` returns them.
        command: the sub-command's name, for messages and `--help`.
        description: `--help`'s text above the options (e.g. the module's docstring with examples).
        brief: dataclass -> the fields `--help` lists; `--help_all` lists all of them (for TrainingArguments).
        renamed: deprecated flags (without dashes) whose new name is not their underscore spelling -> the new name.
    """

    def __init__(
        self,
        dataclass_types: Sequence[type],
        command: str,
        description: str = "",
        brief: Mapping[type, Sequence[str]] | None = None,
        renamed: Mapping[str, str] | None = None,
    ):
        self.command, self.brief, self.renamed = command, dict(brief or {}), dict(renamed or {})
        self.given: set[str] = set()
        positionals = [
            f.name for dtype in dataclass_types for f in dataclasses.fields(dtype) if f.metadata.get("positional")
        ]
        super().__init__(
            dataclass_types,
            prog=f"barlow-speech {command}",
            usage=" ".join(["%(prog)s", *positionals, "[options]"]),
            description=description,
            formatter_class=HelpFormatter,
            allow_abbrev=False,
        )
        self.add_argument(
            "--config",
            metavar="FILE",
            help="YAML or JSON file of flag: value (names without dashes); flags on the command line override it.",
        )
        if self.brief:
            self.add_argument("--help_all", action="store_true", help="list every option, not only the common ones.")

    def _group(self, owner: type) -> argparse._ArgumentGroup:
        """The option group of the dataclass `owner` (made on first use)."""
        title = getattr(owner, "_argument_group_name", owner.__name__)
        for group in self._action_groups:
            if group.title == title:
                return group
        return self.add_argument_group(title, (owner.__doc__ or "").strip().split("\n")[0])

    def _add_dataclass_arguments(self, dtype: type) -> None:
        hints = get_type_hints(dtype)
        shown = self.brief.get(dtype)
        # a field's group is the dataclass that declares it first (a command's arguments may inherit several)
        owners = [cls for cls in reversed(dtype.__mro__) if dataclasses.is_dataclass(cls)]
        for field in dataclasses.fields(dtype):
            if not field.init:
                continue
            owner = next(cls for cls in owners if field.name in cls.__dict__.get("__annotations__", {}))
            group = self._group(owner)
            field.type = hints[field.name]
            if field.metadata.get("positional"):
                group.add_argument(field.name, **{k: v for k, v in field.metadata.items() if k != "positional"})
                continue
            before = len(self._actions)
            self._parse_dataclass_field(_UnderscoreOnly(group), field)
            if shown is not None and field.name not in shown:
                for action in self._actions[before:]:
                    action.hidden_help, action.help = action.help, argparse.SUPPRESS

    def flag_names(self) -> list[str]:
        """Every flag and positional name of the command, without dashes."""
        names = [option[2:] for action in self._actions for option in action.option_strings if option[:2] == "--"]
        return names + [action.dest for action in self._actions if not action.option_strings]

    def parse(self, argv: Sequence[str]) -> tuple[Any, ...]:
        """The dataclasses of `argv` (`--config` expanded, dashed flags rewritten), each checked by its own
        `__post_init__`; an unknown flag is a ValueError naming the closest known one."""
        known = self.flag_names()
        argv = underscore_flags(expand_config(argv, known, self.command), known, self.command, self.renamed)
        flags = argv[: argv.index("--")] if "--" in argv else argv
        names = [item.partition("=")[0] for item in flags if item[:2] == "--"]
        self._refuse([name for name in names if name[2:] not in known])
        self.given = {name[2:] for name in names}  # the flags set on the command line or in --config
        if "--help_all" in argv:
            for action in self._actions:
                action.help = getattr(action, "hidden_help", action.help)
            argv = ["--help"]
        # the dataclasses, the namespace of --config and --help_all, the unknown arguments
        *parsed, _, unused = self.parse_args_into_dataclasses(
            args=argv, return_remaining_strings=True, look_for_args_file=False
        )
        self._refuse(unused)
        return tuple(parsed)

    def _refuse(self, unknown: Sequence[str]) -> None:
        """A ValueError naming the `unknown` arguments and the closest flag of each (before argparse's own errors,
        such as a required flag missing because it was mistyped)."""
        if unknown:
            flags = [f"--{name}" for name in self.flag_names()]
            named = ", ".join(f"{item}{did_you_mean(item, flags) if item[:2] == '--' else ''}" for item in unknown)
            raise ValueError(f"unknown argument(s) {named}; see `barlow-speech {self.command} --help`.")


__all__ = [
    "CommandParser",
    "check_at_least",
    "check_choice",
    "did_you_mean",
    "expand_config",
    "read_config_file",
    "underscore_flags",
]
