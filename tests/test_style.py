"""`ruff check` and `ruff format --check` (settings in pyproject.toml) pass on the package, tests and benchmarks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    command = [sys.executable, "-m", "ruff", "check", "barlow_speech", "tests", "benchmarks"]  # ruff: the test extra
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is():
    command = [sys.executable, "-m", "ruff", "format", "--check", "barlow_speech", "tests", "benchmarks"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
