"""The project's static checks are part of the suite, so CI enforces them: ruff's lint and format, mypy (strict
for the domain core), and import-linter's contracts for the layers (``pyproject.toml`` configures all four)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["emulator", "tests", "benchmarks"]


def tool(name: str) -> str:
    """The test extras' command ``name``, beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it is in the test extras (make install)")
    return found


def run(*command: str) -> None:
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("args", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_ruff_is_clean(args: list[str]) -> None:
    run(tool("ruff"), *args, *TARGETS)


def test_mypy_finds_no_error() -> None:
    run(tool("mypy"))


def test_the_layers_hold() -> None:
    """The domain core imports nothing above it (nor HTTP, tokens or pydantic), and each layer only what is below."""
    run(tool("lint-imports"))
