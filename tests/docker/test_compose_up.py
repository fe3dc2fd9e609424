"""``docker compose`` with the repository's docker-compose.yml, as docs/docker.md says to run it.

``up --build --wait emulator`` returns once the emulator is healthy, the host reaches it on the published
port, ``run --rm client`` prints its readiness, and ``stop`` ends it with exit code 0. The project gets
a unique name and ``JIRA_EMULATOR_PORT=127.0.0.1:0`` (a free loopback port, not the host's 8080).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from emulator.client import EmulatorClient
from tests.docker import dockerfile as df
from tests.docker import engine

pytestmark = pytest.mark.docker

Compose = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def compose(image: engine.Image) -> Iterator[Compose]:
    """``compose(*args)``: ``docker compose`` on the repository's file, under a project of this test's own."""
    project = engine.unique("jde-compose")
    env = {**os.environ, "JIRA_EMULATOR_PORT": "127.0.0.1:0"}

    def run(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        command = ["docker", "compose", "--file", str(df.COMPOSE), "--project-name", project, *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)

    yield run
    run("down", "--volumes", "--remove-orphans", timeout=60)


def test_compose_up_waits_for_health_then_the_client_runs(compose: Compose) -> None:
    started = time.monotonic()
    up = compose("up", "--build", "--wait", "emulator")
    up_seconds = time.monotonic() - started
    assert up.returncode == 0, up.stdout + up.stderr
    listed = compose("ps", "--format", "json", "emulator").stdout.strip()
    # Compose 2.21 and later print one JSON object a line; earlier versions, one JSON array
    (emulator,) = json.loads(listed) if listed.startswith("[") else [json.loads(ln) for ln in listed.splitlines()]
    assert emulator["Health"] == "healthy"

    published = compose("port", "emulator", str(engine.PORT)).stdout.strip()
    assert published.startswith("127.0.0.1:"), published
    with EmulatorClient(f"http://{published}") as client:
        assert [site["name"] for site in client.sites()] == ["default"]  # ./fixtures, mounted read-only

    client_run = compose("run", "--rm", "client")
    assert client_run.returncode == 0, client_run.stdout + client_run.stderr
    assert json.loads(client_run.stdout.strip().splitlines()[-1])["status"] == "ready"

    stopping = time.monotonic()
    assert compose("stop", "emulator").returncode == 0
    stop_seconds = time.monotonic() - stopping
    (info,) = json.loads(engine.docker("container", "inspect", emulator["ID"]))
    print(f"\n[docker] compose up --build --wait: {up_seconds:.1f} s; compose stop: {stop_seconds:.2f} s")
    assert info["State"]["ExitCode"] == 0
