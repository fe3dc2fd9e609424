"""Parity scenarios: plain sequences of API calls, checked against what Jira documents.

Each scenario runs against the ``target`` (the emulator by default, a real site when ``JIRA_PARITY_URL``
is set; see conftest.py and docs/parity.md). The rules:

- a plain ``assert`` checks a **fact** (shared/reference/api.md and auth.md): it must hold on Jira and on
  the emulator alike;
- ``decision(id, observed, expected)`` checks an emulator **decision** (where Jira is silent): asserted on
  the emulator, recorded with what Jira did on a real site;
- nothing is assumed visible at once: reads of one's own writes go through ``target.read_when`` or
  ``target.wait_visible``, and a check that something did *not* happen comes after ``target.flush()``;
- everything a scenario creates has the run id in its pipeline id and its properties, and the session's
  teardown deletes it by property.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.parity.conftest import Decide, Target

pytestmark = pytest.mark.parity

# Documented texts (api.md section 4)
UNAUTHORIZED_TEXT = "Missing a JWT token, or token is invalid."
NOT_FOUND_TEXT = "No data found for the given deployment ID."
EMPTY_VALUES_TEXT = "Associations must provide at least one value."
NO_VALID_ASSOCIATIONS_TEXT = "No valid associations found for deployment"
GATEWAY_UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}
RESPONSE_ARRAYS = {"acceptedDeployments", "rejectedDeployments", "unknownIssueKeys", "unknownAssociations"}
GATING_FIELDS = {
    "deploymentSequenceNumber",
    "pipelineId",
    "environmentId",
    "updatedTimestamp",
    "gatingStatus",
    "details",
}
GATING_STATUSES = {"allowed", "prevented", "awaiting", "invalid"}


def key(data: dict[str, Any]) -> dict[str, Any]:
    """The key of a deployment as submit's acceptedDeployments reports it."""
    return {
        "pipelineId": data["pipeline"]["id"],
        "environmentId": data["environment"]["id"],
        "deploymentSequenceNumber": data["deploymentSequenceNumber"],
    }


def accepted(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 202, f"submit answered {response.status_code}: {response.text[:500]}"
    body = response.json()
    assert RESPONSE_ARRAYS <= set(body), f"all four arrays are present even when empty: {body}"
    return list(body["acceptedDeployments"])


def is_error_array(body: Any) -> bool:
    """Jira's bare error array: ``[{"message": str, "errorTraceId"?: str}, ...]``."""
    return (
        isinstance(body, list)
        and len(body) > 0
        and all(isinstance(e, dict) and isinstance(e.get("message"), str) for e in body)
    )


def json_or_text(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


# -- submit and read back ------------------------------------------------------------------------


def test_submit_then_read_back(target: Target, decision: Decide) -> None:
    """Submit one deployment, then read it back once visible: what was sent, plus schemaVersion."""
    sent = target.deployment("read-back", label="v1.2.3", duration=42, triggeredBy={"email": "ci@example.com"})
    # unknown top-level keys are tolerated (fact: first-party clients send these two)
    r = target.submit(
        sent, providerMetadata={"product": "parity-suite"}, preventTransitions=False, operationType="NORMAL"
    )
    assert accepted(r) == [key(sent)]
    body = r.json()
    assert body["rejectedDeployments"] == [] and body["unknownIssueKeys"] == [] and body["unknownAssociations"] == []

    immediately = target.get(sent)
    decision("writes-apply-after-a-delay", immediately.status_code, 404, note="GET right after the 202")

    got = target.read_when(sent, 200).json()
    for name in ("deploymentSequenceNumber", "updateSequenceNumber", "displayName", "url", "description", "state"):
        assert got[name] == sent[name], name
    assert got["pipeline"] == sent["pipeline"] and got["environment"] == sent["environment"]
    decision("get-returns-data-as-submitted", got, {**sent, "schemaVersion": "1.0"})


def test_update_sequence_number_orders_updates(target: Target, decision: Decide) -> None:
    """Equal or lower updateSequenceNumber: accepted but ignored; higher: replaces the whole record."""
    first = target.deployment("ordering", usn=5, state="in_progress", label="first", duration=60)
    assert accepted(target.submit(first)) == [key(first)]
    assert target.read_when(first, 200).json()["updateSequenceNumber"] == 5

    equal = target.deployment("ordering", usn=5, state="failed", label="equal")
    lower = target.deployment("ordering", usn=3, state="cancelled", label="lower")
    # still accepted: an out-of-order update is not a failed submission (fact)
    assert accepted(target.submit(equal)) == [key(equal)]
    assert accepted(target.submit(lower)) == [key(lower)]
    target.flush()
    kept = target.get(first).json()
    assert (kept["updateSequenceNumber"], kept["state"], kept.get("label")) == (5, "in_progress", "first")

    higher = target.deployment("ordering", usn=6, state="successful")  # no label, no duration
    assert accepted(target.submit(higher)) == [key(higher)]
    got = target.wait_visible(
        lambda: (r := target.get(first)).status_code == 200 and r.json()["updateSequenceNumber"] == 6 and r.json(),
        what="the update with updateSequenceNumber 6",
    )
    assert got["state"] == "successful"
    # replacement is of the whole record: what the new one leaves out is gone
    assert "label" not in got and "duration" not in got


# -- deletes -------------------------------------------------------------------------------------


def test_delete_by_key(target: Target) -> None:
    """Delete a visible deployment by key: 202 with an empty body, then (eventually) 404."""
    data = target.deployment("delete-by-key")
    assert accepted(target.submit(data)) == [key(data)]
    target.read_when(data, 200)

    r = target.http.delete(target.key_of(data))
    assert r.status_code == 202 and r.content == b""
    target.read_when(data, 404)


def test_delete_of_an_unknown_key_is_202(target: Target) -> None:
    """Delete by key of a deployment that never existed: 202 with an empty body all the same."""
    r = target.http.delete(target.key_path(target.pipeline("never-existed"), "nowhere", 7))
    assert r.status_code == 202 and r.content == b""


def test_get_of_an_unknown_deployment_is_404(target: Target, decision: Decide) -> None:
    """GET of a deployment that never existed: 404 with Jira's documented text."""
    r = target.http.get(target.key_path(target.pipeline("never-existed"), "nowhere", 7))
    assert r.status_code == 404
    decision("error-body-array", json_or_text(r), [{"message": NOT_FOUND_TEXT}])


def test_delete_by_properties_ands_the_pairs(target: Target, decision: Decide) -> None:
    """Delete by properties deletes only what matches every given pair."""
    red_a = target.deployment("by-properties", number=1)
    blue_a = target.deployment("by-properties", number=2)
    red_b = target.deployment("by-properties", number=3)
    # values that need percent-encoding in the query (and so in the Connect qsh): space, '/', '+', '~', '*', é
    a, b, red, blue = "team a/web", "team b", "red+1 ~*é", "blue"
    for data, props in (
        (red_a, {"group": a, "colour": red}),
        (blue_a, {"group": a, "colour": blue}),
        (red_b, {"group": b, "colour": red}),
    ):
        assert accepted(target.submit(data, properties=props)) == [key(data)]
    for data in (red_a, blue_a, red_b):
        target.read_when(data, 200)

    r = target.delete_by_properties({"runId": target.run_id, "group": a, "colour": red})
    assert r.status_code == 202 and r.content == b""
    target.read_when(red_a, 404)
    target.flush()
    assert target.get(blue_a).status_code == 200, "the group alone matched: the pairs were not ANDed"
    assert target.get(red_b).status_code == 200, "the colour alone matched: the pairs were not ANDed"

    # the same name twice; harmless if Jira ANDs them, as no deployment has a parityDup property
    twice = target.delete_by_properties([("runId", target.run_id), ("parityDup", "1"), ("parityDup", "2")])
    decision("duplicate-property-is-400", twice.status_code, 400)
    target.flush()
    assert target.get(blue_a).status_code == 200 and target.get(red_b).status_code == 200


def test_delete_by_properties_needs_a_property(target: Target) -> None:
    """Delete by properties without any property: 400 (a bare error array), nothing deleted."""
    if not target.is_emulator and not target.unscoped_delete:
        pytest.skip(
            "a delete-by-properties without any property is sent only with JIRA_PARITY_UNSCOPED_DELETE=1: "
            "were the site to ignore the rule, it would delete every deployment of these credentials"
        )
    data = target.deployment("no-property")
    assert accepted(target.submit(data)) == [key(data)]
    target.read_when(data, 200)

    r = target.http.delete(target.path("bulkByProperties"))
    assert r.status_code == 400 and is_error_array(r.json())  # fact: a 400 is a bare array of {message}
    target.flush()
    assert target.get(data).status_code == 200


def test_delete_by_key_with_the_deprecated_update_sequence_bound(target: Target, decision: Decide) -> None:
    """_updateSequenceNumber=N on delete by key deletes only stored data whose updateSequenceNumber <= N."""
    data = target.deployment("usn-bound", usn=5)
    assert accepted(target.submit(data)) == [key(data)]
    target.read_when(data, 200)

    below = target.http.delete(target.key_of(data), params={"_updateSequenceNumber": "4"})
    assert below.status_code == 202
    target.flush()
    decision("update-sequence-bound-honoured", target.get(data).status_code, 200, note="after ?_updateSequenceNumber=4")

    at = target.http.delete(target.key_of(data), params={"_updateSequenceNumber": "5"})
    assert at.status_code == 202
    gone, _ = target.poll(lambda: target.get(data).status_code == 404)
    decision("update-sequence-bound-honoured", gone, True, note="deleted after ?_updateSequenceNumber=5")
    if not gone:  # leave nothing behind on a site that ignored both
        target.http.delete(target.key_of(data))


# -- whole-request 400 versus per-deployment rejection ------------------------------------------


def test_more_than_100_deployments_are_refused(target: Target, decision: Decide) -> None:
    """101 deployments in one request: not accepted (at most 100); the emulator answers a 400."""
    many = [target.deployment("over-100", number=n) for n in range(1, 102)]
    r = target.submit(*many)
    assert not (r.status_code == 202 and len(r.json()["acceptedDeployments"]) == 101), "101 deployments accepted"
    if r.status_code == 400:
        assert is_error_array(r.json())  # fact: a 400 is a bare array of {message}
    decision("over-100-deployments-is-400", r.status_code, 400)


def test_one_invalid_deployment_is_rejected_alone(target: Target, decision: Decide) -> None:
    """An invalid state, or a missing url, in one deployment: that one is rejected, the valid one accepted."""
    good = target.deployment("one-bad", number=1)
    bad_state = target.deployment("one-bad", number=2, state="exploded")
    no_url = target.deployment("one-bad", number=3)
    del no_url["url"]
    four_associations = target.deployment(
        "one-bad",
        number=4,
        associations=[{"associationType": "issueIdOrKeys", "values": [target.issue_key]}] * 4,
    )
    r = target.submit(good, bad_state, no_url, four_associations)
    if r.status_code == 202:
        keys = r.json()["acceptedDeployments"]
        for bad in (bad_state, no_url, four_associations):  # the enum, 'url' required, 1..3 associations: facts
            assert key(bad) not in keys, f"deployment {bad['deploymentSequenceNumber']} was accepted"
    rejected = {
        e["key"]["deploymentSequenceNumber"]: " ".join(m["message"] for m in e["errors"])
        for e in (r.json()["rejectedDeployments"] if r.status_code == 202 else [])
    }
    decision(
        "per-deployment-rejection",
        {
            "status": r.status_code,
            "accepted": r.json()["acceptedDeployments"] if r.status_code == 202 else None,
            "rejected": rejected,
        },
        {"status": 202, "accepted": [key(good)], "rejected": {2: "'state' ...", 3: "'url' ...", 4: "associations ..."}},
        check=lambda seen: (
            seen["status"] == 202
            and seen["accepted"] == [key(good)]
            and set(seen["rejected"]) == {2, 3, 4}
            and "state" in seen["rejected"][2]
            and "url" in seen["rejected"][3]
            and "associations" in seen["rejected"][4]
        ),
    )
    if r.status_code == 202:
        target.read_when(good, 200)


def test_an_association_with_no_values_is_a_400(target: Target) -> None:
    """An association whose values array is empty: 400 for the whole request, with Jira's text."""
    data = target.deployment("empty-values", associations=[{"associationType": "issueIdOrKeys", "values": []}])
    r = target.submit(data)
    assert r.status_code == 400
    assert r.json() == [{"message": EMPTY_VALUES_TEXT}]


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ({f"p{i}": "x" for i in range(5)}, "six properties"),  # runId is the sixth
        ({"a:b": "x"}, "a key with ':'"),
        ({"_hidden": "x"}, "a key starting with '_'"),
        ({"long": "v" * 256}, "a value of 256 characters"),
    ],
    ids=["six", "colon", "underscore", "long-value"],
)
def test_properties_breaking_their_rules(target: Target, decision: Decide, extra: dict[str, str], why: str) -> None:
    """Properties over their limits (at most 5; no ':' in a key, no leading '_'; values <= 255)."""
    data = target.deployment(f"properties-{len(extra)}-{next(iter(extra))[:5]}")
    r = target.submit(data, properties=extra)
    assert not (r.status_code == 202 and r.json()["acceptedDeployments"]), f"accepted with {why}"
    decision("properties-rules-are-400", r.status_code, 400, note=why)


# -- issue keys ----------------------------------------------------------------------------------


def test_unknown_issue_keys_are_reported(target: Target, decision: Decide) -> None:
    """Unknown keys are reported; a deployment with only unknown associations is rejected and not stored."""
    known, unknown = target.issue_key, target.unknown_issue_key
    mixed = target.deployment("unknown-keys", number=1, issue_keys=[known, unknown])
    only_unknown = target.deployment("unknown-keys", number=2, issue_keys=[unknown])
    deprecated = target.deployment("unknown-keys", number=3)
    del deprecated["associations"]
    deprecated["issueKeys"] = [known, unknown]

    r = target.submit(mixed, only_unknown, deprecated)
    keys = accepted(r)
    body = r.json()
    assert key(mixed) in keys and key(deprecated) in keys and key(only_unknown) not in keys
    assert {"key": key(only_unknown), "errors": [{"message": NO_VALID_ASSOCIATIONS_TEXT}]} in body[
        "rejectedDeployments"
    ]
    assert unknown in body["unknownIssueKeys"]  # from the deprecated issueKeys field
    assert any(unknown in group["values"] for group in body["unknownAssociations"])
    decision(
        "unknown-associations-grouped",
        body["unknownAssociations"],
        f"groups of associationType 'issueIdOrKeys' holding only {unknown!r}",
        check=lambda groups: all(
            g["associationType"] == "issueIdOrKeys" and set(g["values"]) == {unknown} for g in groups
        ),
    )

    stored = target.read_when(mixed, 200).json()
    decision(
        "unknown-values-dropped",
        stored.get("associations"),
        [{"associationType": "issueIdOrKeys", "values": [known]}],
    )
    target.read_when(deprecated, 200)
    target.flush()
    assert target.get(only_unknown).status_code == 404, "a rejected deployment was stored"


# -- ids -----------------------------------------------------------------------------------------


IDS = [("team/web", "prod/eu-1"), ("my pipeline", "staging env"), ("déploiement ü", "東京 本番")]


def test_ids_round_trip(target: Target) -> None:
    """Ids with '/', spaces and unicode: submitted as they are, read and deleted at the percent-encoded path."""
    sent = [target.deployment(f"{target.pipeline('ids')}-{pipeline}", environment=env) for pipeline, env in IDS]
    assert accepted(target.submit(*sent)) == [key(data) for data in sent]

    for data in sent:
        got = target.read_when(data, 200).json()
        assert (got["pipeline"]["id"], got["environment"]["id"]) == (data["pipeline"]["id"], data["environment"]["id"])
        assert target.http.delete(target.key_of(data)).status_code == 202
    for data in sent:
        target.read_when(data, 404)


# -- gating --------------------------------------------------------------------------------------


def test_gating_status_of_a_deployment_that_never_asked(target: Target, decision: Decide) -> None:
    """Gating status of a deployment without initiate_deployment_gating, and of an unknown one."""
    data = target.deployment("no-gating")
    assert accepted(target.submit(data)) == [key(data)]
    target.read_when(data, 200)

    never_asked = target.http.get(target.key_of(data) + "/gating-status")
    decision("gating-404-not-asked", never_asked.status_code, 404, note="stored, never asked for gating")
    unknown = target.http.get(target.key_path(target.pipeline("never-existed"), "nowhere", 7, gating=True))
    decision("gating-404-not-asked", unknown.status_code, 404, note="unknown deployment")


def test_gating_status_of_a_gated_deployment(target: Target, decision: Decide) -> None:
    """A production deployment that asks for gating: its status has Jira's fields and one of its values."""
    data = target.deployment(
        "gated",
        environment="parity-prod",
        env_type="production",
        state="pending",
        commands=[{"command": "initiate_deployment_gating"}],
    )
    assert accepted(target.submit(data)) == [key(data)]
    target.read_when(data, 200)

    r = target.http.get(target.key_of(data) + "/gating-status")
    body = json_or_text(r)
    if r.status_code == 200:
        assert set(body) == GATING_FIELDS
        assert body["gatingStatus"] in GATING_STATUSES
        assert (body["pipelineId"], body["environmentId"], body["deploymentSequenceNumber"]) == tuple(
            key(data).values()
        )
        for detail in body["details"]:
            assert {"type", "issueKey", "issueLink"} <= set(detail)
    decision(
        "gating-starts-awaiting",
        {
            "status": r.status_code,
            "gatingStatus": body.get("gatingStatus") if isinstance(body, dict) else None,
            "details": len(body.get("details", [])) if isinstance(body, dict) else None,
        },
        {"status": 200, "gatingStatus": "awaiting", "details": 1},
    )


# -- auth ----------------------------------------------------------------------------------------


def check_unauthorized(target: Target, decision: Decide, r: httpx.Response, what: str) -> None:
    assert r.status_code == 401, f"{what}: {r.status_code} {r.text[:300]}"
    if target.auth_kind == "oauth":
        assert r.json() == GATEWAY_UNAUTHORIZED, what  # fact: the gateway's own 401 body
    else:
        decision("error-body-array", json_or_text(r), [{"message": UNAUTHORIZED_TEXT}], note=what)


def test_calls_without_credentials_are_401(target: Target, decision: Decide) -> None:
    """Every operation without an Authorization header: 401."""
    data = target.deployment("no-auth")
    with target.unsigned() as anonymous:
        calls = [
            (
                "submit",
                anonymous.post(target.path("bulk"), json={"properties": target.properties, "deployments": [data]}),
            ),
            ("get", anonymous.get(target.key_of(data))),
            ("delete by key", anonymous.delete(target.key_of(data))),
            ("delete by properties", anonymous.delete(target.path("bulkByProperties"), params=target.properties)),
            ("gating status", anonymous.get(target.key_of(data) + "/gating-status")),
        ]
    for what, r in calls:
        check_unauthorized(target, decision, r, what)


def connect_jwt(target: Target, method: str, url: str, **overrides: Any) -> str:
    """A Connect JWT for ``method url`` with some claims (or the algorithm) overridden."""
    from emulator.auth.qsh import query_string_hash
    from emulator.tokens import split_url

    assert target.connect_app_key and target.connect_secret
    now = int(time.time())
    path, query = split_url(url, target.context_path)
    claims: dict[str, Any] = {
        "iss": target.connect_app_key,
        "iat": now,
        "exp": now + 120,
        "qsh": query_string_hash(method, path, query),
    }
    secret, algorithm = overrides.pop("secret", target.connect_secret), overrides.pop("algorithm", "HS256")
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret if algorithm != "none" else None, algorithm=algorithm)


def test_bad_credentials_are_401(target: Target, decision: Decide) -> None:
    """A token that is not valid for this request: 401, whatever is wrong with it."""
    data = target.deployment("bad-auth")
    url = target.key_of(data)
    if target.auth_kind == "oauth":
        good = target.http.auth.access_token  # type: ignore[union-attr]
        head, _, tail = good.rpartition(".")
        tokens = {
            "garbage": "not-a-token",
            "tampered signature": f"{head}.{'A' * len(tail)}" if head else "x.y.z",
            "a Connect-style JWT": jwt.encode({"iss": "x", "iat": 0, "exp": 1}, "k" * 32, algorithm="HS256"),
        }
        with target.unsigned() as http:
            for what, token in tokens.items():
                r = http.get(url, headers={"Authorization": f"Bearer {token}"})
                check_unauthorized(target, decision, r, what)
        # a good token with a cloudId that is no site's
        other = target.http.get(url.replace(target.cloud_id, "00000000-0000-4000-8000-00000000beef"))
        decision(
            "gateway-unknown-cloud-id-404",
            (other.status_code, json_or_text(other)),
            (404, {"code": 404, "message": "Not Found"}),
        )
        return

    now = int(time.time())
    tokens = {
        "signed with another secret": connect_jwt(target, "GET", url, secret="not-the-shared-secret-" + "x" * 24),
        "expired": connect_jwt(target, "GET", url, iat=now - 3600, exp=now - 3000),
        "expired 60 s ago (past the 30 s leeway)": connect_jwt(target, "GET", url, iat=now - 240, exp=now - 60),
        "not valid for another 120 s": connect_jwt(target, "GET", url, nbf=now + 120),
        "without exp": connect_jwt(target, "GET", url, exp=None),
        "without iat": connect_jwt(target, "GET", url, iat=None),
        "without qsh": connect_jwt(target, "GET", url, qsh=None),
        "qsh of another request": connect_jwt(target, "GET", target.path("bulk")),
        "context-qsh": connect_jwt(target, "GET", url, qsh="context-qsh"),
        "alg none": connect_jwt(target, "GET", url, algorithm="none"),
    }
    with target.unsigned() as http:
        for what, token in tokens.items():
            check_unauthorized(target, decision, http.get(url, headers={"Authorization": f"JWT {token}"}), what)
        good = connect_jwt(target, "GET", url)
        # the ?jwt= query parameter is ignored for Jira APIs since 2022 (fact): unauthenticated
        check_unauthorized(target, decision, http.get(url, params={"jwt": good}), "?jwt= only")
        # 'Bearer <connect jwt>' is not a Connect request (fact)
        check_unauthorized(target, decision, http.get(url, headers={"Authorization": f"Bearer {good}"}), "Bearer")
        # the controls: the same token sent properly, and one expired 10 s ago (within the leeway), are let in
        assert http.get(url, headers={"Authorization": f"JWT {good}"}).status_code == 404
        lately = connect_jwt(target, "GET", url, iat=now - 190, exp=now - 10)
        assert http.get(url, headers={"Authorization": f"JWT {lately}"}).status_code == 404, "the 30 s leeway"


# -- paths and parameters where Jira is silent ---------------------------------------------------


def test_malformed_paths_and_parameters(target: Target, decision: Decide) -> None:
    """A non-numeric sequence number, a non-numeric _updateSequenceNumber, no such path, a wrong method."""
    pipeline = target.pipeline("malformed")
    r = target.http.get(target.key_path(pipeline, "env", "seven"))
    decision("non-numeric-sequence-number-is-404", r.status_code, 404)

    r = target.http.delete(target.key_path(pipeline, "env", 7), params={"_updateSequenceNumber": "many"})
    decision("bad-update-sequence-parameter-is-400", r.status_code, 400, note="delete by key")
    # a property no deployment has: harmless if the site ignores the bad bound
    r = target.delete_by_properties({"parityNone": "x", "_updateSequenceNumber": "many"})
    decision("bad-update-sequence-parameter-is-400", r.status_code, 400, note="delete by properties")

    no_such = target.http.get(target.path("nothing-here"))
    decision("unknown-path-404-wrong-method-405", no_such.status_code, 404, note="GET <prefix>/nothing-here")
    wrong = target.http.get(target.path("bulk"))
    decision(
        "unknown-path-404-wrong-method-405",
        (wrong.status_code, wrong.headers.get("Allow")),
        (405, "POST"),
        note="GET <prefix>/bulk",
    )
