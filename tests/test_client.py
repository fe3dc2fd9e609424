"""``emulator.client`` over real HTTP: ConnectAuth signs each request, EmulatorClient drives /_emulator/."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import jwt
import pytest

from emulator.client import ConnectAuth, EmulatorClient, EmulatorError
from emulator.config import Settings
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import BASE, SECRETS, SITES, key_path

pytestmark = pytest.mark.e2e
BULK = f"{BASE}/bulk"
CTX_SECRET = "ctx-secret-0123456789abcdef0123456789"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    # a long delay: nothing is visible until flush, so every test says exactly when writes apply
    with ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=60)) as running:
        yield running


@pytest.fixture
def emu(server: ThreadedServer) -> Iterator[EmulatorClient]:
    with EmulatorClient(server.url) as client:
        client.reset()
        yield client


@pytest.fixture
def jira(emu: EmulatorClient) -> Iterator[httpx.Client]:
    with emu.jira(ConnectAuth("full-app", SECRETS["full-app"]), site="main") as client:
        yield client


def submit(jira: httpx.Client, *deployments: dict, properties: dict[str, str] | None = None) -> httpx.Response:  # type: ignore[type-arg]
    return jira.post(BULK, json={"deployments": list(deployments), "properties": properties or {}})


@pytest.mark.parametrize(
    "pipeline",
    ["plain", "team/app", "a+b&c", "Zürich pipeline", "50%"],
    ids=["plain", "slash", "plus-amp", "unicode-space", "percent"],
)
def test_submit_get_delete_with_ids_that_need_encoding(emu: EmulatorClient, jira: httpx.Client, pipeline: str) -> None:
    response = submit(jira, deployment_data(pipeline, "prod", 1))
    assert response.status_code == 202, response.text
    assert response.json()["acceptedDeployments"] == [
        {"pipelineId": pipeline, "environmentId": "prod", "deploymentSequenceNumber": 1}
    ]
    path = key_path(quote(pipeline, safe=""), "prod", 1)
    assert jira.get(path).status_code == 404  # pending until flushed
    assert emu.flush() == 1
    got = jira.get(path)
    assert got.status_code == 200, got.text
    assert got.json()["pipeline"]["id"] == pipeline
    assert jira.delete(path, params={"_updateSequenceNumber": 5}).status_code == 202
    emu.flush()
    assert jira.get(path).status_code == 404


def test_delete_by_properties_with_encoded_query(emu: EmulatorClient, jira: httpx.Client) -> None:
    assert submit(jira, deployment_data("p", "e", 1), properties={"team": "a/b", "run": "x y"}).status_code == 202
    assert submit(jira, deployment_data("p", "e", 2), properties={"team": "c+d"}).status_code == 202
    emu.flush()
    response = jira.delete(f"{BASE}/bulkByProperties", params={"team": "a/b", "run": "x y"})
    assert response.status_code == 202, response.text
    assert b"team=a%2Fb" in response.request.url.raw_path
    raw = jira.delete(f"{BASE}/bulkByProperties?team=c%2Bd")
    assert raw.status_code == 202, raw.text
    emu.flush()
    assert jira.get(key_path("p", "e", 1)).status_code == 404
    assert jira.get(key_path("p", "e", 2)).status_code == 404


def test_every_request_gets_its_own_token(emu: EmulatorClient) -> None:
    seen: list[httpx.Request] = []
    auth = ConnectAuth("full-app", SECRETS["full-app"], ttl=30)
    with emu.jira(auth, site="main", event_hooks={"request": [seen.append]}) as jira:
        jira.get(key_path("p", "e", 1))
        jira.get(key_path("p", "e", 1), params={"x": "1"})
        jira.delete(key_path("p", "e", 1))
    headers = [r.headers["Authorization"] for r in seen]
    assert all(h.startswith("JWT ") for h in headers)
    claims = [jwt.decode(h[4:], options={"verify_signature": False}) for h in headers]
    assert len({c["qsh"] for c in claims}) == 3
    assert {c["iss"] for c in claims} == {"full-app"}
    assert all(c["exp"] - c["iat"] == 30 for c in claims)


def test_wrong_secret_is_refused(emu: EmulatorClient) -> None:
    with emu.jira(ConnectAuth("full-app", "not-the-secret"), site="main") as jira:
        response = submit(jira, deployment_data())
    assert response.status_code == 401


def test_site_with_a_context_path(emu: EmulatorClient) -> None:
    auth = emu.connect_auth("full-app", site="ctx", shared_secret=CTX_SECRET)
    assert auth.context_path == "/jira"
    with emu.jira(auth, site="ctx") as jira:
        assert str(jira.base_url).rstrip("/").endswith("/jira")
        assert jira.headers["Host"] == "corp.test"
        response = submit(jira, deployment_data("ctx/pipe", "e", 1))
        assert response.status_code == 202, response.text
        emu.flush()
        assert jira.get(key_path("ctx%2Fpipe", "e", 1)).status_code == 200


def test_reset_of_one_site(emu: EmulatorClient, jira: httpx.Client) -> None:
    submit(jira, deployment_data("p", "e", 1))
    emu.flush()
    emu.reset(site="ctx")
    assert jira.get(key_path("p", "e", 1)).status_code == 200
    emu.reset(site="main")
    assert jira.get(key_path("p", "e", 1)).status_code == 404


def test_control_errors_raise_with_the_answer(emu: EmulatorClient) -> None:
    with pytest.raises(EmulatorError, match="answered 404") as raised:
        emu.reset(site="no-such-site")
    assert raised.value.status_code == 404
    assert "no-such-site" in str(raised.value)


def test_readiness_and_sites(emu: EmulatorClient, server: ThreadedServer) -> None:
    assert emu.health()["status"] == "ok"
    ready = emu.ready()
    assert ready["status"] == "ready"
    assert [s["name"] for s in emu.sites()][:2] == ["main", "ctx"]
    assert emu.site()["name"] == "main"
    assert emu.site("ctx")["baseUrl"] == "http://corp.test/jira"
    assert emu.cloud_id("ctx") == "22222222-2222-2222-2222-222222222222"
    assert emu.wait_until_ready(timeout=1)["status"] == "ready"
    with pytest.raises(KeyError, match="no site named 'moon'"):
        emu.site("moon")
    assert emu.url == server.url


def test_wait_until_ready_gives_up(unused_url: str) -> None:
    with EmulatorClient(unused_url, timeout=0.2) as emu, pytest.raises(TimeoutError, match="was not ready"):
        emu.wait_until_ready(timeout=0.3, interval=0.05)


@pytest.fixture
def unused_url() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_a_callers_own_http_client_is_used_and_left_open(server: ThreadedServer) -> None:
    seen: list[str] = []
    with httpx.Client(event_hooks={"request": [lambda r: seen.append(r.url.path)]}) as http:
        with EmulatorClient(server.url + "/", http=http) as emu:
            assert emu.url == server.url
            emu.health()
        assert not http.is_closed
    assert seen == ["/_emulator/health"]


def test_connect_auth_needs_a_secret_for_other_apps(emu: EmulatorClient) -> None:
    with pytest.raises(ValueError, match="pass shared_secret= for app 'full-app'"):
        emu.connect_auth("full-app")
    auth = emu.connect_auth("full-app", shared_secret="s")
    assert (auth.app_key, auth.shared_secret, auth.context_path) == ("full-app", "s", "")


def test_defaults_work_with_the_default_site() -> None:
    with ThreadedServer(Settings(port=0, apply_delay=0)) as server, EmulatorClient(server.url) as emu:
        with emu.jira(emu.connect_auth()) as jira:
            response = submit(jira, deployment_data("pipe", "prod", 1))
            assert response.status_code == 202, response.text
            emu.flush()
            assert jira.get(key_path("pipe", "prod", 1)).json()["pipeline"]["id"] == "pipe"


def test_state(emu: EmulatorClient, jira: httpx.Client) -> None:
    submit(jira, deployment_data("team/app", "prod", 1), properties={"run": "1"})
    pending = emu.state(status="pending")
    assert [d["key"]["pipelineId"] for d in pending] == ["team/app"]
    emu.flush()
    [stored] = emu.state(pipeline="team/app", provider="connect:full-app", status="applied")
    assert stored["site"] == "main"
    assert stored["provider"] == "connect:full-app"
    assert stored["key"] == {"pipelineId": "team/app", "environmentId": "prod", "deploymentSequenceNumber": 1}
    assert stored["properties"] == {"run": "1"}
    assert emu.state(site="ctx") == []


def test_journal(emu: EmulatorClient, jira: httpx.Client) -> None:
    emu.clear_journal()
    submit(jira, deployment_data("p", "e", 1))
    jira.get(key_path("p", "e", 1))
    with emu.jira(ConnectAuth("full-app", "wrong"), site="main") as bad:
        bad.get(key_path("p", "e", 1))
    assert emu.journal_count() == 3
    assert emu.journal_count(operation="submitDeployments", provider="connect:full-app") == 1
    [refused] = emu.journal(status=401)
    assert refused["method"] == "GET"
    assert refused["reason"]
    emu.clear_journal()
    assert emu.journal_count() == 0


def test_oauth_token_for_the_gateway() -> None:
    with ThreadedServer(Settings(port=0, apply_delay=0)) as server, EmulatorClient(server.url) as emu:
        token = emu.oauth_token()
        gateway = f"/jira/deployments/0.1/cloud/{emu.cloud_id()}"
        with emu.jira(token) as jira:
            response = jira.post(f"{gateway}/bulk", json={"deployments": [deployment_data("o", "e", 1)]})
            assert response.status_code == 202, response.text
            emu.flush()
            assert jira.get(f"{gateway}/pipelines/o/environments/e/deployments/1").status_code == 200
        with pytest.raises(EmulatorError):
            emu.oauth_token(client_secret="wrong")
