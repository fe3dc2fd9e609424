"""Issue 4 over real HTTP: readiness, reset, queue and time control, state, journal, gating, logs."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, auth, body, key_path

pytestmark = pytest.mark.e2e
BULK = f"{BASE}/bulk"
MAIN = {"Host": "jira.test"}


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    clock = ManualClock(start=float(int(time.time())))
    settings = Settings(port=0, fixtures=SITES, apply_delay=1.0, journal_size=5, seed=7)
    with ThreadedServer(settings, clock=clock) as running:
        yield running


@pytest.fixture
def clock(server: ThreadedServer) -> ManualClock:
    return server.emulator.clock  # type: ignore[no-any-return]


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        client.post("/_emulator/reset", headers=JSON_TYPE)
        client.put("/_emulator/queue/config", json={"applyDelay": 1.0, "jitter": 0, "outOfOrder": False})
        client.post("/_emulator/queue/resume", headers=JSON_TYPE)
        yield client


def submit(http: httpx.Client, *deployments: dict, **top: object) -> httpx.Response:
    return http.post(BULK, content=body(*deployments, **top), headers={**MAIN, **auth("POST", BULK)})


def get(http: httpx.Client, pipeline: str = "p", env: str = "e", n: int = 1) -> httpx.Response:
    path = key_path(pipeline, env, n)
    return http.get(path, headers={**MAIN, **auth("GET", path)})


def test_ready_names_version_and_sites(http: httpx.Client) -> None:
    r = http.get("/_emulator/ready")
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["sites"]] == ["main", "ctx"] and r.json()["version"]


@pytest.mark.parametrize(
    "path",
    ["/_emulator/health%0A", "/_emulator/ready%0A", "/_emulator/sites%0A", "/openapi.json%0A", "/oauth/token%0A"],
)
def test_a_control_path_with_a_trailing_newline_is_not_that_path(http: httpx.Client, path: str) -> None:
    # Starlette's "$" also matches before a final newline: these were the probe, the site list, the document
    answer = http.request("POST" if path.startswith("/oauth") else "GET", path)
    assert answer.status_code == 404
    assert answer.json() == [{"message": "No resource exists at this path."}]
    assert http.get(path.removesuffix("%0A")).status_code in (200, 405)


def test_ready_is_503_before_the_applier_runs() -> None:
    from starlette.testclient import TestClient

    from emulator.app import create_app

    app = create_app(Settings(fixtures=SITES))
    client = TestClient(app)  # not entered: the lifespan has not run
    assert client.get("/_emulator/ready").status_code == 503
    with TestClient(app) as running:
        assert running.get("/_emulator/ready").status_code == 200


def test_queue_lists_pending_then_flush_applies(http: httpx.Client) -> None:
    submit(http, deployment_data("p", "e", 1), properties={"a": "1"})
    pending = http.get("/_emulator/queue").json()["pending"]
    assert [(p["operation"], p["key"]["pipelineId"], p["provider"]) for p in pending] == [
        ("upsert", "p", "connect:full-app")
    ]
    assert http.post("/_emulator/queue/flush", headers=JSON_TYPE).json() == {"applied": 1}
    assert http.get("/_emulator/queue").json()["pending"] == []


def test_pause_holds_due_writes_until_resume(http: httpx.Client, clock: ManualClock) -> None:
    http.post("/_emulator/queue/pause", headers=JSON_TYPE)
    submit(http, deployment_data("p", "e", 1))
    clock.advance(5)
    assert get(http).status_code == 404
    assert http.get("/_emulator/queue").json()["paused"] is True
    http.post("/_emulator/queue/resume", headers=JSON_TYPE)
    assert get(http).status_code == 200


def test_apply_delay_changes_at_run_time_globally_and_per_site(http: httpx.Client, clock: ManualClock) -> None:
    http.put("/_emulator/queue/config", json={"applyDelay": 10})
    submit(http, deployment_data("p", "e", 1))
    clock.advance(5)
    assert get(http).status_code == 404
    clock.advance(5)
    assert get(http).status_code == 200
    assert http.put("/_emulator/sites/main/apply-delay", json={"applyDelay": 0}).json() == {
        "site": "main",
        "applyDelay": 0.0,
    }
    submit(http, deployment_data("p", "e", 2))
    assert get(http, n=2).status_code == 200
    http.put("/_emulator/sites/main/apply-delay", json={"applyDelay": None})
    assert http.put("/_emulator/queue/config", json={"applyDelay": -1}).status_code == 400
    assert http.put("/_emulator/queue/config", json={"typo": 1}).status_code == 400


def test_jitter_spreads_due_times(http: httpx.Client) -> None:
    http.put("/_emulator/queue/config", json={"jitter": 2.0})
    for n in range(1, 6):
        submit(http, deployment_data("p", "e", n))
    dues = {p["due"] for p in http.get("/_emulator/queue").json()["pending"]}
    assert len(dues) == 5


def test_out_of_order_mode_exposes_a_client_that_reuses_its_update_sequence_number(http: httpx.Client) -> None:
    """In order, the first write wins a tie; out of order, the second does: a client relying on
    arrival order instead of growing updateSequenceNumbers sees different data."""
    http.put("/_emulator/queue/config", json={"outOfOrder": True})
    submit(http, deployment_data("p", "e", 1, usn=1, state="in_progress"))
    submit(http, deployment_data("p", "e", 1, usn=1, state="successful"))
    seqs = [p["seq"] for p in http.get("/_emulator/queue").json()["pending"]]
    assert seqs == sorted(seqs, reverse=True)  # the later write is due first
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    assert get(http).json()["state"] == "successful"
    # a well-behaved client (growing usn) ends the same either way
    submit(http, deployment_data("p", "e", 2, usn=1, state="in_progress"))
    submit(http, deployment_data("p", "e", 2, usn=2, state="successful"))
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    assert get(http, n=2).json()["state"] == "successful"


def test_state_filters(http: httpx.Client) -> None:
    submit(http, deployment_data("p", "e", 1, gating=True), properties={"run": "1"})
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    submit(http, deployment_data("q", "e", 2))
    every = http.get("/_emulator/state").json()["deployments"]
    assert {(d["key"]["pipelineId"], d["status"]) for d in every} == {("p", "applied"), ("q", "pending")}
    applied = http.get(
        "/_emulator/state", params={"status": "applied", "site": "main", "provider": "connect:full-app"}
    ).json()["deployments"]
    assert (
        len(applied) == 1
        and applied[0]["properties"] == {"run": "1"}
        and applied[0]["gating"]["gatingStatus"] == "awaiting"
    )
    assert http.get("/_emulator/state", params={"pipeline": "q"}).json()["deployments"][0]["status"] == "pending"
    assert http.get("/_emulator/state", params={"provider": "oauth:ci-bot"}).json()["deployments"] == []
    assert http.get("/_emulator/state", params={"status": "gone"}).status_code == 400
    assert http.get("/_emulator/state", params={"colour": "red"}).status_code == 400


def test_journal_records_queries_counts_and_clears(http: httpx.Client) -> None:
    http.delete("/_emulator/journal", headers=JSON_TYPE)
    submit(http, deployment_data("p", "e", 1))
    get(http, n=9)
    http.get(key_path("p", "e", 1), headers=MAIN)  # no token: 401
    entries = http.get("/_emulator/journal").json()["entries"]
    assert [e["status"] for e in entries] == [401, 404, 202]  # newest first
    assert entries[0]["reason"] and entries[2]["touched"] == [
        {"pipelineId": "p", "environmentId": "e", "deploymentSequenceNumber": 1}
    ]
    assert entries[2]["provider"] == "connect:full-app" and entries[2]["operation"] == "submitDeployments"
    assert http.get("/_emulator/journal/count", params={"status": "4xx"}).json() == {"count": 2}
    assert http.get("/_emulator/journal/count", params={"operation": "submitDeployments", "method": "post"}).json() == {
        "count": 1
    }
    assert http.get("/_emulator/journal/count", params={"since": "2999-01-01T00:00:00Z"}).json() == {"count": 0}
    full = http.get(f"/_emulator/journal/{entries[2]['id']}").json()
    assert json.loads(full["requestBody"])["deployments"][0]["deploymentSequenceNumber"] == 1
    assert json.loads(full["responseBody"])["acceptedDeployments"]
    http.delete("/_emulator/journal", headers=JSON_TYPE)
    assert http.get("/_emulator/journal/count").json() == {"count": 0}


def test_journal_is_a_bounded_ring(http: httpx.Client) -> None:
    http.delete("/_emulator/journal", headers=JSON_TYPE)
    for n in range(8):
        get(http, n=n)
    out = http.get("/_emulator/journal").json()
    assert out["capacity"] == 5 and len(out["entries"]) == 5 and out["dropped"] >= 3


def test_gating_decision_through_the_control_surface(http: httpx.Client) -> None:
    submit(http, deployment_data("p", "e", 1, gating=True))
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    decision = {
        "site": "main",
        "provider": "connect:full-app",
        "pipelineId": "p",
        "environmentId": "e",
        "deploymentSequenceNumber": 1,
        "status": "prevented",
    }
    assert http.post("/_emulator/gating", json=decision).json()["gatingStatus"] == "prevented"
    path = key_path("p", "e", 1) + "/gating-status"
    assert http.get(path, headers={**MAIN, **auth("GET", path)}).json()["gatingStatus"] == "prevented"
    assert http.post("/_emulator/gating", json={**decision, "status": "maybe"}).status_code == 400
    assert http.post("/_emulator/gating", json={**decision, "deploymentSequenceNumber": 2}).status_code == 404


@pytest.mark.parametrize("rule", [{"afterPolls": 2}, {"afterSeconds": 30}], ids=["after-polls", "after-seconds"])
def test_gating_rules_decide_automatically(http: httpx.Client, clock: ManualClock, rule: dict) -> None:
    r = http.put(
        "/_emulator/sites/main/gating-rules",
        json={"environmentTypes": ["production", "staging"], "autoDecision": {"status": "allowed", **rule}},
    )
    assert r.status_code == 200 and r.json()["autoDecision"]["status"] == "allowed"
    try:
        submit(http, deployment_data("p", "e", 1, env_type="staging", gating=True))
        http.post("/_emulator/queue/flush", headers=JSON_TYPE)
        path = key_path("p", "e", 1) + "/gating-status"
        first = http.get(path, headers={**MAIN, **auth("GET", path)}).json()["gatingStatus"]
        clock.advance(31)
        second = http.get(path, headers={**MAIN, **auth("GET", path)}).json()["gatingStatus"]
        assert (first, second) == ("awaiting", "allowed")
    finally:
        http.put("/_emulator/sites/main/gating-rules", json={"environmentTypes": ["production"], "autoDecision": None})


def test_reset_of_one_site(http: httpx.Client) -> None:
    submit(http, deployment_data("p", "e", 1))
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    assert http.post("/_emulator/reset", params={"site": "ctx"}, headers=JSON_TYPE).status_code == 200
    assert get(http).status_code == 200
    assert http.post("/_emulator/reset", params={"site": "main"}, headers=JSON_TYPE).status_code == 200
    assert get(http).status_code == 404
    assert http.post("/_emulator/reset", params={"site": "nope"}, headers=JSON_TYPE).status_code == 404


def test_one_json_log_line_per_call(caplog: pytest.LogCaptureFixture) -> None:
    from emulator.logs import CallLogger

    server = ThreadedServer(Settings(port=0, fixtures=SITES, log_format="json"))
    with server, httpx.Client(base_url=server.url) as client, caplog.at_level(logging.INFO, logger="emulator.calls"):
        client.get(key_path("p", "e", 1), headers=MAIN)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "emulator.calls"]
    assert len(lines) == 1 and lines[0]["status"] == 401 and lines[0]["reason"]
    assert CallLogger("text")  # the default format exists too


def test_the_control_surface_mints_tokens_a_curl_user_can_use(http: httpx.Client) -> None:
    path = key_path("team%2Fapp", "e", 1) + "?x=a+b"
    minted = http.post("/_emulator/tokens/connect", json={"app": "full-app", "method": "GET", "url": path}).json()
    assert (
        minted["canonicalRequest"]
        == "GET&/rest/deployments/0.1/pipelines/team%2Fapp/environments/e/deployments/1&x=a%20b"
    )
    r = http.get(path, headers={**MAIN, "Authorization": minted["authorization"]})
    assert r.status_code == 404 and "X-Emulator-Reason" in r.headers and "qsh" not in r.headers["X-Emulator-Reason"]
    oauth = http.post("/_emulator/tokens/oauth", json={"clientId": "ci-bot"}).json()
    from tests.helpers import MAIN_CLOUD, gateway

    gw = http.get(
        gateway(MAIN_CLOUD, "/pipelines/p/environments/e/deployments/1"),
        headers={"Authorization": f"Bearer {oauth['access_token']}"},
    )
    assert gw.status_code == 404
    assert http.post("/_emulator/tokens/connect", json={"app": "nobody", "url": "/x"}).status_code == 404
    assert http.post("/_emulator/tokens/connect", json={"app": "full-app", "url": "/x", "ttl": 0}).status_code == 400


def test_the_state_view_applies_an_after_seconds_decision_without_a_poll(
    http: httpx.Client, clock: ManualClock
) -> None:
    rule = {"environmentTypes": ["production"], "autoDecision": {"status": "prevented", "afterSeconds": 10}}
    http.put("/_emulator/sites/main/gating-rules", json=rule)
    try:
        submit(http, deployment_data("p", "e", 1, gating=True))
        http.post("/_emulator/queue/flush", headers=JSON_TYPE)
        clock.advance(11)
        (deployment,) = http.get("/_emulator/state", params={"pipeline": "p"}).json()["deployments"]
        assert deployment["gating"]["gatingStatus"] == "prevented" and deployment["gating"]["polls"] == 0
    finally:
        http.put("/_emulator/sites/main/gating-rules", json={"autoDecision": None})
