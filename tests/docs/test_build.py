"""The documentation site builds with ``mkdocs build --strict``: a broken link or anchor, a page missing
from the nav, or a snippet that does not exist fails the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.pages import ROOT


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    try:
        import material  # noqa: F401
        import mkdocs  # noqa: F401
    except ImportError:
        pytest.fail("mkdocs and mkdocs-material are not installed: pip install -e '.[docs]' (make install does)")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "site" / "performance" / "index.html").exists()
    assert (tmp_path / "site" / "img" / "performance-targets.svg").exists()
