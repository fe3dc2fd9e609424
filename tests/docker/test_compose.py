"""docker-compose.yml: the emulator with the image's health check, and a client that waits for it."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import PurePosixPath
from typing import Any

import pytest

from emulator.config import ENV_PREFIX, Settings
from tests.docker import dockerfile as df

yaml = pytest.importorskip("yaml", reason="PyYAML is needed to read docker-compose.yml (test extra `pyyaml`)")

SETTINGS_VARS = {ENV_PREFIX + f.name.upper() for f in fields(Settings)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(df.COMPOSE.read_text(encoding="utf-8"))
    assert isinstance(data, dict) and "version" not in data, "the Compose spec has no top-level version"
    return data


@pytest.fixture(scope="module")
def runtime() -> df.Stage:
    return df.load()[-1]


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def container_port(entry: str | int | dict[str, Any]) -> int:
    if isinstance(entry, dict):
        return int(entry["target"])
    text = str(entry).split("/")[0]
    return int(text.rsplit(":", 1)[-1])


def test_emulator_service_builds_this_dockerfile(compose: dict[str, Any]) -> None:
    emulator = compose["services"]["emulator"]
    build = emulator["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (df.COMPOSE.parent / context / dockerfile).resolve() == df.DOCKERFILE
    assert emulator["image"] == "jira-deployments-emulator"


def test_emulator_health_check_is_the_images(compose: dict[str, Any], runtime: df.Stage) -> None:
    check = compose["services"]["emulator"]["healthcheck"]
    timing, argv, exec_form = df.healthcheck(runtime)
    assert exec_form
    assert check["test"] == ["CMD", *argv], "compose and the Dockerfile must probe the same way"
    for key in ("interval", "timeout", "start_period", "start_interval"):
        assert df.go_duration(check[key]) == pytest.approx(timing[key.replace("_", "-")]), key
    assert check["retries"] == timing["retries"]


def test_ports_settings_and_mounts_match_the_image(compose: dict[str, Any], runtime: df.Stage) -> None:
    emulator = compose["services"]["emulator"]
    exposed = {int(p.split("/")[0]) for ins in runtime.all("EXPOSE") for p in ins.text.split()}
    assert emulator["ports"], "publish the port, so the host can reach the emulator too"
    assert {container_port(p) for p in emulator["ports"]} <= exposed
    env = env_of(emulator)
    assert set(env) <= SETTINGS_VARS, f"not settings of the emulator: {set(env) - SETTINGS_VARS}"
    assert "EMULATOR_HOST" not in env and "EMULATOR_PORT" not in env, "the image sets these"
    created = df.created_paths(runtime)
    for volume in emulator.get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        assert target in created, f"{target}: the image has no such folder"
        if source.startswith("."):
            assert (df.COMPOSE.parent / source).exists(), source
    if "EMULATOR_FIXTURES" in env:
        fixtures = PurePosixPath(env["EMULATOR_FIXTURES"])
        mounts = [
            PurePosixPath(v["target"] if isinstance(v, dict) else v.split(":")[1]) for v in emulator.get("volumes", [])
        ]
        assert any(fixtures == m or m in fixtures.parents for m in mounts), "EMULATOR_FIXTURES is not mounted"


def test_client_waits_for_a_healthy_emulator(compose: dict[str, Any], runtime: df.Stage) -> None:
    services = compose["services"]
    clients = [name for name in services if name != "emulator"]
    assert clients
    exposed = {int(p.split("/")[0]) for ins in runtime.all("EXPOSE") for p in ins.text.split()}
    for name in clients:
        depends = services[name]["depends_on"]
        assert isinstance(depends, dict), f"{name}: the short depends_on form does not wait for health"
        assert depends["emulator"]["condition"] == "service_healthy"
        for value in env_of(services[name]).values():
            for host, port in re.findall(r"https?://([\w.-]+):(\d+)", value):
                assert host == "emulator" and int(port) in exposed, value
