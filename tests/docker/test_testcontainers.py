"""Testcontainers for Python: docs/docker.md's recipes run as written, and the package's module.

Each recipe is a ``# conftest.py`` block and the ``# test_*.py`` blocks after it. They are written to
a folder of their own, byte for byte, and run there by pytest in a fresh interpreter against the engine
(testcontainers 4.13 or later). Testcontainers' reaper comes from Docker Hub, which may be out of
reach: the runs set ``TESTCONTAINERS_RYUK_DISABLED=true``, as the page says to.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.docker import engine
from tests.docker.recipes import docker_section
from tests.factories import deployment_data

NAMED_BLOCK = re.compile(r"\A# ([\w.-]+\.py)\n")


def recipes() -> list[dict[str, str]]:
    """The Testcontainers recipes: {file name: source}, a conftest.py first."""
    found: list[dict[str, str]] = []
    for body in docker_section().blocks("python"):
        m = NAMED_BLOCK.match(body)
        if m is None:
            continue
        if m.group(1) == "conftest.py":
            found.append({})
        assert found, f"{m.group(1)} comes before any conftest.py"
        found[-1][m.group(1)] = body
    return found


def running(image: engine.Image) -> set[str]:
    return set(engine.docker("ps", "--quiet", "--filter", f"ancestor={image.tag}").split())


def test_the_page_has_both_recipes_each_with_a_test() -> None:
    found = recipes()
    assert len(found) == 2, [sorted(r) for r in found]
    assert "JiraEmulatorContainer" in found[0]["conftest.py"], "the first recipe uses the package's module"
    assert "DockerContainer(" in found[1]["conftest.py"], "the second uses plain Testcontainers"
    assert all(any(name.startswith("test_") for name in r) for r in found)


@pytest.mark.docker
@pytest.mark.parametrize("index", [0, 1], ids=["module", "plain"])
def test_a_testcontainers_recipe_runs_as_written(image: engine.Image, tmp_path: Path, index: int) -> None:
    pytest.importorskip("testcontainers", reason="test extra `testcontainers` (4.13 or later)")
    recipe = recipes()[index]
    for name, source in recipe.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    if "jira-fixtures" in recipe["conftest.py"]:  # prepared as the `docker run` recipe prepares it
        folder = tmp_path / "jira-fixtures"
        folder.mkdir()
        shutil.copy(engine.ROOT / "fixtures" / "default.json", folder)
        for path in (folder, *folder.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
    # a project of its own: pytest and its conftest.py, without this repository's pytest plugins
    env = {**os.environ, "TESTCONTAINERS_RYUK_DISABLED": "true", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    running_before = running(image)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    tests = sum(len(re.findall(r"^def test_", src, re.MULTILINE)) for src in recipe.values())
    assert done.returncode == 0 and f"{tests} passed" in done.stdout, done.stdout + done.stderr
    assert running(image) <= running_before, "the recipe left its container running"


@pytest.mark.docker
def test_the_module_serves_fixtures_and_signs_both_ways(
    image: engine.Image, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = pytest.importorskip("testcontainers.core.config", reason="test extra `testcontainers` (4.13 or later)")
    monkeypatch.setattr(config.testcontainers_config, "ryuk_disabled", True)  # no Docker Hub for its reaper
    from emulator.testcontainers import Credentials, JiraEmulatorContainer

    doc = json.loads((engine.ROOT / "fixtures" / "default.json").read_text(encoding="utf-8"))
    site = doc["sites"][0]
    site["cloudId"] = str(uuid.uuid4())
    site["connectApps"][0].update(key="ci-app", sharedSecret="ci-secret")
    site["oauthClients"][0].update(clientId="ci-client", clientSecret="ci-oauth-secret")
    fixture = tmp_path / "site.json"
    fixture.write_text(json.dumps(doc), encoding="utf-8")
    fixture.chmod(0o644)
    credentials = Credentials("ci-app", "ci-secret", "ci-client", "ci-oauth-secret")

    with JiraEmulatorContainer(image.tag, fixtures=fixture, credentials=credentials) as jira:
        assert re.fullmatch(r"http://[\w.-]+:\d+", jira.get_url())
        with jira.emulator_client() as emulator:
            assert emulator.cloud_id() == site["cloudId"], "the mounted fixture is served"
        body = {"deployments": [deployment("connect")]}
        with jira.signed_client() as http:
            assert http.post("/rest/deployments/0.1/bulk", json=body).status_code == 202
            assert http.get(key_path("/rest/deployments/0.1", "connect")).status_code == 200
        gateway = f"/jira/deployments/0.1/cloud/{site['cloudId']}"
        with jira.signed_client(oauth=True) as http:
            assert http.post(f"{gateway}/bulk", json={"deployments": [deployment("oauth")]}).status_code == 202
            assert http.get(key_path(gateway, "oauth")).status_code == 200
        builds = f"/jira/builds/0.1/cloud/{site['cloudId']}"  # the same credentials reach the Builds API
        with jira.signed_client() as http, jira.signed_client(oauth=True) as bearer:
            assert http.post("/rest/builds/0.1/bulk", json={"builds": [build("connect")]}).status_code == 202
            assert http.get("/rest/builds/0.1/pipelines/connect/builds/1").status_code == 200
            assert bearer.post(f"{builds}/bulk", json={"builds": [build("oauth")]}).status_code == 202
            assert bearer.get(f"{builds}/pipelines/oauth/builds/1").status_code == 200
        container_id = jira.get_container_id()
    assert not engine.docker("ps", "--quiet", "--filter", f"id={container_id}").strip(), "stopped on exit"


def test_the_package_never_needs_testcontainers() -> None:
    """Without testcontainers the package works, and the module says how to get it."""
    code = (
        "import sys; sys.modules['testcontainers'] = None\n"
        "import emulator.cli, emulator.app, emulator.client, emulator.pytest_plugin\n"
        "try:\n    import emulator.testcontainers\nexcept ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'jira-deployments-emulator[testcontainers]'" in done.stdout


def deployment(pipeline: str) -> dict:
    return deployment_data(pipeline, "prod", 1)


def build(pipeline: str) -> dict:
    return {
        "pipelineId": pipeline, "buildNumber": 1, "updateSequenceNumber": 1, "displayName": "#1",
        "url": "https://ci.example.com/1", "state": "successful", "lastUpdated": "2026-11-01T10:00:00Z",
        "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}],
    }  # fmt: skip


def key_path(base: str, pipeline: str) -> str:
    return f"{base}/pipelines/{pipeline}/environments/prod/deployments/1"
