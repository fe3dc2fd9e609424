"""Issue 21, item 4: a web page on another origin cannot drive the control surface.

Every request goes over real HTTP to a real server, with exactly the headers a browser sends: a "simple"
cross-origin POST (``text/plain``, no preflight), a page under a DNS-rebound name, a CORS preflight and the
call it would allow. Each attack is checked for what it tried to do (reset, install an app, mint a token,
read the journal), not only for its status. Then what must keep working: the Python client, the dashboard's
own calls, the Docker health check, Compose service names, the sites' hosts, and the control token.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.client import EmulatorClient
from emulator.config import Settings
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import BASE, SITES, auth, body
from tests.reliability.support import CHROME, Answer, cross_origin_simple_post, rebound, send

pytestmark = pytest.mark.e2e

BULK_PATH = f"{BASE}/bulk"
ATTACKER_APP = json.dumps({"key": "attacker-app", "sharedSecret": "the-attackers-own-secret-0123456789"}).encode()


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=0)) as running:
        yield running


@pytest.fixture
def client(server: ThreadedServer) -> Iterator[EmulatorClient]:
    with EmulatorClient(server.url) as emulator:
        emulator.reset()
        yield emulator


def store_one(server: ThreadedServer) -> None:
    """One stored deployment on the site "main", submitted through the Jira API."""
    headers = {"Host": "jira.test", **auth("POST", BULK_PATH), "Content-Type": "application/json"}
    answer = httpx.post(server.url + BULK_PATH, headers=headers, content=body(deployment_data("guarded", "env", 1)))
    assert answer.status_code == 202, answer.text


def app_keys(client: EmulatorClient, site: str = "main") -> set[str]:
    return {app["key"] for app in client.http.get(f"/_emulator/sites/{site}").json()["connectApps"]}


def assert_refused(answer: Answer, status: int, word: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == "application/json"
    assert word in answer.json()["error"] and word in answer.reason, answer
    assert "access-control-allow-origin" not in answer.headers


# -- what a page on another origin sends -------------------------------------------------------------------


def test_a_simple_cross_origin_post_does_not_reset_the_emulator(server: ThreadedServer, client: EmulatorClient) -> None:
    store_one(server)
    answer = cross_origin_simple_post(server.port, "/_emulator/reset", b"")
    assert_refused(answer, 403, "origin")
    assert len(client.state()) == 1


def test_a_simple_cross_origin_post_does_not_install_an_app(server: ThreadedServer, client: EmulatorClient) -> None:
    answer = cross_origin_simple_post(server.port, "/_emulator/sites/main/apps", ATTACKER_APP)
    assert_refused(answer, 403, "origin")
    assert "attacker-app" not in app_keys(client)


def test_a_form_post_without_origin_is_refused_for_its_content_type(
    server: ThreadedServer, client: EmulatorClient
) -> None:
    """Browsers that send no Origin (older ones, with a form) still cannot send ``application/json``."""
    store_one(server)
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"):
        answer = send(
            server.port,
            "POST",
            "/_emulator/reset",
            {"Host": f"127.0.0.1:{server.port}", "Content-Type": content_type, "User-Agent": CHROME},
            b"a=1",
        )
        assert_refused(answer, 415, "Content-Type")
    answer = send(server.port, "POST", "/_emulator/reset", {"Host": f"127.0.0.1:{server.port}"}, b"")
    assert_refused(answer, 415, "no Content-Type")
    assert len(client.state()) == 1


def test_a_preflight_is_refused_and_so_is_the_call_it_would_have_allowed(
    server: ThreadedServer, client: EmulatorClient
) -> None:
    preflight = send(
        server.port,
        "OPTIONS",
        "/_emulator/sites/main/apps",
        {
            "Host": f"127.0.0.1:{server.port}",
            "Origin": "http://attacker.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "cors",
            "User-Agent": CHROME,
        },
    )
    assert_refused(preflight, 403, "origin")
    # a browser stops here; a client that sends the call anyway is refused as well
    call = send(
        server.port,
        "POST",
        "/_emulator/sites/main/apps",
        {
            "Host": f"127.0.0.1:{server.port}",
            "Origin": "http://attacker.example",
            "Content-Type": "application/json",
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "cors",
        },
        ATTACKER_APP,
    )
    assert_refused(call, 403, "origin")
    assert "attacker-app" not in app_keys(client)


@pytest.mark.parametrize(
    "origin",
    ["null", "http://localhost:3000", "http://127.0.0.1", "http://127.0.0.1:{port}.attacker.example", "x", "ftp://x"],
    ids=["null", "another-port", "default-port", "suffix", "garbage", "ftp"],
)
def test_an_origin_other_than_the_emulator_itself_is_refused(server: ThreadedServer, origin: str) -> None:
    headers = {"Host": f"127.0.0.1:{server.port}", "Origin": origin.format(port=server.port)}
    assert_refused(send(server.port, "GET", "/_emulator/state", headers), 403, "origin")


def test_a_subresource_of_another_site_is_refused_but_a_link_to_the_dashboard_is_followed(
    server: ThreadedServer,
) -> None:
    host = f"127.0.0.1:{server.port}"
    image = {"Host": host, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}
    assert_refused(send(server.port, "GET", "/_emulator/journal", image), 403, "Sec-Fetch-Site")
    link = {"Host": host, "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}
    assert send(server.port, "GET", "/_emulator/ui", link).status == 200


# -- DNS rebinding -------------------------------------------------------------------------------------------


def test_a_rebound_page_reads_no_journal_mints_no_token_and_changes_nothing(
    server: ThreadedServer, client: EmulatorClient
) -> None:
    store_one(server)
    for path in ("/_emulator/journal?bodies=true", "/_emulator/journal/1", "/_emulator/state", "/_emulator/sites/main"):
        assert_refused(rebound(server.port, "GET", path), 403, "rebind.attacker.example")
    minted = rebound(server.port, "POST", "/_emulator/tokens/connect", b'{"app": "full-app", "url": "/x"}')
    assert_refused(minted, 403, "Host")
    assert_refused(rebound(server.port, "POST", "/_emulator/sites/main/apps", ATTACKER_APP), 403, "Host")
    assert_refused(rebound(server.port, "POST", "/_emulator/reset", b""), 403, "Host")
    assert "attacker-app" not in app_keys(client) and len(client.state()) == 1


dotted_names = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True), min_size=2, max_size=4).map(".".join)


@given(name=dotted_names)
def test_no_dotted_name_but_the_sites_and_localhost_is_answered(server: ThreadedServer, name: str) -> None:
    answer = rebound(server.port, "GET", "/_emulator/state", name=name)
    known = name in ("jira.test", "corp.test") or name.endswith(".localhost")
    assert answer.status == (200 if known else 403), (name, answer)


@pytest.mark.parametrize(
    "host", ["h" * 10_000 + ".example", "evil.example@127.0.0.1", "127.0.0.1 evil", "[::1", "\xe9.example"]
)
def test_a_malformed_host_is_refused(server: ThreadedServer, host: str) -> None:
    answer = send(server.port, "GET", "/_emulator/state", [("Host", host)])
    assert answer.status in (400, 403), answer  # uvicorn refuses some itself (400, text/plain)
    if answer.status == 403:
        assert "Host" in answer.reason and len(answer.body) < 2000


# -- what must keep working ------------------------------------------------------------------------------------


def test_the_python_client_drives_every_kind_of_call(server: ThreadedServer, client: EmulatorClient) -> None:
    store_one(server)
    assert client.flush() == 0
    client.clear_journal()
    client.reset(site="main")
    assert client.state() == [] and client.journal() == []


def test_the_dashboards_own_calls_are_answered(server: ThreadedServer, client: EmulatorClient) -> None:
    """What the dashboard's script sends: same-origin, with the Origin Chrome adds to a same-origin POST."""
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}", f"[::1]:{server.port}"):
        headers = {
            "Host": host,
            "Origin": f"http://{host}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Mode": "cors",
        }
        assert send(server.port, "POST", "/_emulator/queue/flush", headers).json() == {"applied": 0}
        assert send(server.port, "DELETE", "/_emulator/journal", headers).status == 200


@pytest.mark.parametrize(
    "host", ["emulator:8080", "jira", "jira.test", "corp.test:80", "10.0.3.7:8080", "[fd00::7]:8080", "app.localhost"]
)
def test_compose_names_addresses_and_the_sites_hosts_are_answered(server: ThreadedServer, host: str) -> None:
    assert send(server.port, "GET", "/_emulator/ready", {"Host": host}).status == 200
    answer = send(server.port, "POST", "/_emulator/queue/flush", {"Host": host, "Content-Type": "application/json"})
    assert answer.status == 200


def test_the_docker_health_check_passes(server: ThreadedServer) -> None:
    """The image's HEALTHCHECK, as it runs: urllib, no proxy, Host 127.0.0.1:PORT."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{server.port}/_emulator/ready", timeout=2) as answer:
        assert answer.status == 200


def test_a_site_added_at_run_time_is_answered_under_its_host(server: ThreadedServer, client: EmulatorClient) -> None:
    assert rebound(server.port, "GET", "/_emulator/ready", name="late.example").status == 403
    site = {"name": "late", "baseUrl": "http://late.example:8080", "cloudId": "77777777-7777-7777-7777-777777777777"}
    client.http.post("/_emulator/sites", json=site).raise_for_status()
    try:
        assert rebound(server.port, "GET", "/_emulator/ready", name="late.example").status == 200
    finally:
        client.http.request("DELETE", "/_emulator/sites/late", headers={"Content-Type": "application/json"})


def test_the_jira_facing_endpoints_are_not_guarded(server: ThreadedServer) -> None:
    """Jira's own endpoints answer whatever Host and Origin a client sends, as Jira does."""
    page = {"Host": "rebind.attacker.example", "Origin": "http://attacker.example"}
    assert send(server.port, "GET", "/openapi.json", page).status == 200
    assert send(server.port, "GET", "/_edge/tenant_info", page).status == 200
    form = b"grant_type=client_credentials&client_id=ci-bot&client_secret=wrong"
    token = send(
        server.port, "POST", "/oauth/token", {**page, "Content-Type": "application/x-www-form-urlencoded"}, form
    )
    assert token.status == 401 and "the control surface" not in token.body.decode()
    submit = send(server.port, "POST", BULK_PATH, {**page, "Content-Type": "text/plain"}, b"{}")
    assert submit.status == 401 and isinstance(submit.json(), list)  # the Jira surface's own refusal


# -- allowed_hosts ------------------------------------------------------------------------------------------------


def test_allowed_hosts_adds_names_domains_or_any_host() -> None:
    settings = Settings(port=0, fixtures=SITES, allowed_hosts="emulator.ci.internal, .svc.cluster.local")
    with ThreadedServer(settings) as running:
        port = running.port
        for name, status in [
            ("emulator.ci.internal", 200),
            ("jira-emulator.ci.svc.cluster.local", 200),
            ("svc.cluster.local", 200),
            ("other.ci.internal", 403),
        ]:
            assert rebound(port, "GET", "/_emulator/ready", name=name).status == status, name
        # the dashboard behind a proxy that keeps its own name as the browser's origin
        proxied = {
            "Host": f"127.0.0.1:{port}",
            "Origin": "https://emulator.ci.internal",
            "Content-Type": "application/json",
        }
        assert send(port, "POST", "/_emulator/queue/flush", proxied).status == 200
    with ThreadedServer(Settings(port=0, fixtures=SITES, allowed_hosts="*")) as anything:
        assert rebound(anything.port, "GET", "/_emulator/ready", name="rebind.attacker.example").status == 200
        # "*" opens the Host check only: another page's Origin is still refused
        attack = cross_origin_simple_post(anything.port, "/_emulator/reset", b"")
        assert attack.status == 403


# -- the control token -----------------------------------------------------------------------------------------

TOKEN = "s3cret-control-token"


@pytest.fixture(scope="module")
def locked() -> Iterator[ThreadedServer]:
    with ThreadedServer(Settings(port=0, fixtures=SITES, control_token=TOKEN)) as running:
        yield running


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Emulator-Control-Token": "wrong"}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": f"Basic {TOKEN}"}, 401),
        ({"X-Emulator-Control-Token": TOKEN}, 200),
        ({"Authorization": f"Bearer {TOKEN}"}, 200),
    ],
    ids=["none", "wrong", "wrong-bearer", "basic", "header", "bearer"],
)
def test_with_a_control_token_every_control_call_needs_it(
    locked: ThreadedServer, headers: dict[str, str], status: int
) -> None:
    base = {"Host": f"127.0.0.1:{locked.port}", "Content-Type": "application/json"}
    for method, path in [("GET", "/_emulator/state"), ("POST", "/_emulator/queue/flush"), ("GET", "/_emulator/sites")]:
        answer = send(locked.port, method, path, {**base, **headers})
        assert answer.status == status, (method, path, answer)
        if status == 401:
            assert "control token" in answer.reason and answer.headers["www-authenticate"].startswith("Bearer")


def test_with_a_control_token_the_probes_and_the_dashboards_files_need_none(locked: ThreadedServer) -> None:
    host = {"Host": f"127.0.0.1:{locked.port}"}
    for path in (
        "/_emulator/health",
        "/_emulator/ready",
        "/_emulator/ui",
        "/_emulator/ui/ui.js",
        "/_emulator/ui/ui.css",
    ):
        assert send(locked.port, "GET", path, host).status == 200, path
    assert send(locked.port, "GET", "/_emulator/ui/nope.js", host).status == 401


def test_the_client_sends_the_token_given_or_from_the_environment(
    locked: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with EmulatorClient(locked.url, control_token=TOKEN) as given:
        given.reset()
        assert given.flush() == 0
    monkeypatch.setenv("EMULATOR_CONTROL_TOKEN", TOKEN)
    with EmulatorClient(locked.url) as from_env:
        from_env.clear_journal()
        assert from_env.state() == []
    monkeypatch.delenv("EMULATOR_CONTROL_TOKEN")
    with EmulatorClient(locked.url) as without, pytest.raises(Exception, match="401"):
        without.reset()
