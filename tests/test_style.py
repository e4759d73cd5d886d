"""`ruff check` (rules and line length in pyproject.toml) passes on the package, the tests and the benchmarks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    command = [sys.executable, "-m", "ruff", "check", "barlow_speech", "tests", "benchmarks"]  # ruff: the test extra
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
