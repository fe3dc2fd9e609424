"""Every setting is a flag and an EMULATOR_* variable; the flag wins; bad values are refused clearly."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from emulator import config
from emulator.app import create_app
from emulator.config import Settings
from emulator.faults import FaultSpecError
from emulator.fixtures import FixtureError
from tests.helpers import SITES


def test_every_setting_has_a_flag_and_a_variable() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    config.add_arguments(parser)
    flags = {a.dest for a in parser._actions if a.dest != "help"}
    assert flags == {f.name for f in fields(Settings)}


def test_flags_win_over_variables_which_win_over_defaults() -> None:
    env = {"EMULATOR_PORT": "9001", "EMULATOR_JITTER": "0.25", "EMULATOR_OUT_OF_ORDER": "yes"}
    settings = config.parse(["--port", "9002"], env)
    assert (settings.port, settings.jitter, settings.out_of_order, settings.apply_delay) == (9002, 0.25, True, 0.5)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMULATOR_PORT": "http"}, "port"),
        ({"EMULATOR_APPLY_DELAY": "-1"}, "apply delay"),
        ({"EMULATOR_STRICT": "maybe"}, "strict"),
        ({"EMULATOR_RATE_LIMIT": "10"}, "RATE/BURST"),
        ({"EMULATOR_LOG_FORMAT": "xml"}, "log format"),
        ({"EMULATOR_HEADER_TIMEOUT": "0"}, "header timeout"),
        ({"EMULATOR_MAX_HEADER_BYTES": "100"}, "max header bytes"),
        ({"EMULATOR_MAX_CONNECTIONS": "0"}, "max connections"),
        ({"EMULATOR_CONTROL_TOKEN": "  "}, "control token"),
    ],
    ids=[
        "port",
        "delay",
        "strict",
        "rate-limit",
        "log-format",
        "header-timeout",
        "header-bytes",
        "connections",
        "token",
    ],
)
def test_bad_values_are_refused_clearly(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config.parse([], env)


def test_start_up_options_reach_the_running_emulator(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"operation": "submitDeployments", "status": 503, "times": 1}]))
    settings = Settings(fixtures=SITES, jitter=1.5, out_of_order=True, rate_limit="5/10", faults=str(rules))
    with TestClient(create_app(settings)) as http:
        queue = http.get("/_emulator/queue").json()
        assert (queue["jitter"], queue["outOfOrder"]) == (1.5, True)
        assert http.get("/_emulator/sites/main/rate-limit").json()["rateLimit"]["burst"] == 10
        assert http.get("/_emulator/sites/ctx/rate-limit").json()["rateLimit"] is not None
        assert [r["status"] for r in http.get("/_emulator/faults").json()["rules"]] == [503]


def test_a_bad_faults_file_stops_start_up(tmp_path: Path) -> None:
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps({"status": 503}))
    with pytest.raises(FixtureError, match="JSON list"):
        create_app(Settings(fixtures=SITES, faults=str(rules)))
    rules.write_text(json.dumps([{"status": 503, "colour": "red"}]))
    with pytest.raises(FaultSpecError, match="colour"):
        create_app(Settings(fixtures=SITES, faults=str(rules)))


def test_gating_auto_decisions_come_from_fixtures(tmp_path: Path) -> None:
    site = {
        "name": "s",
        "baseUrl": "http://s.test",
        "cloudId": "c",
        "gating": {"environmentTypes": ["staging"], "autoDecision": {"status": "allowed", "afterPolls": 2}},
    }
    path = tmp_path / "site.json"
    path.write_text(json.dumps({"sites": [site]}))
    rules = create_app(Settings(fixtures=str(path))).state.emulator.service.sites.get("s").gating
    assert (rules.auto_status, rules.auto_after_polls) == ("allowed", 2)
    site["gating"]["autoDecision"] = {"status": "allowed"}
    path.write_text(json.dumps({"sites": [site]}))
    with pytest.raises(FixtureError, match="afterSeconds or afterPolls"):
        create_app(Settings(fixtures=str(path)))


# ---- fixture validation: every problem, each with its path ------------------------------------------------


def write_sites(tmp_path: Path, *sites: dict) -> str:
    path = tmp_path / "sites.json"
    path.write_text(json.dumps({"sites": list(sites)}))
    return str(path)


def test_a_bad_fixture_names_every_problem_with_its_path(tmp_path: Path) -> None:
    site = {
        "name": "s",
        "baseUrl": "nope",
        "cloudId": "c",
        "projects": ["OK", {"key": "B-1"}, 3],
        "connectApps": [{"key": "a", "sharedSecret": "x"}],
        "gating": {"environmentTypes": ["prod"]},
        "owner": "me",
    }
    with pytest.raises(FixtureError) as caught:
        create_app(Settings(fixtures=write_sites(tmp_path, site)))
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == [
        "sites.0.baseUrl",
        "sites.0.projects.1.key",
        "sites.0.projects.2",
        "sites.0.connectApps.0.clientKey",
        "sites.0.gating.environmentTypes.0",
        "sites.0.owner",
    ]
    assert 'got "nope"' in lines[0] and 'got "B-1"' in lines[1]
    assert lines[3].endswith("this field is required")
    assert '"production"' in lines[4] and 'got "prod"' in lines[4]
    assert "unknown key (known keys: name, baseUrl, cloudId" in lines[5]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"baseUrl": "http://s.test\n"}, "sites.0.baseUrl", id="url-trailing-newline"),
        pytest.param({"projects": ["ABC\n"]}, "sites.0.projects.0", id="key-trailing-newline"),
        pytest.param({"projects": ["A-B"]}, "sites.0.projects.0", id="string-key-checked-too"),
        pytest.param({"cloudId": ""}, "sites.0.cloudId", id="empty"),
        pytest.param({"applyDelay": -1}, "sites.0.applyDelay", id="negative-delay"),
        pytest.param({"baseURL": "http://s.test"}, "did you mean 'baseUrl'?", id="typo-hint"),
    ],
)
def test_bad_site_values_are_refused(tmp_path: Path, change: dict, message: str) -> None:
    site = {"name": "s", "baseUrl": "http://s.test", "cloudId": "c"} | change
    with pytest.raises(FixtureError, match=re.escape(message)):
        create_app(Settings(fixtures=write_sites(tmp_path, site)))


def test_python_names_and_app_descriptors_are_still_accepted(tmp_path: Path) -> None:
    site = {
        "name": "s",
        "base_url": "http://s.test",
        "cloud_id": "c",
        "projects": [{"key": "OPS", "max_issue_number": 5}],
        "connect_apps": [
            {
                "descriptor": {"key": "d-app", "scopes": ["write"], "modules": {"jiraDeploymentInfoProvider": {}}},
                "client_key": "ck",
                "sharedSecret": "secret",
            }
        ],
    }
    built = create_app(Settings(fixtures=write_sites(tmp_path, site))).state.emulator.service.sites.get("s")
    assert (built.base_url, built.projects) == ("http://s.test", {"OPS": 5})
    app = built.connect_apps["d-app"]
    assert (app.client_key, app.scopes, app.modules) == ("ck", {"WRITE"}, {"jiraDeploymentInfoProvider"})


def test_start_up_imports_neither_pydantic_nor_what_only_some_routes_need() -> None:
    """pydantic is for the OpenAPI document and the slow path of a submit; the durable state, the
    dashboard and the control handlers are imported when first used. A fresh interpreter, so that
    what other tests imported does not count."""
    code = (
        "import sys; from emulator.app import create_app; create_app(); "
        "print(' '.join(m for m in ('pydantic', 'emulator.persistence', 'emulator.control.ui', "
        "'emulator.control.handlers', 'emulator.validation') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == ""


def test_the_configuration_page_gives_every_setting_with_its_default() -> None:
    """Each row of the settings table of docs/configuration.md names a setting's flag, its variable and its
    real default (the value, or words where there is none), so the table cannot drift from ``Settings``."""
    page = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    section = page.split("<!-- generated: settings -->", 1)[1].split("<!-- end generated: settings -->", 1)[0]
    seen = set()
    for row in (line for line in section.splitlines() if line.startswith("| `--")):
        flag, env, default = (cell.strip() for cell in row.strip("|").split("|")[:3])
        found = re.match(r"`--([a-z-]+)", flag)
        assert found is not None, row
        name = found.group(1).replace("-", "_")
        seen.add(name)
        assert env.startswith(f"`{config.ENV_PREFIX}{name.upper()}`"), row
        value = Settings.__dataclass_fields__[name].default
        if value is None:
            assert default in {"none", "random", "built-in default site"}, row
        elif value is False:
            assert default == "off", row
        else:
            assert default in {f"`{value}`", f"`{value:g}`" if isinstance(value, float) else ""}, row
    assert seen == {f.name for f in fields(Settings)}


BUILD = {
    "pipelineId": "web", "buildNumber": 1, "updateSequenceNumber": 1, "displayName": "#1",
    "url": "https://ci.example.com/1", "state": "successful", "lastUpdated": "2026-11-01T10:00:00Z",
}  # fmt: skip


@pytest.mark.parametrize(
    ("modules", "build", "message"),
    [
        (["jiraDeploymentInfoProvider"], BUILD, "app 'ci' does not declare the jiraBuildInfoProvider module"),
        (None, {**BUILD, "state": "done"}, 'builds[0]: {"pipelineId": "web", "buildNumber": 1}: \'state\''),
    ],
    ids=["app-without-the-builds-module", "bad-build"],
)
def test_a_build_seed_is_checked_as_a_submit_of_it_would_be(
    tmp_path: Path, modules: list[str] | None, build: dict, message: str
) -> None:
    app = {"key": "ci", "clientKey": "ck", "sharedSecret": "s" * 32} | ({"modules": modules} if modules else {})
    fixtures = {"sites": [{"name": "s", "baseUrl": "http://s.test", "cloudId": "c", "connectApps": [app]}],
                "builds": [{"builds": [build]}]}  # fmt: skip
    (tmp_path / "sites.json").write_text(json.dumps(fixtures))
    with pytest.raises(FixtureError, match=re.escape(message)):
        create_app(Settings(fixtures=str(tmp_path / "sites.json")))


def test_seeded_builds_are_there_at_start(tmp_path: Path) -> None:
    app = {"key": "ci", "clientKey": "ck", "sharedSecret": "s" * 32}
    fixtures = {"sites": [{"name": "s", "baseUrl": "http://s.test", "cloudId": "c", "connectApps": [app]}],
                "builds": [{"builds": [BUILD], "properties": {"repo": "r"}}]}  # fmt: skip
    (tmp_path / "sites.json").write_text(json.dumps(fixtures))
    with TestClient(create_app(Settings(fixtures=str(tmp_path / "sites.json"), apply_delay=0))) as client:
        (stored,) = client.get("/_emulator/state", params={"family": "builds"}).json()["builds"]
    assert stored["key"] == {"pipelineId": "web", "buildNumber": 1} and stored["properties"] == {"repo": "r"}
