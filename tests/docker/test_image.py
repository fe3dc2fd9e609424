"""The image on a real engine: what it is, how fast it turns healthy, how it stops.

Run alone, with the measured figures: ``.venv/bin/python -m pytest tests/docker/test_image.py -s``.
"""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.docker import engine
from tests.docker.conftest import Start

pytestmark = pytest.mark.docker

MAX_IMAGE_MB = 200
STOP_BUDGET = 2.0  # seconds from `docker stop` to an exited container


def test_the_image_is_small_labelled_and_runs_as_a_numeric_non_root_user(image: engine.Image) -> None:
    config = image.inspect["Config"]
    megabytes = image.size_bytes / 1e6
    print(f"\n[docker] image size: {megabytes:.0f} MB (at most {MAX_IMAGE_MB} MB)")
    assert megabytes <= MAX_IMAGE_MB
    labels = config["Labels"] or {}
    for key in ("title", "description", "licenses", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), f"label org.opencontainers.image.{key} missing"
    assert labels["org.opencontainers.image.title"] == engine.IMAGE
    m = re.fullmatch(r"(\d+):(\d+)", config["User"])
    assert m, f"USER {config['User']!r}: a numeric UID:GID lets runAsNonRoot check it"
    assert int(m.group(1)) != 0 and int(m.group(2)) != 0
    assert f"{engine.PORT}/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"][0] == "CMD"


def test_the_container_runs_as_that_user_and_is_healthy_within_about_a_second(
    image: engine.Image, start: Start
) -> None:
    container = start()
    healthy_after = container.wait_healthy()
    print(f"\n[docker] docker run to healthy: {healthy_after:.2f} s")
    uid, gid = image.inspect["Config"]["User"].split(":")
    ids = engine.docker("exec", container.name, "sh", "-c", "id -u; id -g; stat -c %u:%g /data").split()
    assert ids == [uid, gid, f"{uid}:{gid}"], "exec runs as the image's user; /data must be that user's"
    # the emulator's own process (the init's child) runs as that user too
    processes = engine.docker("top", container.name, "-o", "uid,pid,args")
    emulator = [line for line in processes.splitlines() if "jira-deployments-emulator serve" in line]
    assert emulator and all(line.split()[0] == uid for line in emulator), processes
    ready = httpx.get(f"{container.url}/_emulator/ready", timeout=5)
    assert ready.status_code == 200 and ready.json()["sites"][0]["name"] == "default"
    assert healthy_after < 10, "the start period is 10 s: the HEALTHCHECK should pass well within it"


@pytest.mark.parametrize("init", [False, True], ids=["tini-as-pid-1", "under-docker-init"])
def test_docker_stop_ends_it_quickly_with_exit_code_zero(start: Start, init: bool) -> None:
    container = start(args=["--init"] if init else [])
    container.wait_healthy()
    stopping = time.monotonic()
    container.stop(timeout=10)  # Docker would send SIGKILL after 10 s: the emulator must not need it
    seconds = time.monotonic() - stopping
    state = container.inspect()["State"]
    print(f"\n[docker] docker stop: {seconds:.2f} s, exit code {state['ExitCode']}")
    assert state["ExitCode"] == 0, container.logs()
    assert not state["OOMKilled"]
    assert seconds < STOP_BUDGET, container.logs()
    assert "Shutting down" in container.logs()
    assert "WARN" not in container.logs(), "tini registers as a subreaper where it is not PID 1 (-s)"


@pytest.mark.parametrize("after", [0.0, 0.15, 0.4], ids=["at-once", "0.15s", "0.4s"])
def test_a_sigterm_in_the_first_second_is_not_lost(start: Start, after: float) -> None:
    """PID 1 ignores a signal it has no handler for: the image's init must catch it from the start."""
    container = start()
    time.sleep(after)
    sent = time.monotonic()
    container.kill("TERM")
    code = container.wait_exit(timeout=STOP_BUDGET)
    seconds = time.monotonic() - sent
    print(f"\n[docker] SIGTERM {after:.2f} s after docker run: exit code {code} after {seconds:.2f} s")
    assert code == 0, f"not stopped with 0 within {STOP_BUDGET} s (exit code {code}):\n{container.logs()}"
