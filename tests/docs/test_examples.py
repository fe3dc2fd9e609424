"""The code examples of the README and the documentation, run as a reader would run them.

Each page gets an emulator of its own (the default site, the default apply delay) on a free port; its
blocks run in the page's order. ``python`` blocks share one namespace per page; a ``python`` block that
defines ``test_`` functions is a test module, run by pytest in a subprocess with the plugin; ``sh`` blocks
run in bash with ``curl`` failing on any HTTP error; a ``json`` block marked ``<!-- example: fixture -->``
is loaded as a fixture file. ``<!-- example: skip: REASON -->`` leaves a block out, with its reason.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator.config import Settings
from emulator.fixtures import load_fixtures
from emulator.server import ThreadedServer
from tests.docs.pages import DOCS, ROOT, Block, blocks, pages

pytestmark = pytest.mark.e2e

# Pages whose examples another suite checks: the Docker recipes need an image and an engine, and
# tests/docker checks them against the Dockerfile.
CHECKED_ELSEWHERE = {DOCS / "docker.md": "tests/docker checks the recipes against the image"}
SHELLS = {"sh", "bash", "shell"}
RUNNABLE = {"python", *SHELLS}
# every curl of an example fails on an HTTP error status, and says why
CURL = 'curl() { command curl --show-error --fail-with-body "$@"; }\n'


def is_test_module(block: Block) -> bool:
    return block.lang == "python" and re.search(r"^def test_", block.code, re.MULTILINE) is not None


def runs_against_emulator(block: Block) -> bool:
    if block.directive == "skip" or block.page in CHECKED_ELSEWHERE:
        return False
    return (block.lang in RUNNABLE and not is_test_module(block)) or block.directive == "fixture"


def all_blocks() -> list[Block]:
    return [b for page in pages() for b in blocks(page)]


def example_pages() -> list[Path]:
    return [page for page in pages() if any(runs_against_emulator(b) for b in blocks(page))]


@pytest.fixture
def emulator() -> Iterator[ThreadedServer]:
    with ThreadedServer(Settings(port=0)) as server:
        yield server


def shell_env() -> dict[str, str]:
    """This environment without EMULATOR_* settings, with the package's commands first on the PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMULATOR_") and k != "PYTEST_ADDOPTS"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def http_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every answer of status 400 or more that httpx receives while the examples run: a Python example that
    gets one fails, as a shell example's curl does."""
    errors: list[str] = []
    send = httpx.HTTPTransport.handle_request

    def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = send(self, request)
        if response.status_code >= 400:
            errors.append(f"{request.method} {request.url} -> {response.status_code} {response.read()[:300]!r}")
        return response

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle_request)
    return errors


def run_python(block: Block, namespace: dict[str, object], url: str, http_errors: list[str]) -> None:
    code = block.code.replace("http://localhost:8080", url)
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, block.where, "exec"), namespace)
    assert http_errors == [], f"{block.where} got an HTTP error"


def run_shell(block: Block, port: int, workdir: Path) -> None:
    script = block.code.replace("localhost:8080", f"127.0.0.1:{port}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", CURL + script],
        cwd=workdir,
        env=shell_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{block.where} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"


def load_fixture(block: Block, workdir: Path) -> None:
    path = workdir / f"fixture-{block.line}.json"
    path.write_text(block.code, encoding="utf-8")
    sites, seeds = load_fixtures(path)
    assert len(sites), f"{block.where}: no site"


@pytest.mark.parametrize("page", example_pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_examples_of_a_page_run(
    page: Path, emulator: ThreadedServer, http_errors: list[str], tmp_path: Path
) -> None:
    namespace: dict[str, object] = {"__name__": "__main__"}
    for block in filter(runs_against_emulator, blocks(page)):
        if block.directive == "fixture":
            load_fixture(block, tmp_path)
        elif block.lang == "python":
            run_python(block, namespace, emulator.url, http_errors)
        else:
            run_shell(block, emulator.port, tmp_path)


def test_the_test_modules_of_the_docs_pass_with_the_plugin(tmp_path: Path) -> None:
    """Every example test module, run by pytest with the emulator's plugin, as a user's suite runs it. Other
    installed plugins stay off (they cost seconds to import); tests/test_plugin.py checks the entry point."""
    modules = [
        b for b in all_blocks() if is_test_module(b) and b.directive != "skip" and b.page not in CHECKED_ELSEWHERE
    ]
    assert modules, "the docs show no test module"
    for block in modules:
        name = re.sub(r"\W", "_", str(block.page.relative_to(ROOT)).removesuffix(".md"))
        (tmp_path / f"test_{name}_{block.line}.py").write_text(block.code, encoding="utf-8")
    env = shell_env() | {"PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "emulator.pytest_plugin", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tests = sum(len(re.findall(r"^def test_", b.code, re.MULTILINE)) for b in modules)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{tests} passed" in done.stdout, done.stdout


def test_every_skipped_example_says_why() -> None:
    skipped = [b for b in all_blocks() if b.directive == "skip"]
    assert [b.where for b in skipped if not b.reason] == []
    unknown = [b.where for b in all_blocks() if b.directive not in (None, "skip", "fixture")]
    assert unknown == [], "an example directive is skip or fixture"


def test_the_readme_and_the_docs_have_examples_that_run() -> None:
    """The runner finds what it should: the README's Python and shell examples, and the pages' examples."""
    runnable = [b for b in all_blocks() if runs_against_emulator(b) or is_test_module(b)]
    readme = {b.lang for b in runnable if b.page == ROOT / "README.md"}
    assert {"python", "sh"} <= readme
    assert len(runnable) >= 15
