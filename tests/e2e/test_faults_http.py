"""Fault rules and the rate limiter over real HTTP."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from emulator.api import errors
from emulator.server import ThreadedServer
from tests.e2e.conftest import live_server, reset_client
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, auth, body, key_path

pytestmark = pytest.mark.e2e
BULK = f"{BASE}/bulk"
MAIN = {"Host": "jira.test"}
PATH = key_path("p", "e", 1)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    yield from live_server(apply_delay=0, seed=1)


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    yield from reset_client(server)


def read(http: httpx.Client, app: str = "full-app") -> httpx.Response:
    return http.get(PATH, headers={**MAIN, **auth("GET", PATH, app)})


def test_429_for_the_next_n_matching_calls(http: httpx.Client) -> None:
    rule = http.post(
        "/_emulator/faults", json={"operation": "getDeploymentByKey", "status": 429, "retryAfter": 7, "times": 2}
    )
    assert rule.status_code == 201 and rule.json()["id"]
    first, second, third = read(http), read(http), read(http)
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 404)
    assert first.json() == [{"message": errors.RATE_LIMITED}]
    assert first.headers["Retry-After"] == "7" and first.headers["X-RateLimit-Reset"].endswith("Z")
    assert http.get("/_emulator/faults").json() == {"rules": []}


def test_rules_match_by_method_site_and_provider(http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"provider": "connect:reader", "status": 503})
    http.post("/_emulator/faults", json={"site": "ctx", "status": 500})
    assert read(http, "reader").status_code == 503
    assert read(http).status_code == 404  # other provider, other site: untouched
    submit = http.post(BULK, content=body(deployment_data()), headers={**MAIN, **auth("POST", BULK)})
    assert submit.status_code == 202
    http.delete("/_emulator/faults", headers=JSON_TYPE)
    assert read(http, "reader").status_code == 404


def test_an_injected_500_carries_an_error_trace_id(http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"status": 500, "times": 1})
    r = read(http)
    assert r.status_code == 500
    [item] = r.json()
    assert item["message"] == errors.UNEXPECTED and len(item["errorTraceId"]) == 32


def test_custom_body_and_headers(http: httpx.Client) -> None:
    http.post(
        "/_emulator/faults", json={"status": 500, "body": {"weird": True}, "headers": {"X-Trace": "abc"}, "times": 1}
    )
    r = read(http)
    assert r.status_code == 500 and r.json() == {"weird": True} and r.headers["X-Trace"] == "abc"


def test_latency_only_rule_passes_the_call_on(http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"latencyMs": 150, "times": 1})
    started = time.monotonic()
    r = read(http)
    assert r.status_code == 404 and time.monotonic() - started >= 0.15


def test_drop_connection(http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"dropConnection": True, "times": 1})
    with pytest.raises(httpx.TransportError):
        read(http)
    assert read(http).status_code == 404  # the server is fine afterwards


def test_probability_with_a_seed_is_repeatable(http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"status": 503, "probability": 0.5})
    codes = [read(http).status_code for _ in range(40)]
    assert 5 < codes.count(503) < 35 and set(codes) == {503, 404}


def test_bad_rules_are_400(http: httpx.Client) -> None:
    r = http.post("/_emulator/faults", json={"status": 429, "colour": "red"})
    assert r.status_code == 400 and "colour" in r.json()["error"]
    assert http.delete("/_emulator/faults/nope", headers=JSON_TYPE).status_code == 404


def test_rate_limiter_is_off_by_default_and_per_site(http: httpx.Client, server: ThreadedServer) -> None:
    assert http.get("/_emulator/sites/main/rate-limit").json() == {"site": "main", "rateLimit": None}
    assert http.put("/_emulator/sites/main/rate-limit", json={"rate": 1, "burst": 2}).status_code == 200
    codes = [read(http).status_code for _ in range(3)]
    assert codes == [404, 404, 429]
    limited = read(http)
    assert limited.headers["Retry-After"] == "1" and limited.json() == [{"message": errors.RATE_LIMITED}]
    server.emulator.clock.advance(1)
    assert read(http).status_code == 404
    assert http.put("/_emulator/sites/main/rate-limit", json={"rate": 0, "burst": 1}).status_code == 400
    http.delete("/_emulator/sites/main/rate-limit", headers=JSON_TYPE)
    assert [read(http).status_code for _ in range(5)] == [404] * 5


def test_gateway_faults_keep_the_gateway_shape(http: httpx.Client) -> None:
    from tests.helpers import CLIENT_SECRETS, MAIN_CLOUD, gateway

    fields = {"grant_type": "client_credentials", "client_id": "ci-bot", "client_secret": CLIENT_SECRETS["ci-bot"]}
    token = http.post("/oauth/token", data=fields).json()["access_token"]
    http.post("/_emulator/faults", json={"provider": "oauth:ci-bot", "status": 401})
    r = http.get(
        gateway(MAIN_CLOUD, "/pipelines/p/environments/e/deployments/1"), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}


def submit_body(usn: int) -> bytes:
    return body(deployment_data(usn=usn))


def journal_bodies(http: httpx.Client) -> list[tuple[int, str | None]]:
    """(status, request body) of the submits, oldest first."""
    entries = http.get("/_emulator/journal", params={"operation": "submitDeployments", "bodies": "true"}).json()
    return [(e["status"], e.get("requestBody")) for e in reversed(entries["entries"])]


def test_the_journal_keeps_the_body_of_a_submit_refused_before_it_was_read(http: httpx.Client) -> None:
    # a fault, a rate limit and a bad token all answer before the handler reads the body: a test that checks
    # a client's retry compares the attempt's body with the retry's
    http.post("/_emulator/faults", json={"operation": "submitDeployments", "status": 503, "times": 1})
    attempt = http.post(BULK, content=submit_body(1), headers={**MAIN, **auth("POST", BULK)})
    retry = http.post(BULK, content=submit_body(1), headers={**MAIN, **auth("POST", BULK)})
    unsigned = http.post(BULK, content=submit_body(2), headers={**MAIN, "Authorization": "JWT not.a.token"})
    assert (attempt.status_code, retry.status_code, unsigned.status_code) == (503, 202, 401)
    assert journal_bodies(http) == [
        (503, submit_body(1).decode()),
        (202, submit_body(1).decode()),
        (401, submit_body(2).decode()),
    ]


def test_the_journal_keeps_the_body_of_a_submit_whose_connection_was_dropped(http: httpx.Client) -> None:
    http.post("/_emulator/faults", json={"operation": "submitDeployments", "dropConnection": True, "times": 1})
    with pytest.raises(httpx.TransportError):
        http.post(BULK, content=submit_body(3), headers={**MAIN, **auth("POST", BULK)})
    assert journal_bodies(http) == [(499, submit_body(3).decode())]


def test_a_refused_body_over_the_limit_is_not_read_for_the_journal(http: httpx.Client, server: ThreadedServer) -> None:
    limit = server.emulator.settings.max_body_bytes
    http.post("/_emulator/faults", json={"operation": "submitDeployments", "status": 503, "times": 1})
    big = b'{"deployments": [], "padding": "' + b"x" * limit + b'"}'
    r = http.post(BULK, content=big, headers={**MAIN, **auth("POST", BULK)})
    assert r.status_code == 503
    assert journal_bodies(http) == [(503, None)]
