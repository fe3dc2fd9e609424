"""What docs/docker.md promises about configuring the container, done to the container.

``EMULATOR_*`` variables; a fixtures file and a fixtures folder mounted read-only at ``/fixtures``;
durable state in a named volume at ``/data`` that keeps every acknowledged write through ``docker
restart``, through ``docker kill -s KILL`` + ``docker start`` and into a new container; a bind-mounted
data folder.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from emulator.client import EmulatorClient
from tests.docker import engine
from tests.docker.conftest import Start
from tests.factories import deployment_data

pytestmark = pytest.mark.docker

BULK = "/rest/deployments/0.1/bulk"
DEFAULT_SITE = json.loads((engine.ROOT / "fixtures" / "default.json").read_text(encoding="utf-8"))


def key_path(pipeline: str, number: int = 1) -> str:
    return f"/rest/deployments/0.1/pipelines/{pipeline}/environments/prod/deployments/{number}"


def submit(emulator: EmulatorClient, pipeline: str, number: int = 1, **auth: str) -> None:
    with emulator.jira(emulator.connect_auth(**auth)) as jira:
        accepted = jira.post(BULK, json={"deployments": [deployment_data(pipeline, "prod", number)]})
    assert accepted.status_code == 202, accepted.text


def status_of(emulator: EmulatorClient, pipeline: str, number: int = 1, **auth: str) -> int:
    with emulator.jira(emulator.connect_auth(**auth)) as jira:
        return jira.get(key_path(pipeline, number)).status_code


def site_fixture(name: str, app: str, secret: str) -> dict:
    """The default site's document under another name, app key and shared secret."""
    doc = json.loads(json.dumps(DEFAULT_SITE))
    site = doc["sites"][0]
    site.update(name=name, baseUrl=f"https://{name}.example.net", cloudId=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)))
    site["connectApps"][0].update(key=app, sharedSecret=secret)
    site["oauthClients"] = []
    return doc


def readable_by_everyone(folder: Path) -> Path:
    """``chmod -R a+rX``, as the recipe says: the image's user must read what is mounted."""
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


# ---------------------------------------------------------------------------------------------------
# EMULATOR_* variables


def test_emulator_variables_configure_the_container(start: Start) -> None:
    env = {"EMULATOR_APPLY_DELAY": "0", "EMULATOR_LOG_FORMAT": "json", "EMULATOR_MAX_BODY_BYTES": "4096"}
    container = start(env=env)
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        submit(emulator, "no-delay")
        assert status_of(emulator, "no-delay") == 200, "EMULATOR_APPLY_DELAY=0: visible at once, no flush"
        with emulator.jira(emulator.connect_auth()) as jira:
            big = {"deployments": [deployment_data("big", "prod", 1, description="x" * 5000)]}
            assert jira.post(BULK, json=big).status_code == 413, "EMULATOR_MAX_BODY_BYTES=4096"
    calls = [
        json.loads(line.split("emulator.calls: ", 1)[1])
        for line in container.logs().splitlines()
        if "emulator.calls: {" in line
    ]
    assert {"operation": "submitDeployments", "status": 202} in [
        {k: c.get(k) for k in ("operation", "status")} for c in calls
    ], "EMULATOR_LOG_FORMAT=json: one JSON object per call"


def test_a_bad_setting_stops_the_container_with_a_clear_message(start: Start) -> None:
    container = start(env={"EMULATOR_APPLY_DELAY": "soon"})
    assert container.wait_exit(timeout=10) == 2
    logs = container.logs()
    assert "apply_delay" in logs and "'soon'" in logs, logs


# ---------------------------------------------------------------------------------------------------
# fixtures at /fixtures


def test_a_fixtures_file_mounted_read_only(start: Start, tmp_path: Path) -> None:
    (tmp_path / "site.json").write_text(json.dumps(site_fixture("acme", "acme-app", "acme-secret")))
    readable_by_everyone(tmp_path)
    container = start(env={"EMULATOR_FIXTURES": "/fixtures/site.json"}, args=["-v", f"{tmp_path}:/fixtures:ro"])
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        assert [s["name"] for s in emulator.sites()] == ["acme"]
        submit(emulator, "acme-pipe", app="acme-app", shared_secret="acme-secret")
        emulator.flush()
        assert status_of(emulator, "acme-pipe", app="acme-app", shared_secret="acme-secret") == 200
        assert (
            status_of(emulator, "acme-pipe", shared_secret=DEFAULT_SITE["sites"][0]["connectApps"][0]["sharedSecret"])
            == 401
        )


def test_a_fixtures_folder_mounted_read_only(start: Start, tmp_path: Path) -> None:
    folder = tmp_path / "jira-fixtures"
    folder.mkdir()
    (folder / "10-alpha.json").write_text(json.dumps(site_fixture("alpha", "alpha-app", "alpha-secret")))
    (folder / "20-beta.json").write_text(json.dumps(site_fixture("beta", "beta-app", "beta-secret")))
    readable_by_everyone(folder)
    container = start(env={"EMULATOR_FIXTURES": "/fixtures"}, args=["-v", f"{folder}:/fixtures:ro"])
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        assert [s["name"] for s in emulator.sites()] == ["alpha", "beta"], "read in name order"
        submit(emulator, "alpha-pipe", app="alpha-app", shared_secret="alpha-secret")
        assert emulator.state(site="alpha")[0]["key"]["pipelineId"] == "alpha-pipe"


def test_a_broken_fixture_stops_the_container_with_exit_code_3(start: Start, tmp_path: Path) -> None:
    (tmp_path / "site.json").write_text('{"sites": [{"name": "x", "typo": 1}]}')
    readable_by_everyone(tmp_path)
    container = start(env={"EMULATOR_FIXTURES": "/fixtures"}, args=["-v", f"{tmp_path}:/fixtures:ro"])
    assert container.wait_exit(timeout=10) == 3
    assert "site.json" in container.logs()


# ---------------------------------------------------------------------------------------------------
# durable state at /data


def test_acknowledged_writes_survive_restart_and_kill(start: Start, volume: str) -> None:
    # an hour's apply delay: every write is still pending, only in the log, when the container goes down
    env = {"EMULATOR_DATA_DIR": "/data", "EMULATOR_APPLY_DELAY": "3600"}
    container = start(env=env, args=["-v", f"{volume}:/data"])
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        submit(emulator, "before-restart")

    container.restart()  # SIGTERM, then start again: a clean stop writes a snapshot
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        assert [d["key"]["pipelineId"] for d in emulator.state(status="pending")] == ["before-restart"]
        submit(emulator, "before-kill")

    container.kill("KILL")  # no chance to write anything more: the log alone must hold the 202'd write
    assert container.wait_exit(timeout=10) == 137
    container.start()
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        pending = sorted(d["key"]["pipelineId"] for d in emulator.state(status="pending"))
        assert pending == ["before-kill", "before-restart"]
        assert emulator.flush() == 2
        assert status_of(emulator, "before-restart") == 200

    container.remove()  # a new container on the same volume: the volume holds the state, not the container
    successor = start(env=env, args=["-v", f"{volume}:/data"])
    successor.wait_healthy()
    with EmulatorClient(successor.url) as emulator:
        assert status_of(emulator, "before-restart") == 200
        assert status_of(emulator, "before-kill") == 200


def test_a_bind_mounted_data_folder_must_be_writable_by_uid_10001(start: Start, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("preparing a folder for uid 10001 needs root (chown)")
    env = {"EMULATOR_DATA_DIR": "/data", "EMULATOR_APPLY_DELAY": "0"}
    root_owned = tmp_path / "root-owned"
    root_owned.mkdir(mode=0o755)
    refused = start(env=env, args=["-v", f"{root_owned}:/data"])
    assert refused.wait_exit(timeout=10) == 3
    assert "Permission denied" in refused.logs() and "/data" in refused.logs()

    prepared = tmp_path / "prepared"
    prepared.mkdir()
    os.chown(prepared, 10001, 10001)  # the recipe: sudo chown 10001:10001 jira-data
    container = start(env=env, args=["-v", f"{prepared}:/data"])
    container.wait_healthy()
    with EmulatorClient(container.url) as emulator:
        submit(emulator, "on-the-host")
    container.stop()
    assert {p.name for p in prepared.iterdir()} >= {"snapshot.jsonl"}
    assert "on-the-host" in (prepared / "snapshot.jsonl").read_text()
