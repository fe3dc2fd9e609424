"""Units of the hot path: path matches on the raw path, and the journal's lazily read entries."""

from __future__ import annotations

import copy

import pytest

from emulator.api.families import BY_ID, OPERATIONS
from emulator.api.routing import PathEncodingError, Router
from emulator.journal import Entry, Journal

match = Router(OPERATIONS).match

DEPLOYMENT = "/rest/deployments/0.1/pipelines/team%2Fapp/environments/e/deployments/7"


def test_a_match_decodes_each_parameter_on_its_own_every_time() -> None:
    for _ in range(2):
        found = match(DEPLOYMENT)
        assert found is not None and found.via == "site"
        assert found.params == {"pipelineId": "team/app", "environmentId": "e", "deploymentSequenceNumber": "7"}
        assert {m: op.id for m, op in found.operations.items()} == {
            "GET": "getDeploymentByKey",
            "DELETE": "deleteDeploymentByKey",
        }


def test_a_bad_encoding_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(PathEncodingError):
            match("/rest/deployments/0.1/pipelines/%FF/environments/e/deployments/1")


def test_a_long_path_is_matched_without_being_remembered() -> None:
    long_id = "x" * 5000
    found = match(f"/rest/deployments/0.1/pipelines/{long_id}/environments/e/deployments/1")
    assert found is not None and found.params["pipelineId"] == long_id
    assert match("/rest/deployments/0.1/" + "y" * 5000) is None


def record(journal: Journal, **extra: object) -> Entry:
    fields = dict(
        time=0.0,
        method="GET",
        path="/p",
        query="",
        operation="getDeploymentByKey",
        site="main",
        provider="connect:app",
        status=200,
        latency_ms=1.23456,
        reason=None,
        touched=[],
    )
    return journal.record(**{**fields, **extra})


def test_an_entry_reads_its_fields_and_defaults() -> None:
    journal = Journal(2)
    entry = record(journal)
    assert (entry.id, entry.method, entry.status, entry.reason) == (1, "GET", 200, None)
    assert (entry.findings, entry.request_body, entry.response_body, entry.request_size) == ([], None, None, 0)
    assert entry.to_json()["latencyMs"] == 1.235
    assert entry.to_json(bodies=True)["responseBody"] is None
    with pytest.raises(AttributeError):
        entry.no_such_field  # noqa: B018
    assert not hasattr(entry, "_private")


def test_entries_filter_copy_and_drop_as_before() -> None:
    journal = Journal(2)
    record(journal, status=404)
    record(journal, status=200, response_body=b"abc", response_size=10)
    third = record(journal, method="DELETE", status=202)
    assert journal.dropped == 1 and [e.id for e in journal] == [2, 3]
    assert [e.id for e in journal.query({"status": "2xx"})] == [3, 2]
    assert [e.id for e in journal.query({"method": "delete"})] == [3]
    assert journal.get(2).to_json(bodies=True)["responseBody"] == "abc... (10 bytes in all)"  # type: ignore[union-attr]
    assert copy.copy(third).to_json() == third.to_json()
    assert copy.deepcopy(third).to_json() == third.to_json()


def test_entries_recorded_from_values_read_as_entries_recorded_from_fields() -> None:
    from emulator.domain.model import DeploymentKey, Provider
    from emulator.journal import FIELDS, Journal

    journal = Journal(capacity=2, key_json=lambda operation, key: BY_ID[operation].family.key_json(key))
    values = {
        "time": 1.5,
        "method": "GET",
        "path": "/p",
        "query": "a=1",
        "operation": "getDeploymentByKey",
        "site": "s",
        "provider": Provider("connect", "app"),
        "status": 200,
        "latency_ms": 0.25,
        "reason": None,
        "touched": [DeploymentKey("p", "e", 1)],
        "findings": [],
        "request_body": None,
        "response_body": b"{}",
        "request_size": 0,
        "response_size": 2,
        "request_headers": [(b"host", b"jira.test")],
    }
    from_values = journal.get(journal.record_values(tuple(values[name] for name in FIELDS)))
    assert from_values is not None
    from_fields = journal.record(**{**values, "provider": "connect:app"})
    assert from_values.to_json(bodies=True) == {**from_fields.to_json(bodies=True), "id": from_values.id}
    assert from_values.provider == "connect:app"
    assert from_values.touched == [{"pipelineId": "p", "environmentId": "e", "deploymentSequenceNumber": 1}]
    assert "path='/p'" in repr(from_values)
    journal.record_values(tuple(values[name] for name in FIELDS))
    assert journal.dropped == 1 and [e.id for e in journal.query({})] == [3, 2]
