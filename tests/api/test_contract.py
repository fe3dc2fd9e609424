"""Contract findings: for each rule, one client behaviour that triggers it and one that does not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from emulator.domain.clock import ManualClock
from tests.factories import deployment_data
from tests.helpers import BASE, SITES, body, key_path, token

BULK = f"{BASE}/bulk"


def short(method: str, url: str, app: str = "full-app") -> dict[str, str]:
    now = int(time.time())
    return {"Authorization": f"JWT {token(method, url, app, iat=now, exp=now + 180)}"}


def findings(response) -> set[str]:  # type: ignore[no-untyped-def]
    header = response.headers.get("X-Emulator-Findings", "")
    return {f.strip() for f in header.split(",") if f.strip()}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=float(int(time.time())))


def make_client(clock: ManualClock, *, strict: bool) -> Iterator[TestClient]:
    app = create_app(Settings(fixtures=SITES, apply_delay=0.5, strict=strict), clock=clock)
    with TestClient(app, base_url="http://jira.test") as c:
        yield c


@pytest.fixture
def client(clock: ManualClock) -> Iterator[TestClient]:
    yield from make_client(clock, strict=False)


@pytest.fixture
def strict(clock: ManualClock) -> Iterator[TestClient]:
    yield from make_client(clock, strict=True)


def submit(client: TestClient, *deps: dict, **top: object):  # type: ignore[no-untyped-def]
    return client.post(BULK, content=body(*deps, **top), headers=short("POST", BULK))


def test_a_clean_client_has_no_findings(client: TestClient, clock: ManualClock) -> None:
    assert findings(submit(client, deployment_data("p", "e", 1, usn=1))) == set()
    clock.advance(1)
    assert findings(submit(client, deployment_data("p", "e", 1, usn=2, state="failed"))) == set()
    assert findings(submit(client, deployment_data("p", "e", 2, usn=1))) == set()
    clock.advance(1)
    path = key_path("p", "e", 1)
    assert findings(client.get(path, headers=short("GET", path))) == set()
    assert client.get("/_emulator/contract-report").json()["providers"] == []


def test_deprecated_issue_keys(client: TestClient) -> None:
    legacy = deployment_data("p", "e", 1, issue_keys=["ABC-1"])
    assert "deprecated-issue-keys" in findings(submit(client, legacy))
    assert "deprecated-issue-keys" not in findings(submit(client, deployment_data("p", "e", 2)))


def test_deprecated_update_sequence_number_parameter(client: TestClient) -> None:
    with_bound = key_path("p", "e", 1) + "?_updateSequenceNumber=3"
    assert "deprecated-update-sequence-number-parameter" in findings(
        client.delete(with_bound, headers=short("DELETE", with_bound))
    )
    plain = key_path("p", "e", 1)
    assert findings(client.delete(plain, headers=short("DELETE", plain))) == set()
    by_props = f"{BASE}/bulkByProperties?a=1&_updateSequenceNumber=3"
    assert "deprecated-update-sequence-number-parameter" in findings(
        client.delete(by_props, headers=short("DELETE", by_props))
    )


def test_lost_update_against_pending_and_applied_writes(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1, usn=5, state="in_progress"))
    r = submit(client, deployment_data("p", "e", 1, usn=5, state="successful"))  # still pending: same usn, new data
    assert "lost-update" in findings(r)
    clock.advance(1)
    assert "lost-update" in findings(submit(client, deployment_data("p", "e", 1, usn=4, state="failed")))
    # a retry of the very same data is not a lost update, nor is a grown usn
    assert "lost-update" not in findings(submit(client, deployment_data("p", "e", 1, usn=5, state="in_progress")))
    assert "lost-update" not in findings(submit(client, deployment_data("p", "e", 1, usn=6, state="successful")))


def test_sequence_number_went_backwards(client: TestClient) -> None:
    submit(client, deployment_data("p", "e", 10))
    assert "sequence-number-went-backwards" in findings(submit(client, deployment_data("p", "e", 9)))
    assert "sequence-number-went-backwards" not in findings(submit(client, deployment_data("p", "e", 11)))
    assert "sequence-number-went-backwards" not in findings(submit(client, deployment_data("p", "other-env", 1)))


def test_last_updated_in_future_and_far_past(client: TestClient, clock: ManualClock) -> None:
    from emulator.journal import iso

    future = deployment_data("p", "e", 1, lastUpdated=iso(clock.now() + 3600))
    assert "last-updated-in-future" in findings(submit(client, future))
    near = deployment_data("p", "e", 2, lastUpdated=iso(clock.now() + 60))
    assert findings(submit(client, near)) == set()
    past = deployment_data("p", "e", 3, lastUpdated="2019-01-01T00:00:00+02:00")
    assert "last-updated-far-past" in findings(submit(client, past))


def test_unknown_issue_keys(client: TestClient) -> None:
    unknown = deployment_data(
        "p", "e", 1, associations=[{"associationType": "issueIdOrKeys", "values": ["ABC-1", "NOPE-9"]}]
    )
    assert "unknown-issue-keys" in findings(submit(client, unknown))
    assert "unknown-issue-keys" not in findings(submit(client, deployment_data("p", "e", 2)))


def test_qsh_over_the_decoded_path(client: TestClient) -> None:
    raw = key_path("team%2Fapp", "e", 1)
    decoded_token = short("GET", key_path("team/app", "e", 1))
    r = client.get(raw, headers=decoded_token)
    assert r.status_code == 404 and "qsh-over-decoded-path" in findings(r)
    assert "qsh-over-decoded-path" not in findings(client.get(raw, headers=short("GET", raw)))


def test_long_lived_jwt(client: TestClient) -> None:
    from tests.helpers import auth

    path = key_path("p", "e", 1)
    assert "long-lived-jwt" in findings(client.get(path, headers=auth("GET", path)))  # atlassian-jwt's default: 1 h
    assert "long-lived-jwt" not in findings(client.get(path, headers=short("GET", path)))


def test_read_before_visible(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1))
    path = key_path("p", "e", 1)
    assert "read-before-visible" in findings(client.get(path, headers=short("GET", path)))
    clock.advance(1)
    assert "read-before-visible" not in findings(client.get(path, headers=short("GET", path)))


def test_polling_too_fast(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1, gating=True))
    clock.advance(1)
    path = key_path("p", "e", 1) + "/gating-status"
    assert findings(client.get(path, headers=short("GET", path))) == set()
    clock.advance(0.2)
    assert "polling-too-fast" in findings(client.get(path, headers=short("GET", path)))
    clock.advance(5)
    assert "polling-too-fast" not in findings(client.get(path, headers=short("GET", path)))


def test_findings_reach_the_journal_and_the_report(client: TestClient) -> None:
    submit(client, deployment_data("p", "e", 10))
    submit(client, deployment_data("p", "e", 9))
    submit(client, deployment_data("p", "e", 8))
    entry = client.get("/_emulator/journal").json()["entries"][0]
    assert [f["rule"] for f in entry["findings"]] == ["sequence-number-went-backwards"]
    report = client.get("/_emulator/contract-report").json()
    (provider,) = report["providers"]
    assert provider["provider"] == "connect:full-app" and provider["site"] == "main"
    (finding,) = provider["findings"]
    assert (
        finding["rule"] == "sequence-number-went-backwards" and finding["count"] == 2 and finding["class"] == "mistake"
    )
    assert finding["example"]["path"] == BULK and finding["fix"]
    assert client.delete("/_emulator/contract-report").status_code == 204
    assert client.get("/_emulator/contract-report").json()["providers"] == []


def test_strict_mode_refuses_mistakes_and_stores_nothing(strict: TestClient, clock: ManualClock) -> None:
    r = strict.post(BULK, content=body(deployment_data("p", "e", 1, issue_keys=["ABC-1"])), headers=short("POST", BULK))
    assert r.status_code == 400
    assert "deprecated-issue-keys" in r.json()[0]["message"] and "strict mode" in r.json()[0]["message"]
    clock.advance(1)
    path = key_path("p", "e", 1)
    assert strict.get(path, headers=short("GET", path)).status_code == 404
    decoded = strict.get(key_path("a%2Fb", "e", 1), headers=short("GET", key_path("a/b", "e", 1)))
    assert decoded.status_code == 400 and "qsh-over-decoded-path" in decoded.json()[0]["message"]


def test_strict_mode_lets_risks_through(strict: TestClient) -> None:
    from tests.helpers import auth

    path = key_path("p", "e", 1)
    r = strict.get(path, headers=auth("GET", path))  # a long-lived token is a risk, not a mistake
    assert r.status_code == 404 and "long-lived-jwt" in findings(r)


def test_a_retry_spelled_differently_is_not_a_lost_update(client: TestClient, clock: ManualClock) -> None:
    # the check compares canonical bodies first and falls back to the data when the bytes differ: the same
    # data with schemaVersion given, then left out (a different key order in the stored body), and a
    # lower usn, is a retry, not a lost update; a differing value in a nested object is one
    first = deployment_data("p", "e", 1, usn=5)
    first["schemaVersion"] = "1.0"
    first["triggeredBy"] = {"email": "ci@example.com"}
    submit(client, first)
    clock.advance(1)
    retry = {k: v for k, v in first.items() if k != "schemaVersion"} | {"updateSequenceNumber": 4}
    assert "lost-update" not in findings(submit(client, retry))
    changed = retry | {"triggeredBy": {"email": "someone@example.com"}}
    assert "lost-update" in findings(submit(client, changed))
