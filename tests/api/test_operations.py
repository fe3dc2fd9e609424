"""The five operations in-process, signed by atlassian-jwt, on a manual clock."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from emulator.api import errors
from emulator.domain.clock import ManualClock
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, NOT_FOUND, TOO_LARGE, auth, body, key_path

BULK = f"{BASE}/bulk"


def submit(client: TestClient, *deployments: dict, app: str = "full-app", **top: object):  # type: ignore[no-untyped-def]
    return client.post(
        BULK, content=body(*deployments, **top), headers={**auth("POST", BULK, app), "Content-Type": "application/json"}
    )


def get(client: TestClient, path: str, app: str = "full-app"):  # type: ignore[no-untyped-def]
    return client.get(path, headers=auth("GET", path, app))


def delete(client: TestClient, path: str, app: str = "full-app"):  # type: ignore[no-untyped-def]
    return client.delete(path, headers=auth("DELETE", path, app))


def test_submit_answers_202_with_all_four_arrays(client: TestClient) -> None:
    r = submit(client, deployment_data("p", "e", 1))
    assert r.status_code == 202
    assert r.json() == {
        "acceptedDeployments": [{"pipelineId": "p", "environmentId": "e", "deploymentSequenceNumber": 1}],
        "rejectedDeployments": [],
        "unknownIssueKeys": [],
        "unknownAssociations": [],
    }


def test_a_write_is_visible_only_after_the_apply_delay(client: TestClient, clock: ManualClock) -> None:
    sent = deployment_data("p", "e", 1)
    submit(client, sent)
    assert get(client, key_path("p", "e", 1)).status_code == 404
    clock.advance(0.5)
    r = get(client, key_path("p", "e", 1))
    assert r.status_code == 200
    assert r.json() == {**sent, "schemaVersion": "1.0"}


def test_flush_applies_pending_writes_now(client: TestClient) -> None:
    submit(client, deployment_data("p", "e", 1))
    assert client.post("/_emulator/queue/flush", headers=JSON_TYPE).json() == {"applied": 1}
    assert get(client, key_path("p", "e", 1)).status_code == 200


def test_get_unknown_is_404_with_jiras_text(client: TestClient) -> None:
    r = get(client, key_path("nope", "e", 1))
    assert r.status_code == 404
    assert r.json() == [{"message": NOT_FOUND}]


def test_seeded_deployment_is_there_at_start(client: TestClient) -> None:
    r = get(client, key_path("seeded", "prod", 7))
    assert r.status_code == 200 and r.json()["displayName"] == "seeded"


def test_malformed_json_is_a_400_bare_array(client: TestClient) -> None:
    r = client.post(BULK, content=b"{not json", headers=auth("POST", BULK))
    assert r.status_code == 400
    assert isinstance(r.json(), list) and set(r.json()[0]) == {"message"}


def test_a_bad_deployment_is_rejected_alone(client: TestClient) -> None:
    good, bad = deployment_data("p", "e", 1), deployment_data("p", "e", 2, state="exploded")
    r = submit(client, good, bad)
    assert r.status_code == 202
    out = r.json()
    assert [d["deploymentSequenceNumber"] for d in out["acceptedDeployments"]] == [1]
    assert out["rejectedDeployments"][0]["key"] == {
        "pipelineId": "p",
        "environmentId": "e",
        "deploymentSequenceNumber": 2,
    }
    assert "state" in out["rejectedDeployments"][0]["errors"][0]["message"]
    assert "X-Emulator-Reason" not in r.headers or "state" in r.headers["X-Emulator-Reason"]


def test_unknown_issue_keys_and_associations_are_reported(client: TestClient, clock: ManualClock) -> None:
    d1 = deployment_data("p", "e", 1, issue_keys=["ABC-1", "NOPE-1"], associations=None)
    d2 = deployment_data(
        "p",
        "e",
        2,
        associations=[
            {"associationType": "issueIdOrKeys", "values": ["OPS-51", "OPS-50"]},
            {"associationType": "serviceIdOrKeys", "values": ["svc-payments", "svc-unknown"]},
        ],
    )
    d3 = deployment_data("p", "e", 3, associations=[{"associationType": "issueIdOrKeys", "values": ["ZZZ-9"]}])
    out = submit(client, d1, d2, d3).json()
    assert out["unknownIssueKeys"] == ["NOPE-1"]
    assert out["unknownAssociations"] == [
        {"associationType": "issueIdOrKeys", "values": ["OPS-51", "ZZZ-9"]},
        {"associationType": "serviceIdOrKeys", "values": ["svc-unknown"]},
    ]
    assert out["rejectedDeployments"] == [
        {
            "key": {"pipelineId": "p", "environmentId": "e", "deploymentSequenceNumber": 3},
            "errors": [{"message": "No valid associations found for deployment"}],
        }
    ]
    clock.advance(1)
    stored = get(client, key_path("p", "e", 2)).json()
    assert stored["associations"][0]["values"] == ["OPS-50"]
    assert get(client, key_path("p", "e", 3)).status_code == 404


def test_an_unknown_value_named_by_several_deployments_is_reported_once(client: TestClient) -> None:
    both = [
        {"associationType": "issueIdOrKeys", "values": ["ZZZ-9", "ABC-1"]},
        {"associationType": "serviceIdOrKeys", "values": ["svc-unknown"]},
    ]
    d1 = deployment_data("p", "e", 1, issue_keys=["NOPE-1", "ABC-1"], associations=None)
    d2 = deployment_data("p", "e", 2, issue_keys=["NOPE-1"], associations=None)
    d3 = deployment_data("p", "e", 3, associations=both)
    d4 = deployment_data("p", "e", 4, associations=[*both, {"associationType": "issueIdOrKeys", "values": ["ZZZ-8"]}])
    out = submit(client, d1, d2, d3, d4).json()
    assert out["unknownIssueKeys"] == ["NOPE-1"]
    assert out["unknownAssociations"] == [
        {"associationType": "issueIdOrKeys", "values": ["ZZZ-9", "ZZZ-8"]},
        {"associationType": "serviceIdOrKeys", "values": ["svc-unknown"]},
    ]
    assert len(out["acceptedDeployments"]) == 3 and len(out["rejectedDeployments"]) == 1  # d2: NOPE-1 only


def test_empty_association_values_is_a_400_with_jiras_text(client: TestClient) -> None:
    r = submit(client, deployment_data(associations=[{"associationType": "issueIdOrKeys", "values": []}]))
    assert r.status_code == 400
    assert r.json() == [{"message": "Associations must provide at least one value."}]


def test_delete_of_an_unknown_key_is_202_with_an_empty_body(client: TestClient) -> None:
    r = delete(client, key_path("nope", "e", 1))
    assert r.status_code == 202 and r.content == b""


def test_delete_by_key_applies_after_the_delay(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1))
    clock.advance(1)
    assert delete(client, key_path("p", "e", 1)).status_code == 202
    assert get(client, key_path("p", "e", 1)).status_code == 200
    clock.advance(1)
    assert get(client, key_path("p", "e", 1)).status_code == 404


def test_delete_by_key_with_a_usn_bound(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1, usn=5))
    clock.advance(1)
    delete(client, key_path("p", "e", 1) + "?_updateSequenceNumber=4")
    clock.advance(1)
    assert get(client, key_path("p", "e", 1)).status_code == 200
    assert delete(client, key_path("p", "e", 1) + "?_updateSequenceNumber=x").status_code == 400


def test_delete_by_properties_ands_the_pairs(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1), properties={"a": "1", "b": "x"})
    submit(client, deployment_data("p", "e", 2), properties={"a": "1", "b": "y"})
    clock.advance(1)
    url = f"{BASE}/bulkByProperties?a=1&b=x"
    r = delete(client, url)
    assert r.status_code == 202 and r.content == b""
    clock.advance(1)
    assert get(client, key_path("p", "e", 1)).status_code == 404
    assert get(client, key_path("p", "e", 2)).status_code == 200


@pytest.mark.parametrize("query", ["", "?_updateSequenceNumber=3", "?a=1&a=2"], ids=["none", "only-usn", "twice"])
def test_delete_by_properties_needs_distinct_properties(client: TestClient, query: str) -> None:
    r = delete(client, f"{BASE}/bulkByProperties{query}")
    assert r.status_code == 400 and set(r.json()[0]) == {"message"}


def test_gating_awaits_a_change_request_in_production(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1, gating=True))
    clock.advance(1)
    r = get(client, key_path("p", "e", 1) + "/gating-status")
    assert r.status_code == 200
    out = r.json()
    assert out["gatingStatus"] == "awaiting"
    assert out["details"] == [
        {"type": "issue", "issueKey": "CHG-1", "issueLink": "http://jira.test/servicedesk/customer/portal/1/CHG-1"}
    ]
    assert {out["pipelineId"], out["environmentId"], out["deploymentSequenceNumber"]} == {"p", "e", 1}
    assert out["updatedTimestamp"].endswith("Z")


def test_gating_is_allowed_at_once_outside_production(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1, env_type="staging", gating=True))
    clock.advance(1)
    assert get(client, key_path("p", "e", 1) + "/gating-status").json()["gatingStatus"] == "allowed"


def test_gating_is_invalid_without_an_issue(client: TestClient, clock: ManualClock) -> None:
    commit = [{"associationType": "commit", "values": [{"commitHash": "abc", "repositoryId": "r"}]}]
    submit(client, deployment_data("p", "e", 1, associations=commit, gating=True))
    clock.advance(1)
    assert get(client, key_path("p", "e", 1) + "/gating-status").json()["gatingStatus"] == "invalid"


def test_never_gated_is_404(client: TestClient, clock: ManualClock) -> None:
    submit(client, deployment_data("p", "e", 1))
    clock.advance(1)
    r = get(client, key_path("p", "e", 1) + "/gating-status")
    assert r.status_code == 404 and r.json() == [{"message": NOT_FOUND}]


@pytest.mark.parametrize(
    ("pipeline", "encoded"),
    [
        ("team/app", "team%2Fapp"),
        ("my pipeline", "my%20pipeline"),
        ("déploiement-ü", "d%C3%A9ploiement-%C3%BC"),
        ("a&b", "a%26b"),
    ],
    ids=["slash", "space", "non-ascii", "ampersand"],
)
def test_ids_as_real_clients_send_them(client: TestClient, clock: ManualClock, pipeline: str, encoded: str) -> None:
    assert submit(client, deployment_data(pipeline, "env/1", 1)).status_code == 202
    clock.advance(1)
    path = key_path(encoded, "env%2F1", 1)
    r = get(client, path)
    assert r.status_code == 200, r.headers.get("X-Emulator-Reason")
    assert r.json()["pipeline"]["id"] == pipeline
    assert delete(client, path).status_code == 202
    clock.advance(1)
    assert get(client, path).status_code == 404


def test_non_numeric_sequence_number_is_404(client: TestClient) -> None:
    assert get(client, key_path("p", "e", "abc")).status_code == 404
    assert get(client, key_path("p", "e", str(2**63))).status_code == 404


def test_unknown_path_and_wrong_method(client: TestClient) -> None:
    assert client.get(f"{BASE}/nothing").status_code == 404
    r = client.get(BULK, headers=auth("GET", BULK))
    assert r.status_code == 405 and r.headers["Allow"] == "POST"


def test_too_large_body_is_413(client: TestClient) -> None:
    big = body(deployment_data(description="x" * 70_000))
    r = client.post(BULK, content=big, headers=auth("POST", BULK))
    assert r.status_code == 413
    assert r.json() == [{"message": TOO_LARGE}]


def test_context_path_site_strips_its_path_from_the_qsh(client: TestClient, clock: ManualClock) -> None:
    url = f"/jira{BULK}"
    headers = {"Host": "corp.test", **auth("POST", BULK, "full-app", secret="ctx-secret-0123456789abcdef0123456789")}
    r = client.post(url, content=body(deployment_data("p", "e", 1)), headers=headers)
    assert r.status_code == 202, r.headers.get("X-Emulator-Reason")
    clock.advance(1)
    # the same key on the main site is another deployment: sites share nothing
    assert get(client, key_path("p", "e", 1)).status_code == 404
    path = key_path("p", "e", 1)
    r = client.get(
        f"/jira{path}",
        headers={"Host": "corp.test", **auth("GET", path, "full-app", secret="ctx-secret-0123456789abcdef0123456789")},
    )
    assert r.status_code == 200


def test_a_full_apply_queue_answers_503_and_loses_nothing(clock: ManualClock) -> None:
    from emulator.app import create_app
    from emulator.config import Settings
    from tests.helpers import SITES

    app = create_app(Settings(fixtures=SITES, apply_delay=5, max_pending=3), clock=clock)
    with TestClient(app, base_url="http://jira.test") as client:
        assert submit(client, *(deployment_data("p", "e", n) for n in (1, 2))).status_code == 202
        full = submit(client, *(deployment_data("p", "e", n) for n in (3, 4)))
        assert full.status_code == 503 and full.headers["Retry-After"] == "1"
        assert full.json() == [{"message": errors.UNAVAILABLE}]
        assert len(client.get("/_emulator/queue").json()["pending"]) == 2  # nothing of the refused request
        clock.advance(5)
        assert submit(client, *(deployment_data("p", "e", n) for n in (3, 4))).status_code == 202
