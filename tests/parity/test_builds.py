"""Parity scenarios of the Builds API: the rules of test_scenarios.py, on the builds paths (``target.builds``).

Facts come from shared/reference/builds-api.md (Atlassian's documents, and answers real clients have seen);
the emulator's decisions where Jira is silent (docs/jira-is-silent.md, Builds) go through ``decision(...)``.
Every build carries the run id in its pipeline id and in its request's properties, like every deployment.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.parity.conftest import Decide, Target
from tests.parity.test_scenarios import is_error_array, json_or_text

pytestmark = pytest.mark.parity

# Texts Jira has answered for builds (builds-api.md 1.2 and 3.1)
NOT_FOUND_TEXT = "No build data found for the given key."
NO_VALID_ISSUES_TEXT = "No valid issues found for build"
STATES = "pending, in_progress, successful, failed, cancelled, unknown"
BAD_STATE_TEXT = f"'state' is not valid. Allowed values are: [{STATES}]."
URL_REQUIRED_TEXT = "'url' is required"
SCHEMA_VERSION_TEXT = "'schemaVersion' is not valid. Allowed values are: [1.0]."
ANSWER_ARRAYS = ["acceptedBuilds", "rejectedBuilds", "unknownAssociations", "unknownIssueKeys"]


def key(data: dict[str, Any]) -> dict[str, Any]:
    """The key of a build as submitBuilds' acceptedBuilds reports it."""
    return {"pipelineId": data["pipelineId"], "buildNumber": int(data["buildNumber"])}


def accepted(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 202, f"submit answered {response.status_code}: {response.text[:500]}"
    return list(response.json()["acceptedBuilds"])


def rejections(response: httpx.Response) -> dict[int, list[str]]:
    """Each rejected build's number, with its messages."""
    found = response.json().get("rejectedBuilds", []) if response.status_code == 202 else []
    return {e["key"]["buildNumber"]: [m["message"] for m in e["errors"]] for e in found}


# -- submit and read back ------------------------------------------------------------------------


def test_a_build_is_submitted_then_read_back(target: Target, decision: Decide) -> None:
    """Submit one build, then read it back once visible: what was sent, with schemaVersion first."""
    tests = {"totalNumber": 12, "numberPassed": 11, "numberFailed": 1}  # no numberSkipped
    repository = "https://git.example.com/acme/web"
    references = [
        {"commit": {"id": "9f2c1e0", "repositoryUri": repository}, "ref": {"name": "main", "uri": repository}}
    ]
    sent = target.builds.build("read-back", label="#1", testInfo=tests, references=references)
    # unknown top-level keys are tolerated (github-for-jira sends these two)
    r = target.builds.submit(
        sent, providerMetadata={"product": "parity-suite"}, preventTransitions=False, operationType="NORMAL"
    )
    assert accepted(r) == [key(sent)]
    assert r.json()["rejectedBuilds"] == []
    decision("build-answer-has-four-arrays", sorted(r.json()), ANSWER_ARRAYS)

    immediately = target.builds.get(sent)
    decision("writes-apply-after-a-delay", immediately.status_code, 404, note="GET of a build right after the 202")

    got = target.builds.read_when(sent, 200).json()
    for name in ("pipelineId", "buildNumber", "updateSequenceNumber", "displayName", "url", "state", "label"):
        assert got[name] == sent[name], name
    decision("get-returns-data-as-submitted", got, {"schemaVersion": "1.0", **sent}, note="a build")
    decision("build-schema-version", (next(iter(got)), got.get("schemaVersion")), ("schemaVersion", "1.0"))
    decision("build-number-skipped-as-submitted", got.get("testInfo"), tests)


def test_a_builds_update_sequence_number_orders_its_updates(target: Target, decision: Decide) -> None:
    """Equal or lower updateSequenceNumber: accepted but ignored; higher: replaces the build."""
    tests = {"totalNumber": 3, "numberPassed": 3, "numberFailed": 0}
    first = target.builds.build("ordering", usn=5, state="in_progress", label="first", testInfo=tests)
    assert accepted(target.builds.submit(first)) == [key(first)]
    assert target.builds.read_when(first, 200).json()["updateSequenceNumber"] == 5

    equal = target.builds.build("ordering", usn=5, state="failed", label="equal")
    lower = target.builds.build("ordering", usn=3, state="cancelled", label="lower")
    # still accepted: an out-of-order update is not a failed submission (fact)
    assert accepted(target.builds.submit(equal)) == [key(equal)]
    assert accepted(target.builds.submit(lower)) == [key(lower)]
    target.flush()
    kept = target.builds.get(first).json()
    assert (kept["updateSequenceNumber"], kept["state"], kept.get("label")) == (5, "in_progress", "first")

    higher = target.builds.build("ordering", usn=6, state="successful")  # no label, no testInfo
    assert accepted(target.builds.submit(higher)) == [key(higher)]
    got = target.wait_visible(
        lambda: (
            (r := target.builds.get(first)).status_code == 200 and r.json()["updateSequenceNumber"] == 6 and r.json()
        ),
        what="the build update with updateSequenceNumber 6",
    )
    assert got["state"] == "successful"
    decision("build-update-replaces-whole-record", sorted({"label", "testInfo"} & set(got)), [])


# -- deletes -------------------------------------------------------------------------------------


def test_a_build_is_deleted_by_key(target: Target) -> None:
    """Delete a visible build by key: 202 with an empty body, then (eventually) 404."""
    data = target.builds.build("delete-by-key")
    assert accepted(target.builds.submit(data)) == [key(data)]
    target.builds.read_when(data, 200)

    r = target.http.delete(target.builds.key_of(data))
    assert r.status_code == 202 and r.content == b""
    target.builds.read_when(data, 404)


def test_delete_of_an_unknown_build_is_202(target: Target) -> None:
    """Delete by key of a build that never existed: 202 with an empty body all the same."""
    r = target.http.delete(target.builds.key_path(target.pipeline("never-built"), 7))
    assert r.status_code == 202 and r.content == b""


def test_get_of_an_unknown_build_is_404(target: Target, decision: Decide) -> None:
    """GET of a build that never existed: 404 with Jira's documented text."""
    r = target.http.get(target.builds.key_path(target.pipeline("never-built"), 7))
    assert r.status_code == 404
    decision("error-body-array", json_or_text(r), [{"message": NOT_FOUND_TEXT}], note="a build")


def test_builds_deleted_by_properties_match_every_pair(target: Target) -> None:
    """Delete builds by properties deletes only the builds that match every given pair."""
    red_a = target.builds.build("by-properties", number=1)
    blue_a = target.builds.build("by-properties", number=2)
    red_b = target.builds.build("by-properties", number=3)
    a, b, red, blue = "team a/web", "team b", "red+1 ~*é", "blue"  # values that need percent-encoding
    for data, props in (
        (red_a, {"group": a, "colour": red}),
        (blue_a, {"group": a, "colour": blue}),
        (red_b, {"group": b, "colour": red}),
    ):
        assert accepted(target.builds.submit(data, properties=props)) == [key(data)]
    for data in (red_a, blue_a, red_b):
        target.builds.read_when(data, 200)

    r = target.builds.delete_by_properties({"runId": target.run_id, "group": a, "colour": red})
    assert r.status_code == 202 and r.content == b""
    target.builds.read_when(red_a, 404)
    target.flush()
    assert target.builds.get(blue_a).status_code == 200, "the group alone matched: the pairs were not ANDed"
    assert target.builds.get(red_b).status_code == 200, "the colour alone matched: the pairs were not ANDed"


# -- whole-request 400 versus per-build rejection ------------------------------------------------


def test_more_than_100_builds_are_refused(target: Target, decision: Decide) -> None:
    """101 builds in one request: not accepted (at most 100 since 2026); the emulator answers a 400."""
    many = [target.builds.build("over-100", number=n) for n in range(1, 102)]
    r = target.builds.submit(*many)
    assert not (r.status_code == 202 and len(r.json()["acceptedBuilds"]) == 101), "101 builds accepted"
    if r.status_code == 400:
        assert is_error_array(r.json())  # fact: a 400 is a bare array of {message}
    decision("over-100-builds-is-400", r.status_code, 400)


def test_one_invalid_build_is_rejected_alone(target: Target, decision: Decide) -> None:
    """An invalid state, a missing url, a schemaVersion of "", a url that is no URI: each rejects its build."""
    good = target.builds.build("one-bad", number=1)
    bad_state = target.builds.build("one-bad", number=2, state="failure")  # what rohit-gohri's action sent
    no_url = target.builds.build("one-bad", number=3)
    del no_url["url"]
    no_references = target.builds.build("one-bad", number=4, references=[])
    empty_version = target.builds.build("one-bad", number=5, schemaVersion="")  # what drone sends
    not_a_uri = target.builds.build("one-bad", number=6, url="not a url")
    # github-for-jira's commit without a URL: the references' URIs are checked by length only
    loose_references = target.builds.build(
        "one-bad",
        number=7,
        references=[{"commit": {"id": "1", "repositoryUri": "FAKE_URL"}, "ref": {"name": "m", "uri": "m"}}],
    )
    r = target.builds.submit(good, bad_state, no_url, no_references, empty_version, not_a_uri, loose_references)
    keys = accepted(r)
    rejected = rejections(r)
    assert key(good) in keys
    # facts: the texts Jira answered for these two (builds-api.md 3.1)
    assert rejected.get(2) == [BAD_STATE_TEXT] and rejected.get(3) == [URL_REQUIRED_TEXT], rejected
    decision("build-answer-has-four-arrays", sorted(r.json()), ANSWER_ARRAYS, note="an answer with rejections")
    decision(
        "per-build-rejection",
        {n: " ".join(m) for n, m in rejected.items() if n == 4},
        {4: "At least one 'references' is required"},
        check=lambda seen: 4 in seen and "references" in seen[4],
    )
    decision("build-schema-version", rejected.get(5), [SCHEMA_VERSION_TEXT], note='schemaVersion ""')
    decision(
        "build-url-checked-as-uri",
        {"url 'not a url'": key(not_a_uri) in keys, "repositoryUri 'FAKE_URL'": key(loose_references) in keys},
        {"url 'not a url'": False, "repositoryUri 'FAKE_URL'": True},
    )


# -- issue keys ----------------------------------------------------------------------------------


def test_unknown_issue_keys_of_builds_are_reported(target: Target, decision: Decide) -> None:
    """Unknown keys are reported; a build with only unknown keys is rejected and not stored (documented)."""
    known, unknown = target.issue_key, target.unknown_issue_key
    mixed = target.builds.build("unknown-keys", number=1, issueKeys=[known, unknown])
    only_unknown = target.builds.build("unknown-keys", number=2, issueKeys=[unknown])
    for data in (mixed, only_unknown):
        del data["associations"]  # issueKeys: what every client of 2019-2024 sends

    r = target.builds.submit(mixed, only_unknown)
    assert accepted(r) == [key(mixed)]
    assert {"key": key(only_unknown), "errors": [{"message": NO_VALID_ISSUES_TEXT}]} in r.json()["rejectedBuilds"]
    assert unknown in r.json()["unknownIssueKeys"]

    stored = target.builds.read_when(mixed, 200).json()
    decision("unknown-values-dropped", stored.get("issueKeys"), [known], note="a build's issueKeys")
    target.flush()
    assert target.builds.get(only_unknown).status_code == 404, "a rejected build was stored"


# -- what production clients send ----------------------------------------------------------------


def test_what_production_clients_send_is_taken(target: Target, decision: Decide) -> None:
    """Builds without issues, numbers as decimal strings, explicit nulls, a property value that is a number."""
    no_issue = target.builds.build("clients", number=1, issueKeys=[])  # github-for-jira, drone
    del no_issue["associations"]
    no_association = target.builds.build("clients", number=2)
    del no_association["associations"]
    as_strings = target.builds.build(  # HighwayThree's numbers from Action inputs; Jenkins' nulls
        "clients",
        number="3",
        usn="1700000000000",
        testInfo={"totalNumber": "3", "numberPassed": "2", "numberFailed": "1"},
        description=None,
        references=None,
    )
    numbered = target.builds.build("clients", number=4)

    unlinked = target.builds.submit(no_issue, no_association, as_strings)
    keys = accepted(unlinked)
    decision(
        "build-without-issue-accepted",
        [k["buildNumber"] for k in keys if k["buildNumber"] in (1, 2)],
        [1, 2],
        note="issueKeys [], then no issueKeys nor associations",
    )
    by_number = target.builds.submit(numbered, properties={"parityNumber": 1234})  # github-for-jira's ids
    decision(
        "build-numeric-property-values",
        by_number.status_code == 202 and key(numbered) in by_number.json()["acceptedBuilds"],
        True,
        note="accepted",
    )

    if key(as_strings) in keys:
        got = target.builds.read_when(as_strings, 200).json()
        seen = {n: got.get(n) for n in ("buildNumber", "updateSequenceNumber", "testInfo", "description")}
        expected = {
            "buildNumber": 3,
            "updateSequenceNumber": 1700000000000,
            "testInfo": {"totalNumber": 3, "numberPassed": 2, "numberFailed": 1},
            "description": None,
        }
        decision("build-lenient-values", seen, expected, check=lambda s: s == expected and "description" not in got)
    else:
        decision("build-lenient-values", rejections(unlinked).get(3), "accepted")
    for data in (no_issue, no_association):
        if key(data) in keys:
            unlinked_visible, _ = target.poll(lambda d=data: target.builds.get(d).status_code == 200)
            decision("build-without-issue-accepted", unlinked_visible, True, note=f"build {data['buildNumber']} stored")

    if by_number.status_code == 202 and key(numbered) in by_number.json()["acceptedBuilds"]:
        target.builds.read_when(numbered, 200)
        r = target.builds.delete_by_properties({"runId": target.run_id, "parityNumber": "1234"})
        assert r.status_code == 202
        gone, _ = target.poll(lambda: target.builds.get(numbered).status_code == 404)
        decision("build-numeric-property-values", gone, True, note="deleted by ?parityNumber=1234")
