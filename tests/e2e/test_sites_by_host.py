"""Which site a request's Host names, over real HTTP with the Host header set as clients send it.

A site-style host no site has (a mistyped site name under the same domain as a declared site) gets Jira's
404 and touches nothing; a local or container name, or a host of a domain no site is under, is served by
the default site, which the answer's X-Emulator-Reason and the log name; a Host with the scheme's default
port (Go's net/http writes ``:443`` for a URL spelled with it) is the site.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import JSON_TYPE, server_on, token

pytestmark = pytest.mark.e2e

SECRET = "acme-secret-0123456789abcdef0123456789"
APP = {"key": "ci-app", "clientKey": "ck", "sharedSecret": SECRET}
CORP_CLOUD, ACME_CLOUD = "c" * 8 + "-cccc-cccc-cccc-" + "c" * 12, "a" * 8 + "-aaaa-aaaa-aaaa-" + "a" * 12
SITES = {
    "sites": [  # the first is the default site
        {"name": "corp", "baseUrl": "http://jira.corp.example:8080/jira", "cloudId": CORP_CLOUD, "connectApps": [APP]},
        {"name": "acme", "baseUrl": "https://acme.atlassian.net", "cloudId": ACME_CLOUD, "connectApps": [APP]},
    ]
}
BULK = "/rest/deployments/0.1/bulk"
KEY = "/rest/deployments/0.1/pipelines/p/environments/e/deployments/1"
NO_SITE = [{"message": "There is no Jira site at this address."}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    with server_on(SITES, tmp_path_factory.mktemp("sites"), apply_delay=0) as running:
        yield running


def call(server: ThreadedServer, method: str, path: str, host: str, **kwargs: Any) -> httpx.Response:
    """``method path`` with ``Host: host``, signed by the site's app (the qsh of the site-relative path)."""
    relative = path.removeprefix("/jira")
    headers = {"Host": host, "Authorization": f"JWT {token(method, relative, 'ci-app', secret=SECRET)}"}
    with httpx.Client(base_url=server.url, timeout=5) as http:
        return http.request(method, path, headers=headers, **kwargs)


def stored(server: ThreadedServer) -> list[dict[str, Any]]:
    return httpx.get(f"{server.url}/_emulator/state", timeout=5).json()["deployments"]


def submit(server: ThreadedServer, host: str, path: str = BULK) -> httpx.Response:
    return call(server, "POST", path, host, json={"deployments": [deployment_data("p", "e", 1)]})


@pytest.fixture(autouse=True)
def empty(server: ThreadedServer) -> None:
    httpx.post(f"{server.url}/_emulator/reset", timeout=5, headers=JSON_TYPE).raise_for_status()


def test_a_mistyped_site_under_a_declared_sites_domain_is_a_404_that_touches_nothing(server: ThreadedServer) -> None:
    answer = submit(server, "nosuchsite.atlassian.net")
    assert answer.status_code == 404 and answer.json() == NO_SITE
    assert "no site has host 'nosuchsite.atlassian.net'" in answer.headers["X-Emulator-Reason"]
    assert "https://acme.atlassian.net" in answer.headers["X-Emulator-Reason"]
    assert stored(server) == []
    info = httpx.get(f"{server.url}/_edge/tenant_info", headers={"Host": "nosuchsite.atlassian.net"}, timeout=5)
    assert info.status_code == 404 and "cloudId" not in info.json()


@pytest.mark.parametrize("host", ["acme.atlassian.net", "ACME.Atlassian.NET", "acme.atlassian.net:443"])
def test_the_site_is_named_by_its_host_whatever_the_case_or_the_default_port(server: ThreadedServer, host: str) -> None:
    answer = submit(server, host)
    assert answer.status_code == 202 and "X-Emulator-Reason" not in answer.headers
    assert [d["site"] for d in stored(server)] == ["acme"]
    info = httpx.get(f"{server.url}/_edge/tenant_info", headers={"Host": host}, timeout=5).json()
    assert info == {"cloudId": ACME_CLOUD}


def test_a_site_with_a_context_path_on_its_own_port(server: ThreadedServer) -> None:
    assert submit(server, "jira.corp.example:8080", "/jira" + BULK).status_code == 202
    assert submit(server, "jira.corp.example:80", "/jira" + BULK).status_code == 202  # the port is how it was reached
    assert [d["site"] for d in stored(server)] == ["corp"]


def test_a_path_outside_the_sites_context_path_is_a_404(server: ThreadedServer) -> None:
    answer = submit(server, "jira.corp.example:8080")
    assert answer.status_code == 404 and answer.json() == NO_SITE
    assert "the path must start with its path" in answer.headers["X-Emulator-Reason"]
    assert stored(server) == []


@pytest.mark.parametrize("host", ["localhost:8080", "127.0.0.1", "[::1]:9000", "emulator:8080", "ci.other.example"])
def test_a_local_or_container_name_is_served_by_the_default_site_which_says_so(
    server: ThreadedServer, host: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="emulator.calls"):
        answer = submit(server, host)
    assert answer.status_code == 202
    reason = answer.headers["X-Emulator-Reason"]
    assert reason.startswith(f"host {host!r} names no site; the default site 'corp'"), reason
    assert [d["site"] for d in stored(server)] == ["corp"]
    assert any("names no site; the default site 'corp'" in record.getMessage() for record in caplog.records)
    entry = httpx.get(f"{server.url}/_emulator/journal", params={"limit": 1}, timeout=5).json()["entries"][0]
    assert "the default site 'corp'" in entry["reason"]


def test_any_host_falls_back_when_no_site_is_under_its_domain(tmp_path: Path) -> None:
    """The default site's fixtures declare only localhost: a client configured with any *.atlassian.net URL
    and pointed at the emulator is served by it."""
    clock = ManualClock(start=float(int(time.time())))
    with ThreadedServer(Settings(port=0, apply_delay=0), clock=clock) as running:
        info = httpx.get(f"{running.url}/_edge/tenant_info", headers={"Host": "acme.atlassian.net"}, timeout=5)
        assert info.status_code == 200 and "cloudId" in info.json()
        assert "the default site 'default'" in info.headers["X-Emulator-Reason"]
        local = httpx.get(f"{running.url}/_edge/tenant_info", headers={"Host": "127.0.0.1:8080"}, timeout=5)
        assert local.status_code == 200 and "X-Emulator-Reason" not in local.headers  # localhost is the site


def test_a_gateway_call_takes_its_site_from_the_cloud_id_whatever_the_host(server: ThreadedServer) -> None:
    answer = httpx.get(
        f"{server.url}/jira/deployments/0.1/cloud/{ACME_CLOUD}/pipelines/p/environments/e/deployments/1",
        headers={"Host": "nosuchsite.atlassian.net"},
        timeout=5,
    )
    assert answer.status_code == 401 and answer.json() == {"code": 401, "message": "Unauthorized"}
