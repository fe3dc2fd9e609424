"""The Builds API over real HTTP: its four operations on both path families, its schema and limits, its
semantics, who may call it, and the tolerances production clients rely on (builds-api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.client import BearerAuth, ConnectAuth
from emulator.server import ThreadedServer
from tests.helpers import JSON_TYPE, server_on

pytestmark = pytest.mark.e2e

CLOUD = "b" * 8 + "-bbbb-bbbb-bbbb-" + "b" * 12
SECRET = "builds-secret-0123456789abcdef0123456789"
APPS = [
    {"key": "ci", "clientKey": "ck1", "sharedSecret": SECRET},  # both modules, by default
    {"key": "cd-only", "clientKey": "ck2", "sharedSecret": SECRET, "modules": ["jiraDeploymentInfoProvider"]},
    {"key": "ci-only", "clientKey": "ck3", "sharedSecret": SECRET, "modules": ["jiraBuildInfoProvider"]},
    {"key": "reader", "clientKey": "ck4", "sharedSecret": SECRET, "scopes": ["READ"]},
]
CLIENTS = [
    {"clientId": "ci-bot", "clientSecret": SECRET},  # both permissions, by default
    {"clientId": "cd-bot", "clientSecret": SECRET, "permissions": ["deployments"]},
]
SITES = {
    "sites": [
        {"name": "ci", "baseUrl": "https://ci.atlassian.net", "cloudId": CLOUD, "projects": [{"key": "ABC"}],
         "connectApps": APPS, "oauthClients": CLIENTS},
    ]
}  # fmt: skip
SITE = "/rest/builds/0.1"
GATEWAY = f"/jira/builds/0.1/cloud/{CLOUD}"
FORBIDDEN = (
    "The JWT token used does not correspond to an app that defines the `jiraBuildInfoProvider` module, "
    "or the app does not define the '{scope}' scope."
)
NOT_FOUND = [{"message": "No build data found for the given key."}]
PROPERTY_KEY = "'properties' key '_x' must not be empty, contain ':' or start with '_'"


def build(pipeline: str = "web", number: int = 1, usn: int = 1, **changes: Any) -> dict[str, Any]:
    data = {
        "pipelineId": pipeline,
        "buildNumber": number,
        "updateSequenceNumber": usn,
        "displayName": f"#{number}",
        "url": f"https://ci.example.com/{number}",
        "state": "successful",
        "lastUpdated": "2026-11-01T10:00:00Z",
        "issueKeys": ["ABC-1"],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    with server_on(SITES, tmp_path_factory.mktemp("builds"), apply_delay=1) as running:
        yield running


@pytest.fixture(autouse=True)
def reset(server: ThreadedServer) -> None:
    httpx.post(f"{server.url}/_emulator/reset", headers=JSON_TYPE, timeout=5).raise_for_status()


def connect(server: ThreadedServer, app: str = "ci") -> httpx.Client:
    auth = ConnectAuth(app, SECRET)
    return httpx.Client(base_url=server.url, auth=auth, headers={"Host": "ci.atlassian.net"}, timeout=5)


def oauth(server: ThreadedServer, client: str = "ci-bot") -> httpx.Client:
    form = {"grant_type": "client_credentials", "client_id": client, "client_secret": SECRET}
    token = httpx.post(f"{server.url}/oauth/token", data=form, timeout=5).json()["access_token"]
    return httpx.Client(base_url=server.url, auth=BearerAuth(token), timeout=5)


def flush(server: ThreadedServer) -> None:
    httpx.post(f"{server.url}/_emulator/queue/flush", headers=JSON_TYPE, timeout=5).raise_for_status()


@pytest.mark.parametrize("via", ["site", "gateway"])
def test_a_build_is_submitted_read_back_and_deleted(server: ThreadedServer, via: str) -> None:
    base, client = (SITE, connect(server)) if via == "site" else (GATEWAY, oauth(server))
    with client as http:
        answer = http.post(f"{base}/bulk", json={"builds": [build("team/app ci", 7)], "properties": {"repo": "r1"}})
        assert answer.status_code == 202
        assert answer.json() == {
            "acceptedBuilds": [{"pipelineId": "team/app ci", "buildNumber": 7}],
            "rejectedBuilds": [],
            "unknownIssueKeys": [],
            "unknownAssociations": [],
        }
        key = f"{base}/pipelines/team%2Fapp%20ci/builds/7"
        assert http.get(key).status_code == 404  # the write applies after the delay
        flush(server)
        stored = http.get(key)
        assert stored.status_code == 200
        assert stored.json() == {"schemaVersion": "1.0", **build("team/app ci", 7)}  # never its properties
        assert http.delete(f"{base}/bulkByProperties", params={"repo": "r1"}).status_code == 202
        flush(server)
        assert http.get(key).json() == NOT_FOUND


def test_an_equal_or_lower_update_sequence_number_is_accepted_and_ignored(server: ThreadedServer) -> None:
    with connect(server) as http:
        for usn, state in ((5, "in_progress"), (5, "failed"), (4, "cancelled"), (6, "successful")):
            answer = http.post(f"{SITE}/bulk", json={"builds": [build(usn=usn, state=state)]})
            assert answer.json()["acceptedBuilds"] == [{"pipelineId": "web", "buildNumber": 1}]
            flush(server)
            expected = "in_progress" if usn != 6 else "successful"
            assert http.get(f"{SITE}/pipelines/web/builds/1").json()["state"] == expected


def test_a_bad_build_is_rejected_alone_in_jiras_words(server: ThreadedServer) -> None:
    builds = [
        build(number=1),
        build(number=2, state="failure"),
        build(number=3, url=...),
        build(number=4, references=[]),
        build(number=5, schemaVersion=""),
        build(number=6, issueKeys=["NOPE-1"]),
    ]
    with connect(server) as http:
        answer = http.post(f"{SITE}/bulk", json={"builds": builds}).json()
    assert answer["acceptedBuilds"] == [{"pipelineId": "web", "buildNumber": 1}]
    errors = {r["key"]["buildNumber"]: [e["message"] for e in r["errors"]] for r in answer["rejectedBuilds"]}
    states = "pending, in_progress, successful, failed, cancelled, unknown"
    assert errors == {
        2: [f"'state' is not valid. Allowed values are: [{states}]."],
        3: ["'url' is required"],
        4: ["At least one 'references' is required"],
        5: ["'schemaVersion' is not valid. Allowed values are: [1.0]."],
        6: ["No valid issues found for build"],
    }
    assert answer["unknownIssueKeys"] == ["NOPE-1"] and answer["unknownAssociations"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"builds": []}, "At least one 'builds' is required"),
        ({"builds": [build(number=n) for n in range(101)]}, "'builds' must contain at most 100 items, got 101"),
        ({}, "'builds' is required"),
        ({"builds": [{"displayName": "no key"}]}, "'builds[0].pipelineId' is required"),
        ({"builds": [build()], "properties": {"_x": "1"}}, PROPERTY_KEY),
    ],
    ids=["empty", "too-many", "missing", "no-key", "property-key"],
)  # fmt: skip
def test_a_request_that_cannot_be_read_build_by_build_is_a_400(
    server: ThreadedServer, body: dict[str, Any], message: str
) -> None:
    with connect(server) as http:
        answer = http.post(f"{SITE}/bulk", json=body)
    assert answer.status_code == 400 and message in [m["message"] for m in answer.json()]


def test_what_production_clients_send_is_taken(server: ThreadedServer) -> None:
    """Jenkins' explicit nulls, HighwayThree's numbers as strings, GitHub's numeric properties, an id with a
    slash and spaces, Python's microseconds and a +hh:mm offset; and a build with no issue at all."""
    tolerated = build(
        "org/repo build",
        number="42",  # type: ignore[arg-type]
        usn="1700000000000",  # type: ignore[arg-type]
        description=None,
        references=None,
        testInfo={"totalNumber": "3", "numberPassed": "2", "numberFailed": "1"},
        lastUpdated="2026-03-07T04:39:33.141963+00:00",
    )
    unlinked = build(number=43, issueKeys=[])
    with connect(server) as http:
        answer = http.post(
            f"{SITE}/bulk", json={"builds": [tolerated, unlinked], "properties": {"gitHubInstallationId": 1234}}
        ).json()
        assert [k["buildNumber"] for k in answer["acceptedBuilds"]] == [42, 43] and answer["rejectedBuilds"] == []
        flush(server)
        got = http.get(f"{SITE}/pipelines/org%2Frepo%20build/builds/42").json()
        assert got["testInfo"] == {"totalNumber": 3, "numberPassed": 2, "numberFailed": 1}
        assert "description" not in got and got["updateSequenceNumber"] == 1700000000000
        assert http.delete(f"{SITE}/bulkByProperties", params={"gitHubInstallationId": "1234"}).status_code == 202
        flush(server)
        assert http.get(f"{SITE}/pipelines/web/builds/43").status_code == 404


def test_delete_by_key_honours_the_deprecated_bound(server: ThreadedServer) -> None:
    with connect(server) as http:
        http.post(f"{SITE}/bulk", json={"builds": [build(usn=5)]})
        flush(server)
        assert http.delete(f"{SITE}/pipelines/web/builds/1", params={"_updateSequenceNumber": 4}).status_code == 202
        flush(server)
        assert http.get(f"{SITE}/pipelines/web/builds/1").status_code == 200
        assert http.delete(f"{SITE}/pipelines/web/builds/1").status_code == 202
        assert http.delete(f"{SITE}/pipelines/web/builds/999").status_code == 202  # unknown: 202 too
        flush(server)
        assert http.get(f"{SITE}/pipelines/web/builds/1").status_code == 404


def test_delete_by_properties_is_an_and(server: ThreadedServer) -> None:
    with connect(server) as http:
        http.post(f"{SITE}/bulk", json={"builds": [build(number=1)], "properties": {"a": "1", "b": "2"}})
        http.post(f"{SITE}/bulk", json={"builds": [build(number=2)], "properties": {"a": "1", "b": "3"}})
        flush(server)
        http.delete(f"{SITE}/bulkByProperties", params={"a": "1", "b": "2"})
        flush(server)
        assert http.get(f"{SITE}/pipelines/web/builds/1").status_code == 404
        assert http.get(f"{SITE}/pipelines/web/builds/2").status_code == 200
        answer = http.delete(f"{SITE}/bulkByProperties")
        assert answer.status_code == 400
        assert answer.json() == [{"message": "At least one property must be given to delete builds by properties."}]


@pytest.mark.parametrize(
    ("app", "method", "path", "status", "scope"),
    [
        ("cd-only", "GET", f"{SITE}/pipelines/web/builds/1", 403, "READ"),
        ("ci-only", "GET", f"{SITE}/pipelines/web/builds/1", 404, None),
        ("reader", "DELETE", f"{SITE}/pipelines/web/builds/1", 403, "DELETE"),
        ("ci-only", "GET", "/rest/deployments/0.1/pipelines/p/environments/e/deployments/1", 403, None),
    ],
    ids=["deployment-module-only", "build-module-only", "read-scope-deletes", "build-module-reads-deployments"],
)
def test_an_app_needs_the_builds_module_and_the_scope(
    server: ThreadedServer, app: str, method: str, path: str, status: int, scope: str | None
) -> None:
    with connect(server, app) as http:
        answer = http.request(method, path)
    assert answer.status_code == status
    if status == 403 and scope is not None:
        assert answer.json() == [{"message": FORBIDDEN.format(scope=scope)}]
        assert (
            "jiraBuildInfoProvider" in answer.headers["X-Emulator-Reason"]
            or "scope" in answer.headers["X-Emulator-Reason"]
        )


def test_an_oauth_client_needs_the_builds_permission(server: ThreadedServer) -> None:
    with oauth(server, "cd-bot") as http:
        answer = http.get(f"{GATEWAY}/pipelines/web/builds/1")
        assert answer.status_code == 403 and answer.json() == {"code": 403, "message": "Forbidden"}
        assert "lacks the builds permission" in answer.headers["X-Emulator-Reason"]
        assert (
            http.get(f"/jira/deployments/0.1/cloud/{CLOUD}/pipelines/p/environments/e/deployments/1").status_code == 404
        )


def test_a_token_carries_the_scopes_of_its_clients_permissions(server: ThreadedServer) -> None:
    def scopes(client: str) -> set[str]:
        form = {"grant_type": "client_credentials", "client_id": client, "client_secret": SECRET}
        return set(httpx.post(f"{server.url}/oauth/token", data=form, timeout=5).json()["scope"].split())

    builds = {"read:build-info:jira", "write:build-info:jira", "delete:build-info:jira"}
    assert builds <= scopes("ci-bot")
    assert not builds & scopes("cd-bot") and "write:deployment-info:jira" in scopes("cd-bot")


def test_the_journal_names_the_builds_operations(server: ThreadedServer) -> None:
    with connect(server) as http:
        http.post(f"{SITE}/bulk", json={"builds": [build()]})
        flush(server)
        http.get(f"{SITE}/pipelines/web/builds/1")
    journal = httpx.get(f"{server.url}/_emulator/journal", params={"limit": 2}, timeout=5).json()["entries"]
    assert [e["operation"] for e in journal] == ["getBuildByKey", "submitBuilds"]
    assert journal[0]["touched"] == [{"pipelineId": "web", "buildNumber": 1}]
    assert journal[1]["touched"] == [{"pipelineId": "web", "buildNumber": 1}]
    by_family = httpx.get(f"{server.url}/_emulator/journal", params={"family": "builds"}, timeout=5).json()
    assert {e["family"] for e in by_family["entries"]} == {"builds"}
    unknown = httpx.get(f"{server.url}/_emulator/journal", params={"family": "build"}, timeout=5)
    assert unknown.status_code == 400 and "family must be one of builds, deployments" in unknown.text


def test_builds_and_deployments_of_one_provider_are_apart(server: ThreadedServer, tmp_path: Path) -> None:
    """The same pipeline id and number is a build and, with an environment, a deployment: two entities."""
    with connect(server) as http:
        http.post(f"{SITE}/bulk", json={"builds": [build("shared", 1)]})
        flush(server)
        path = "/rest/deployments/0.1/pipelines/shared/environments/e/deployments/1"
        assert http.get(path).status_code == 404
        assert http.get(f"{SITE}/pipelines/shared/builds/1").status_code == 200


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"issueKeys": []}, "no-issue-link"),
        ({"issueKeys": ..., "associations": []}, "no-issue-link"),
        ({"issueKeys": ...}, "no-issue-link"),
        ({"issueKeys": ..., "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}]}, None),
        ({}, "deprecated-issue-keys"),
    ],
    ids=["empty-issue-keys", "empty-associations", "neither", "associations", "issue-keys"],
)
def test_a_build_that_names_no_issue_is_a_contract_risk(
    server: ThreadedServer, changes: dict[str, Any], expected: str | None
) -> None:
    with connect(server) as http:
        answer = http.post(f"{SITE}/bulk", json={"builds": [build(number=5, **changes)]})
    assert answer.status_code == 202 and answer.json()["acceptedBuilds"] == [{"pipelineId": "web", "buildNumber": 5}]
    findings = answer.headers.get("x-emulator-findings", "")
    assert (expected or "none") in (findings or "none")
    if expected != "no-issue-link":
        assert "no-issue-link" not in findings


def test_contract_rules_apply_to_builds_as_to_deployments(server: ThreadedServer) -> None:
    with connect(server) as http:
        http.post(f"{SITE}/bulk", json={"builds": [build(number=9, usn=5)]})
        lost = http.post(f"{SITE}/bulk", json={"builds": [build(number=9, usn=5, displayName="changed")]})
        backwards = http.post(f"{SITE}/bulk", json={"builds": [build(number=8)]})
    assert "lost-update" in lost.headers["x-emulator-findings"]
    assert "sequence-number-went-backwards" in backwards.headers["x-emulator-findings"]
    report = httpx.get(f"{server.url}/_emulator/contract-report", timeout=5).json()
    rules = {f["rule"] for p in report["providers"] for f in p["findings"]}
    assert {"lost-update", "sequence-number-went-backwards", "deprecated-issue-keys"} <= rules


def test_strict_mode_refuses_a_builds_mistake_and_keeps_nothing_of_it(tmp_path: Path) -> None:
    with server_on(SITES, tmp_path, apply_delay=0, strict=True) as strict, connect(strict) as http:
        assert http.post(f"{SITE}/bulk", json={"builds": [build(number=3, issueKeys=...)]}).status_code == 202
        refused = http.post(
            f"{SITE}/bulk", json={"builds": [build(number=4, issueKeys=...), build(number=2, issueKeys=...)]}
        )
        assert refused.status_code == 400
        assert "Contract rule 'sequence-number-went-backwards' (strict mode)" in refused.json()[0]["message"]
        assert http.get(f"{SITE}/pipelines/web/builds/4").status_code == 404  # nothing of the request
        assert http.get(f"{SITE}/pipelines/web/builds/3").status_code == 200


def test_a_name_over_its_limit_in_utf16_code_units_is_a_risk_for_builds_too(server: ThreadedServer) -> None:
    with connect(server) as http:
        answer = http.post(f"{SITE}/bulk", json={"builds": [build(number=6, displayName="🚀" * 200)]})
    assert answer.status_code == 202 and "utf16-length" in answer.headers["x-emulator-findings"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "'properties.n' must be a string or must be an integer"),
        (None, "'properties.n' must be a string or must be an integer"),
        ("x" * 256, "'properties.n' must be at most 255 characters or must be an integer"),
    ],
    ids=["fraction", "null", "too-long"],
)
def test_a_property_value_that_is_neither_text_nor_a_whole_number_is_named_plainly(
    server: ThreadedServer, value: Any, message: str
) -> None:
    with connect(server) as http:
        answer = http.post(f"{SITE}/bulk", json={"builds": [build()], "properties": {"n": value}})
    assert answer.status_code == 400 and answer.json() == [{"message": message}]


def test_uninstalling_an_app_counts_the_builds_and_deployments_it_takes(server: ThreadedServer) -> None:
    app = {"key": "short-lived", "clientKey": "ck9", "sharedSecret": SECRET}
    control = httpx.Client(base_url=server.url, headers=JSON_TYPE, timeout=5)
    assert control.post("/_emulator/sites/ci/apps", json=app).status_code in (200, 201)
    with connect(server, "short-lived") as http:
        assert http.post(f"{SITE}/bulk", json={"builds": [build(number=n) for n in (1, 2)]}).status_code == 202
    flush(server)
    assert control.delete("/_emulator/sites/ci/apps/short-lived").json() == {
        "deletedDeployments": 0,
        "deletedBuilds": 2,
    }
    control.close()
