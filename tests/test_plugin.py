"""The pytest plugin, used the way a user uses it: a test file of theirs, run by pytest in a subprocess."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from pathlib import Path

import httpcore  # noqa: F401
import pytest

import emulator
from emulator.client import EmulatorClient
from emulator.config import Settings
from emulator.server import ThreadedServer
from tests.helpers import SITES

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.e2e

PACKAGE_ROOT = str(Path(emulator.__file__).resolve().parent.parent)
# httpx imports httpcore lazily, with its first client, and caches httpcore's exception classes. pytester
# drops every module a test imports once the test ends: a first client made inside a pytester test would
# leave httpx mapping the exceptions of a dropped httpcore, so import it up front.

# The user's test module of the docs (docs/python.md): their own client of the Deployments API, tested
# against the emulator with the plugin's fixture.
USER_TEST = '''
import httpx

from emulator.client import ConnectAuth

APP_KEY = "emulator-app"
SHARED_SECRET = "emulator-shared-secret-for-local-tests-only"


class DeploymentReporter:
    """The code under test: tells Jira about a deployment."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def report(self, pipeline: str, environment: str, number: int, state: str) -> dict:
        deployment = {
            "deploymentSequenceNumber": number,
            "updateSequenceNumber": 1,
            "displayName": f"{pipeline} #{number}",
            "url": f"https://ci.example.com/{pipeline}/{number}",
            "description": f"deploy {pipeline} to {environment}",
            "lastUpdated": "2026-11-01T10:00:00Z",
            "state": state,
            "pipeline": {"id": pipeline, "displayName": pipeline, "url": f"https://ci.example.com/{pipeline}"},
            "environment": {"id": environment, "displayName": environment, "type": "production"},
            "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-123"]}],
        }
        response = self.http.post("/rest/deployments/0.1/bulk", json={"deployments": [deployment]})
        response.raise_for_status()
        return response.json()


def test_reporter_submits_a_deployment(jira_emulator):
    auth = ConnectAuth(APP_KEY, SHARED_SECRET)  # signs every request: qsh per request
    with httpx.Client(base_url=jira_emulator.url, auth=auth) as http:
        result = DeploymentReporter(http).report("team/web", "prod", 42, "successful")

        assert result["rejectedDeployments"] == []
        jira_emulator.flush()  # apply accepted writes now, whatever the apply delay
        [stored] = jira_emulator.state(pipeline="team/web", status="applied")
        assert stored["provider"] == "connect:emulator-app"
        assert stored["data"]["state"] == "successful"
        assert jira_emulator.journal_count(operation="submitDeployments", status=202) == 1
        # what Jira would answer to a read of it
        got = http.get("/rest/deployments/0.1/pipelines/team%2Fweb/environments/prod/deployments/42")
        assert got.json()["displayName"] == "team/web #42"
'''


def plugin_args() -> tuple[str, ...]:
    """``-p emulator.pytest_plugin`` unless the ``pytest11`` entry point loads it already.

    Naming the module with ``-p`` as well as installing the entry point registers it twice, which pytest
    refuses ("Plugin already registered under a different name").
    """
    installed = any(ep.value == "emulator.pytest_plugin" for ep in entry_points(group="pytest11"))
    if installed and not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return ()
    return ("-p", "emulator.pytest_plugin")


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Callable[..., pytest.RunResult]:
    # pytester's subprocess runs in a temporary folder: make this checkout importable there
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))
    monkeypatch.delenv("EMULATOR_URL", raising=False)
    monkeypatch.delenv("EMULATOR_CONTROL_TOKEN", raising=False)

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*plugin_args(), "-W", "error", "-p", "no:cacheprovider", *args)

    return run


def test_a_users_test_of_their_client_passes(pytester: pytest.Pytester, run: Callable[..., pytest.RunResult]) -> None:
    pytester.makepyfile(test_reporter=USER_TEST)
    result = run()
    result.assert_outcomes(passed=1)


def test_each_test_starts_from_a_reset_emulator_on_one_server(
    pytester: pytest.Pytester, run: Callable[..., pytest.RunResult]
) -> None:
    pytester.makepyfile(
        test_isolation="""
        import httpx
        import pytest

        URLS = []


        @pytest.fixture
        def jira(jira_emulator):
            URLS.append(jira_emulator.url)
            with jira_emulator.jira(jira_emulator.connect_auth()) as client:
                yield client


        def submit(jira, pipeline):
            deployment = {
                "deploymentSequenceNumber": 1, "updateSequenceNumber": 1, "displayName": "d", "url": "https://ci/d",
                "description": "d", "lastUpdated": "2026-11-01T10:00:00Z", "state": "successful",
                "pipeline": {"id": pipeline, "displayName": pipeline, "url": "https://ci/p"},
                "environment": {"id": "prod", "displayName": "prod", "type": "production"},
                "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}],
            }
            response = jira.post("/rest/deployments/0.1/bulk", json={"deployments": [deployment]})
            assert response.status_code == 202


        @pytest.mark.parametrize("pipeline", ["first", "second", "third"])
        def test_sees_only_its_own_writes(jira_emulator, jira, pipeline):
            assert jira_emulator.state() == []
            assert jira_emulator.journal_count() == 0
            submit(jira, pipeline)
            # apply delay 0 by default: visible at once, no flush needed
            path = f"/rest/deployments/0.1/pipelines/{pipeline}/environments/prod/deployments/1"
            assert jira.get(path).status_code == 200
            assert [d["key"]["pipelineId"] for d in jira_emulator.state()] == [pipeline]
            assert jira_emulator.journal_count() == 2


        def test_one_server_for_the_session(jira_emulator_server):
            assert len(set(URLS)) == 1
            assert URLS[0] == jira_emulator_server.url
            assert jira_emulator_server.server is not None
            assert jira_emulator_server.server.url == jira_emulator_server.url
        """
    )
    result = run("-v")
    result.assert_outcomes(passed=4)


def test_ini_options_configure_the_in_process_emulator(
    pytester: pytest.Pytester, run: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(
        ".json",
        **{
            "fixtures/sites": '{"sites": [{"name": "ci", "baseUrl": "http://ci.test", "cloudId": "c-1", '
            '"connectApps": [{"key": "ci-app", "clientKey": "ck", "sharedSecret": "ci-secret"}]}]}'
        },
    )
    pytester.makeini("[pytest]\njira_emulator_fixtures = fixtures/sites.json\njira_emulator_apply_delay = 30\n")
    pytester.makepyfile(
        test_config="""
        import os


        def test_configured(jira_emulator, pytestconfig):
            assert [s["name"] for s in jira_emulator.sites()] == ["ci"]
            assert jira_emulator.server.settings.apply_delay == float(os.environ.get("EXPECTED_DELAY", "30"))
            auth = jira_emulator.connect_auth("ci-app", shared_secret="ci-secret")
            with jira_emulator.jira(auth) as jira:
                assert jira.delete("/rest/deployments/0.1/bulkByProperties?run=1").status_code == 202
        """
    )
    run().assert_outcomes(passed=1)
    # the command line wins over the ini file; run from a subfolder, the ini path stays relative to the ini
    monkeypatch.setenv("EXPECTED_DELAY", "0.25")
    monkeypatch.chdir(pytester.mkdir("sub"))
    run("--jira-emulator-apply-delay", "0.25", str(pytester.path / "test_config.py")).assert_outcomes(passed=1)


def test_command_line_fixtures_and_bad_delay(pytester: pytest.Pytester, run: Callable[..., pytest.RunResult]) -> None:
    pytester.makepyfile(
        test_sites="""
        def test_sites(jira_emulator):
            assert [s["name"] for s in jira_emulator.sites()][:2] == ["main", "ctx"]
        """
    )
    run("--jira-emulator-fixtures", SITES).assert_outcomes(passed=1)
    pytester.makeini("[pytest]\njira_emulator_apply_delay = soon\n")
    result = run()
    result.stderr.fnmatch_lines(["*jira_emulator_apply_delay: 'soon' is not a number of seconds*"])
    assert result.ret != 0


@pytest.fixture
def sidecar() -> Iterator[ThreadedServer]:
    with ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=0)) as running:
        yield running


def test_emulator_url_uses_a_running_emulator(
    pytester: pytest.Pytester,
    run: Callable[..., pytest.RunResult],
    sidecar: ThreadedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytester.makepyfile(
        test_sidecar="""
        import os

        from emulator.client import ConnectAuth


        def test_against_the_sidecar(jira_emulator):
            assert jira_emulator.url == os.environ["EMULATOR_URL"]
            assert jira_emulator.server is None
            auth = ConnectAuth("full-app", "full-secret-0123456789abcdef0123456789")
            with jira_emulator.jira(auth, site="main") as jira:
                response = jira.delete("/rest/deployments/0.1/bulkByProperties?from=sidecar")
                assert response.status_code == 202, response.text
        """
    )
    with EmulatorClient(sidecar.url) as outside:
        outside.clear_journal()
        monkeypatch.setenv("EMULATOR_URL", sidecar.url)
        run().assert_outcomes(passed=1)
        assert outside.journal_count(operation="deleteDeploymentsByProperty", provider="connect:full-app") == 1


def test_a_sidecar_with_a_control_token_takes_it_from_the_environment(
    pytester: pytest.Pytester, run: Callable[..., pytest.RunResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``EMULATOR_CONTROL_TOKEN``, the variable that locks the sidecar, also unlocks it for the plugin."""
    pytester.makepyfile(
        test_locked="""
        def test_reset_and_read(jira_emulator):
            assert jira_emulator.state() == [] and jira_emulator.journal() == []
        """
    )
    with ThreadedServer(Settings(port=0, apply_delay=0, control_token="plugin-token")) as locked:
        monkeypatch.setenv("EMULATOR_URL", locked.url)
        run().assert_outcomes(errors=1)  # the reset before the test is refused: 401
        monkeypatch.setenv("EMULATOR_CONTROL_TOKEN", "plugin-token")
        run().assert_outcomes(passed=1)


def test_options_are_listed_in_help(run: Callable[..., pytest.RunResult]) -> None:
    result = run("--help")
    result.stdout.fnmatch_lines(
        [
            "*--jira-emulator-fixtures=PATH*",
            "*--jira-emulator-apply-delay=SECONDS*",
            "*--jira-emulator-url=URL*",
        ]
    )
    result.stdout.fnmatch_lines(["*jira_emulator_fixtures (string):*", "*jira_emulator_apply_delay (string):*"])
