"""docs/docker.md's recipes against what the image really reads, creates and exposes, without an engine.

A documented EMULATOR_* variable must be a setting, a documented container path must be a folder the
image creates (or lie under one), and every container port must be the EXPOSEd one. The CI services
must match the image's port, health check and settings; test_ci_services.py starts them on a real
engine the way their runners do, and test_testcontainers.py runs the Testcontainers recipes.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import PurePosixPath

import pytest

from emulator.config import ENV_PREFIX, Settings
from tests.docker import dockerfile as df
from tests.docker.recipes import Section, docker_section, github_options, github_service, gitlab_job, walk, yaml

SETTINGS_VARS = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}


@pytest.fixture(scope="module")
def section() -> Section:
    return docker_section()


@pytest.fixture(scope="module")
def runtime() -> df.Stage:
    return df.load()[-1]


@pytest.fixture(scope="module")
def exposed(runtime: df.Stage) -> int:
    (port,) = [int(p.split("/")[0]) for ins in runtime.all("EXPOSE") for p in ins.text.split()]
    return port


def test_every_documented_variable_is_a_setting(section: Section) -> None:
    mentioned = set(re.findall(r"\bEMULATOR_[A-Z0-9_]*[A-Z0-9]\b", section.text))
    assert mentioned, "the recipes mention no EMULATOR_* variable"
    unknown = mentioned - SETTINGS_VARS
    assert not unknown, f"{section.source.name} documents variables the emulator does not read: {sorted(unknown)}"


def container_paths(section: Section) -> set[str]:
    text = section.text
    paths = set(re.findall(r"(?:-v|--volume)[ =]\"?[^\s\":]+:(/[^\s\":]+)", text))
    paths |= set(re.findall(r"with_volume_mapping\([^,]+,\s*[\"'](/[^\"']+)[\"']", text))
    paths |= set(re.findall(r"EMULATOR_FIXTURES[=:]\s*[\"']?(/[^\s\"'`),]+)", text))
    paths |= set(re.findall(r"with_env\(\s*[\"']EMULATOR_FIXTURES[\"'],\s*[\"'](/[^\"']+)[\"']", text))
    for data in section.yaml_blocks():
        for key, value in walk(data):
            if key == "volumes" and isinstance(value, list):
                paths |= {v.split(":")[1] for v in value if isinstance(v, str) and ":" in v}
            if key == "EMULATOR_FIXTURES":
                paths.add(str(value))
    return paths


def test_every_documented_container_path_exists_in_the_image(section: Section, runtime: df.Stage) -> None:
    created = {PurePosixPath(p) for p in df.created_paths(runtime)} - {PurePosixPath("/")}
    paths = container_paths(section)
    assert "/fixtures" in paths, "the recipes should show the fixtures mount"
    for path in map(PurePosixPath, paths):
        assert path in created or created & set(path.parents), f"{path}: the image creates no such folder"


def container_ports(section: Section) -> list[tuple[str, int]]:
    """Container-side ports in the recipes' code (prose may say "EMULATOR_PORT=0 is meaningless")."""
    text = "\n".join(section.blocks("sh", "bash", "shell", "yaml", "yml", "python", ""))
    found = [
        (m.group(0), int(m.group(1))) for m in re.finditer(r"(?:-p|--publish)[ =](?:[\d.]+:)?(?:\d+:)?(\d+)\b", text)
    ]
    for pattern in (
        r"with_exposed_ports\((\d+)",
        r"get_exposed_port\((\d+)",
        r"HttpWaitStrategy\((\d+)",
        r"https?://(?:jira|emulator|127\.0\.0\.1):(\d+)",
        r"EMULATOR_PORT[=:]\s*[\"']?(\d+)",
    ):
        found += [(m.group(0), int(m.group(1))) for m in re.finditer(pattern, text)]
    for data in section.yaml_blocks():
        for key, value in walk(data):
            if key == "ports" and isinstance(value, list):
                found += [(f"ports: {v}", int(str(v).split("/")[0].rsplit(":", 1)[-1])) for v in value]
    return found


def test_every_documented_container_port_is_the_exposed_one(section: Section, exposed: int) -> None:
    found = container_ports(section)
    assert len(found) >= 5, f"expected ports in every recipe, found {found}"
    wrong = [where for where, port in found if port != exposed]
    assert not wrong, f"not the EXPOSEd port {exposed}: {wrong}"


def test_every_recipe_is_there_and_parses(section: Section) -> None:
    text = section.text
    for needle in (
        "docker build -t jira-deployments-emulator .",
        "docker run",
        "service_healthy",
        "runs-on:",
        "--health-cmd",
        "alias:",
        "DockerContainer",
        "JiraEmulatorContainer",
        "/_emulator/ready",
        "docker volume create",
        "-e EMULATOR_DATA_DIR=/data",
        "docker compose up --build --wait emulator",
    ):
        assert needle in text, f"docs/docker.md lacks {needle!r}"
    for body in section.blocks("python"):
        ast.parse(body)
    bash = shutil.which("bash")
    for body in section.blocks("sh", "bash", "shell"):
        if bash:
            result = subprocess.run([bash, "-n"], input=body, capture_output=True, text=True, timeout=10)
            assert result.returncode == 0, f"{result.stderr}\n{body}"
    assert len(section.yaml_blocks()) >= 3


def test_the_compose_recipe_is_the_repositorys_file(section: Section) -> None:
    in_repo = yaml.safe_load(df.COMPOSE.read_text(encoding="utf-8"))
    shown = [b for b in section.yaml_blocks() if isinstance(b, dict) and "services" in b and "jobs" not in b]
    assert shown, "the section should show docker-compose.yml"
    assert shown[0] == in_repo, "the compose recipe differs from docker-compose.yml"
    assert "docker-compose.yml" in section.text


def test_github_service_matches_the_image(section: Section, exposed: int, runtime: df.Stage) -> None:
    service = github_service(section)
    assert set(service.get("env", {})) <= SETTINGS_VARS, "service env: settings of the emulator only"
    assert [int(str(p).split(":")[-1]) for p in service["ports"]] == [exposed]
    values = github_options(service)
    allowed = {
        "--health-cmd",
        "--health-interval",
        "--health-timeout",
        "--health-retries",
        "--health-start-period",
        "--health-start-interval",
    }
    assert set(values) <= allowed, f"unexpected docker create options: {set(values) - allowed}"
    for key in ("--health-interval", "--health-timeout", "--health-start-period", "--health-start-interval"):
        if key in values:
            df.go_duration(values[key])
    # the same probe as the image's HEALTHCHECK: Python, no curl, /_emulator/ready on the exposed port
    _, image_probe, _ = df.healthcheck(runtime)
    cmd = values.get("--health-cmd", " ".join(image_probe))
    assert cmd.startswith("python ") and "ProxyHandler({})" in cmd and not re.search(r"\b(curl|wget)\b", cmd)
    assert f"127.0.0.1:{exposed}/_emulator/ready" in cmd or "EMULATOR_PORT" in cmd


def test_gitlab_service_matches_the_image(section: Section, exposed: int) -> None:
    job = gitlab_job(section)
    (service,) = job["services"]
    assert service["alias"] and service["name"].endswith("/jira-deployments-emulator:latest")
    assert set(service.get("variables", {})) <= SETTINGS_VARS, "service variables: settings of the emulator only"
    assert not set(job.get("variables", {})) & SETTINGS_VARS, "job variables reach the service too: keep them apart"
    assert job["variables"]["JIRA_BASE_URL"] == f"http://{service['alias']}:{exposed}"
    waits = [step for step in job["script"] if "/_emulator/ready" in step]
    assert waits and job["script"].index(waits[0]) == 0, "GitLab ignores HEALTHCHECK: wait first, then test"
