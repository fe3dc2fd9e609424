"""The same signed GET, over and over, as a polling client or a load test sends it: whatever the hot path
caches (verified requests, path matches, scope answers), each call is still checked, journalled and
answered exactly as the first one, and a change of state between two calls counts at once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from msgspec.structs import replace
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.domain.sites import Site
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, body, key_path, token

JSON = "application/json"
BULK = f"{BASE}/bulk"
PATH = key_path("p", "e", 1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=float(int(time.time())))


@pytest.fixture
def client(clock: ManualClock) -> Iterator[TestClient]:
    app = create_app(Settings(fixtures=SITES, apply_delay=0), clock=clock)
    with TestClient(app, base_url="http://jira.test") as c:
        now = int(time.time())
        headers = {"Authorization": f"JWT {token('POST', BULK, iat=now, exp=now + 180)}", "Content-Type": JSON}
        assert c.post(BULK, content=body(deployment_data("p", "e", 1)), headers=headers).status_code == 202
        yield c


def signed(path: str = PATH, app: str = "full-app", ttl: int = 180) -> dict[str, str]:
    now = int(time.time())
    return {"Authorization": f"JWT {token('GET', path, app, iat=now, exp=now + ttl)}"}


def main_site(client: TestClient) -> Site:
    site = client.app.state.emulator.service.sites.get("main")  # type: ignore[attr-defined]
    assert site is not None
    return site


def test_every_repeat_is_answered_and_journalled_alike(client: TestClient) -> None:
    headers = signed()
    answers = [client.get(PATH, headers=headers) for _ in range(3)]
    assert {(r.status_code, r.content) for r in answers} == {(200, answers[0].content)}
    for r in answers:
        assert r.headers["content-type"] == "application/json"
        assert r.headers["content-length"] == str(len(r.content))
        assert "X-Emulator-Findings" not in r.headers
    entries = client.get("/_emulator/journal", params={"operation": "getDeploymentByKey"}).json()["entries"]
    assert len(entries) == 3
    assert {(e["status"], e["provider"], e["path"], e["site"]) for e in entries} == {
        (200, "connect:full-app", PATH, "main")
    }
    assert all(
        e["touched"] == [{"pipelineId": "p", "environmentId": "e", "deploymentSequenceNumber": 1}] for e in entries
    )


def test_findings_come_with_every_repeat(client: TestClient) -> None:
    headers = signed(ttl=3600)  # a long-lived token
    for _ in range(3):
        assert client.get(PATH, headers=headers).headers["X-Emulator-Findings"] == "long-lived-jwt"
    report = client.get("/_emulator/contract-report").json()["providers"][0]["findings"]
    assert [(f["rule"], f["count"]) for f in report] == [("long-lived-jwt", 3)]


def test_a_token_expires_between_two_repeats(client: TestClient, clock: ManualClock) -> None:
    headers = signed(ttl=60)
    assert client.get(PATH, headers=headers).status_code == 200
    clock.advance(91)
    r = client.get(PATH, headers=headers)
    assert r.status_code == 401 and "expired" in r.headers["X-Emulator-Reason"]


def test_the_same_token_on_another_path_is_refused(client: TestClient) -> None:
    headers = signed()
    assert client.get(PATH, headers=headers).status_code == 200
    r = client.get(key_path("p", "e", 2), headers=headers)
    assert r.status_code == 401 and "qsh mismatch" in r.headers["X-Emulator-Reason"]


def test_reinstalling_the_app_counts_at_once(client: TestClient) -> None:
    headers = signed()
    assert client.get(PATH, headers=headers).status_code == 200
    apps = main_site(client).connect_apps
    original = apps["full-app"]
    apps["full-app"] = replace(original, shared_secret="another-secret-0123456789abcdef01234567")
    r = client.get(PATH, headers=headers)
    assert r.status_code == 401 and "bad signature" in r.headers["X-Emulator-Reason"]
    apps["full-app"] = replace(original, scopes=frozenset())  # the same secret, no scope at all
    r = client.get(PATH, headers=headers)
    assert r.status_code == 403 and "lacks the READ scope" in r.headers["X-Emulator-Reason"]
    apps["full-app"] = replace(original, modules=frozenset())
    r = client.get(PATH, headers=headers)
    assert r.status_code == 403 and "jiraDeploymentInfoProvider" in r.headers["X-Emulator-Reason"]
    del apps["full-app"]
    r = client.get(PATH, headers=headers)
    assert r.status_code == 401 and "not an app installed" in r.headers["X-Emulator-Reason"]
    apps["full-app"] = original
    assert client.get(PATH, headers=headers).status_code == 200


def test_faults_and_rate_limits_added_between_repeats_count(client: TestClient) -> None:
    headers = signed()
    assert client.get(PATH, headers=headers).status_code == 200
    rule = client.post("/_emulator/faults", json={"operation": "getDeploymentByKey", "status": 503, "times": 1})
    assert rule.status_code in (200, 201)
    r = client.get(PATH, headers=headers)
    assert r.status_code == 503 and r.headers["X-Emulator-Reason"].startswith("fault rule")
    assert client.get(PATH, headers=headers).status_code == 200  # the rule was used up
    assert client.put("/_emulator/sites/main/rate-limit", json={"rate": 0.001, "burst": 1}).status_code == 200
    assert client.get(PATH, headers=headers).status_code == 200
    r = client.get(PATH, headers=headers)
    assert r.status_code == 429 and "Retry-After" in r.headers
    assert client.delete("/_emulator/sites/main/rate-limit", headers=JSON_TYPE).status_code in (200, 204)
    assert client.get(PATH, headers=headers).status_code == 200


def test_a_bad_path_encoding_is_refused_every_time(client: TestClient) -> None:
    path = key_path("%FF", "e", 1)
    for _ in range(2):
        r = client.get(path, headers=signed(path))
        assert r.status_code == 400 and "percent-encoded" in r.headers["X-Emulator-Reason"]


@pytest.mark.parametrize("id_length", [1, 255], ids=["answer kept whole", "answer clipped"])
def test_a_submit_journals_the_deployments_it_accepted(client: TestClient, id_length: int) -> None:
    """The touched deployments of a submit are read back from its journalled answer when the journal keeps
    all of it, and kept as keys when the answer is longer than the journal keeps (100 ids of 255 chars)."""
    pipeline = "q" * id_length
    deployments = [deployment_data(pipeline, "e", n) for n in range(1, 101)]
    now = int(time.time())
    headers = {"Authorization": f"JWT {token('POST', BULK, iat=now, exp=now + 180)}", "Content-Type": JSON}
    answer = client.post(BULK, content=body(*deployments), headers=headers)
    assert answer.status_code == 202
    accepted = answer.json()["acceptedDeployments"]
    assert len(accepted) == 100
    entry = client.get("/_emulator/journal", params={"operation": "submitDeployments", "limit": "1"}).json()
    assert entry["entries"][0]["touched"] == accepted
