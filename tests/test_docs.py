"""The README and docs/ are tested: every ```python block runs, offline, and every `barlow-speech ...` line of a
```bash / ```shell block parses with its command's own parser.

Each page's python blocks run in order in one namespace (doctest-style), in a scratch folder holding what the blocks
read: `speech.wav`, `clips/*.wav`, dataset trees under `data/`, `recordings/`, and `my-org/bt-small`, the repo folder
`barlow-speech push` builds from the shipped `bt-small` (a local folder wins over a Hub id of the same spelling, so
Hub ids resolve to it without the network). Sockets refuse to connect while a block runs. A block that cannot run
offline is preceded by `<!-- no-run: reason -->`; NO_RUN lists them, so a new one is a visible change here.
"""

from __future__ import annotations

import argparse
import importlib
import re
import shlex
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import numpy as np
import pytest
import soundfile as sf

import barlow_speech
from barlow_speech.cli import COMMANDS
from barlow_speech.repo_folder import build_repo_folder
from tests.data.conftest import (
    make_esd_tree,
    make_librispeech_tree,
    make_speech_commands_tree,
    make_voxceleb1_tree,
    make_wluc_tree,
    write_audio,
)

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\S*)\s*$")
NO_RUN_MARKER = re.compile(r"^<!--\s*no-run:\s*(?P<reason>.+?)\s*-->$")
SHELL_LANGUAGES = {"bash", "shell", "sh", "console"}
# (page, first code line) of each block marked no-run, and why: a new marker must be added here too
NO_RUN = {
    ("docs/datasets.md", 'ds = load_librispeech("openslr/librispeech_asr", "train-clean-100", streaming=True)'): (
        "streams from the Hub (network)"
    ),
}


@dataclass
class Block:
    page: str
    line: int
    language: str
    code: str
    no_run: str | None  # the marker's reason, None for a block that runs


def read_blocks(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, each with the `no-run` reason of a marker on the line before."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next((i for i in range(index + 1, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"{path.name}:{index + 1}: a code fence that never closes")
        marker = NO_RUN_MARKER.match(lines[index - 1].strip()) if index else None
        page = str(path.relative_to(ROOT))
        code = "\n".join(lines[index + 1 : end])
        blocks.append(Block(page, index + 2, opening.group(1), code, marker.group("reason") if marker else None))
        index = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in read_blocks(page)]
PYTHON_PAGES = sorted({block.page for block in BLOCKS if block.language == "python" and block.no_run is None})
SHELL_BLOCKS = [block for block in BLOCKS if block.language in SHELL_LANGUAGES]


def _write_wav_clips(folder: Path) -> None:
    """clips/yes_<i>.wav and clips/no_<i>.wav: 0.8-3.0 s of noise at 16 and 22.05 kHz."""
    rng = np.random.default_rng(0)
    for i in range(8):
        rate = 16000 if i % 2 else 22050
        wave = 0.1 * rng.standard_normal(int(rate * (0.8 + 0.3 * i)))
        sf.write(folder / "clips" / f"{('yes', 'no')[i % 2]}_{i}.wav", wave.astype(np.float32), rate)


@pytest.fixture(scope="module")
def doc_files(tmp_path_factory) -> Path:
    """The files the docs' python blocks read, built once; each test works in a copy."""
    folder = tmp_path_factory.mktemp("doc_files")
    write_audio(folder / "speech.wav", 2.5, sr=44100)
    (folder / "clips").mkdir()
    _write_wav_clips(folder)
    data = folder / "data"
    make_librispeech_tree(data)
    make_voxceleb1_tree(data / "voxceleb1")
    make_speech_commands_tree(data / "speech_commands_v0.02")
    make_esd_tree(data / "ESD")
    make_wluc_tree(data)
    for speaker in ("alice", "bob"):
        for n in range(2):
            write_audio(folder / "recordings" / speaker / f"{n}.wav", 1.2)
    build_repo_folder(barlow_speech.pretrained("bt-small"), folder / "my-org" / "bt-small")
    return folder


@pytest.fixture
def docs_workdir(doc_files, tmp_path, monkeypatch) -> Path:
    """A copy of the doc files as working directory, the Hub offline, and no socket that can connect."""
    workdir = tmp_path / "work"
    shutil.copytree(doc_files, workdir)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert huggingface_hub.constants.HF_HUB_OFFLINE, "conftest sets HF_HUB_OFFLINE before huggingface_hub loads"

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError(f"a docs block tried the network: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return workdir


@pytest.mark.parametrize("page", PYTHON_PAGES)
def test_python_blocks_run_offline(page, docs_workdir):
    namespace: dict = {"__name__": "__docs__"}
    for block in BLOCKS:
        if block.page != page or block.language != "python" or block.no_run is not None:
            continue
        try:
            exec(compile(block.code, f"{page}:{block.line}", "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{page}, the python block at line {block.line}: {type(error).__name__}: {error}")


def test_no_run_blocks_are_few_and_listed():
    marked = {(b.page, b.code.splitlines()[0]): b.no_run for b in BLOCKS if b.no_run is not None}
    listing = "\n".join(f"  {page}: {first!r} ({reason})" for (page, first), reason in marked.items())
    print(f"{len(marked)} docs block(s) marked no-run:\n{listing}")
    assert marked == NO_RUN, f"the no-run blocks changed; update NO_RUN in this test if that is meant:\n{listing}"
    assert all(b.language == "python" for b in BLOCKS if b.no_run is not None), "no-run marks python blocks only"


def test_blocks_are_found():
    """The parser sees the README's own blocks: a broken fence pattern would make every test above pass vacuously."""
    readme = [block for block in BLOCKS if block.page == "README.md"]
    assert {"python", "bash"} <= {block.language for block in readme}
    assert "README.md" in PYTHON_PAGES and len(PYTHON_PAGES) >= 5
    assert len(command_lines()) >= 20


class _Parsed(Exception):
    """Raised once the outermost argparse parse of a command returns: the command never runs."""

    def __init__(self, extras: list[str]):
        super().__init__(extras)
        self.extras = extras


def command_lines() -> list[tuple[Block, list[str]]]:
    """Every `barlow-speech ...` command of the shell blocks as argv (continuations joined, comments and leading
    `VAR=value` assignments dropped)."""
    commands = []
    for block in SHELL_BLOCKS:
        for line in block.code.replace("\\\n", " ").splitlines():
            tokens = shlex.split(line, comments=True)
            while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", tokens[0]):
                tokens = tokens[1:]
            if tokens[:1] == ["barlow-speech"]:
                commands.append((block, tokens[1:]))
    return commands


def _stop_after_parsing(monkeypatch) -> None:
    """Make the outermost `ArgumentParser.parse_known_args` (argparse's and HfArgumentParser's) raise _Parsed with
    what it left unparsed; sub-parsers of sub-commands parse as usual."""
    original = argparse.ArgumentParser.parse_known_args
    depth = [0]

    def parse_known_args(self, args=None, namespace=None):
        depth[0] += 1
        try:
            parsed, extras = original(self, args, namespace)
        finally:
            depth[0] -= 1
        if depth[0] == 0:
            raise _Parsed(list(extras))
        return parsed, extras

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", parse_known_args)


@pytest.mark.parametrize(
    "block, argv",
    command_lines(),
    ids=[f"{block.page}:{block.line}:{' '.join(argv[:1])}" for block, argv in command_lines()],
)
def test_command_lines_parse(block, argv, monkeypatch, capsys):
    argv = argv[1:] if argv[:1] == ["--debug"] else argv
    where = f"{block.page}, the block at line {block.line}: barlow-speech {' '.join(argv)}"
    if argv[0] in {"-h", "--help"}:
        from barlow_speech.cli import main

        assert main(argv) == 0, where
        return
    assert argv[0] in COMMANDS, f"{where}: no command {argv[0]!r} (the dispatcher has {sorted(COMMANDS)})"
    module_name, function_name, _ = COMMANDS[argv[0]]
    command = getattr(importlib.import_module(module_name), function_name)
    _stop_after_parsing(monkeypatch)
    try:
        command(argv[1:])
    except _Parsed as parsed:
        assert not parsed.extras, f"{where}: unknown argument(s) {parsed.extras}"
        return
    except SystemExit as exit_:
        assert exit_.code == 0, f"{where}: {capsys.readouterr().err.strip()}"  # --help exits 0
        return
    pytest.fail(f"{where}: the command returned without parsing its arguments with argparse")
