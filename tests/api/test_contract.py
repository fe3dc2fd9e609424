"""Contract findings: for each rule, one client behaviour that triggers it and one that does not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from emulator.contract.checks import highest_per_group
from emulator.domain.clock import ManualClock
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, body, key_path, token

BULK = f"{BASE}/bulk"


def short(method: str, url: str, app: str = "full-app") -> dict[str, str]:
    """The headers of a clean client: a short-lived token, and a JSON Content-Type on a body."""
    now = int(time.time())
    signed = {"Authorization": f"JWT {token(method, url, app, iat=now, exp=now + 180)}"}
    return {**signed, "Content-Type": "application/json"} if method == "POST" else signed


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
    from emulator.domain.clock import iso

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


@pytest.mark.parametrize(("iat", "exp"), [(0.5, 10**400), (-1e308, 1e308)], ids=["int-beyond-floats", "float-overflow"])
def test_a_lifetime_beyond_any_number_is_long_lived(client: TestClient, iat: float, exp: float) -> None:
    path = key_path("p", "e", 1)
    r = client.get(path, headers={"Authorization": f"JWT {token('GET', path, iat=iat, exp=exp)}"})
    assert r.status_code == 404 and "long-lived-jwt" in findings(r)


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


ROCKET = "\U0001f680"  # outside the Basic Multilingual Plane: one character, two UTF-16 code units


def utf16_details(response) -> list[str]:  # type: ignore[no-untyped-def]
    entry_findings = response.json()["entries"][0]["findings"]
    return [f["detail"] for f in entry_findings if f["rule"] == "utf16-length"]


@pytest.mark.parametrize("escaped", [False, True], ids=["utf-8", "escaped-surrogates"])
def test_utf16_length(client: TestClient, escaped: bool) -> None:
    import json

    over = deployment_data("p", "e", 1, displayName=ROCKET * 200)  # 200 characters, 400 code units
    over["pipeline"]["url"] = "https://ci.example.com/" + ROCKET * 1000  # 1,023 characters, 2,023 units
    payload = {"deployments": [over], "properties": {"team": ROCKET * 128}}
    sent = json.dumps(payload, ensure_ascii=escaped).encode()
    assert sent.isascii() is escaped
    r = client.post(BULK, content=sent, headers=short("POST", BULK))
    assert r.status_code == 202 and r.json()["acceptedDeployments"] and "utf16-length" in findings(r)
    assert sorted(utf16_details(client.get("/_emulator/journal"))) == [
        "('p', 'e', 1): displayName has 200 characters but 400 UTF-16 code units (limit 255)",
        "('p', 'e', 1): pipeline.url has 1023 characters but 2023 UTF-16 code units (limit 2000)",
        "the request: properties.team has 128 characters but 256 UTF-16 code units (limit 255)",
    ]


def test_utf16_length_within_the_limit(client: TestClient) -> None:
    within = [
        deployment_data("p", "e", 1, displayName=ROCKET * 127 + "x"),  # 255 code units
        deployment_data("p", "e", 2, displayName="\u00e9" * 255, description="\u4e2d" * 255),  # BMP: one unit each
        deployment_data("p", "e", 3, commands=[{"command": ROCKET * 300}]),  # no limit on a command
    ]
    r = submit(client, *within)
    assert r.status_code == 202 and len(r.json()["acceptedDeployments"]) == 3
    assert "utf16-length" not in findings(r)


def test_strict_mode_lets_a_utf16_length_risk_through(strict: TestClient) -> None:
    r = strict.post(
        BULK, content=body(deployment_data("p", "e", 1, displayName=ROCKET * 200)), headers=short("POST", BULK)
    )
    assert r.status_code == 202 and "utf16-length" in findings(r)


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
    assert client.delete("/_emulator/contract-report", headers=JSON_TYPE).status_code == 204
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


@given(
    st.recursive(st.text(), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3)),
    st.booleans(),
)
def test_may_hold_astral_misses_no_astral_character(value: object, ensure_ascii: bool) -> None:
    # a body with a character outside the BMP must be checked; one without, and without backslashes in its
    # strings, must not (a literal backslash-u in a string may be checked for nothing: that is allowed)
    import json

    from emulator.api.submissions import may_hold_astral

    text = json.dumps(value, ensure_ascii=ensure_ascii)
    astral = any(ord(c) > 0xFFFF for s in _strings(value) for c in s)
    found = may_hold_astral(text.encode("utf-8", "surrogatepass"))
    if astral:
        assert found
    elif "\\" not in "".join(_strings(value)):
        assert not found


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


@given(
    st.lists(
        st.tuples(st.sampled_from(["pipe-a", "pipe-b"]), st.sampled_from(["env-1", "env-2"]), st.integers(-5, 5)),
        max_size=12,
    )
)
def test_the_highest_number_of_each_group_is_remembered_for_any_mix_of_groups(
    keys: list[tuple[str, str, int]],
) -> None:
    """One group (the usual request) or several, in any order: each group's highest number, nothing else."""
    expected: dict[tuple[str, ...], int] = {}
    for *group, number in keys:
        expected[tuple(group)] = max(expected.get(tuple(group), number), number)
    assert highest_per_group(keys) == expected
