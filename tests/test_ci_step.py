"""A whole CI step, as a user's test of their integration would run it against the pytest plugin's emulator:
the step reports its build and its deployment for the same issue key, with the same credentials, both are
read back, and the cleanup deletes both by the property the step set on each."""

from __future__ import annotations

from typing import Any

from emulator.client import EmulatorClient

RUN = {"ciRun": "run-2817"}  # the property the step puts on everything it reports


def report_ci_step(jira: Any, issue: str) -> None:
    """What a CI step sends to Jira at its end (the code under test in a user's suite)."""
    build = {
        "pipelineId": "acme/web build",
        "buildNumber": 2817,
        "updateSequenceNumber": 1,
        "displayName": "web #2817",
        "url": "https://ci.example.com/acme/web/2817",
        "state": "successful",
        "lastUpdated": "2026-12-07T09:00:00Z",
        "associations": [{"associationType": "issueIdOrKeys", "values": [issue]}],
        "testInfo": {"totalNumber": 120, "numberPassed": 118, "numberFailed": 0, "numberSkipped": 2},
        "references": [{"commit": {"id": "9f2c1e0", "repositoryUri": "https://git.example.com/acme/web"}}],
    }
    deployment = {
        "deploymentSequenceNumber": 2817,
        "updateSequenceNumber": 1,
        "displayName": "web #2817 to staging",
        "url": "https://ci.example.com/acme/web/2817/deploy",
        "description": "deploys build 2817",
        "lastUpdated": "2026-12-07T09:05:00Z",
        "state": "successful",
        "pipeline": {"id": "acme/web build", "displayName": "web", "url": "https://ci.example.com/acme/web"},
        "environment": {"id": "staging", "displayName": "Staging", "type": "staging"},
        "associations": [{"associationType": "issueIdOrKeys", "values": [issue]}],
    }
    jira.post("/rest/builds/0.1/bulk", json={"builds": [build], "properties": RUN}).raise_for_status()
    jira.post("/rest/deployments/0.1/bulk", json={"deployments": [deployment], "properties": RUN}).raise_for_status()


def clean_up(jira: Any) -> None:
    jira.delete("/rest/builds/0.1/bulkByProperties", params=RUN).raise_for_status()
    jira.delete("/rest/deployments/0.1/bulkByProperties", params=RUN).raise_for_status()


BUILD = "/rest/builds/0.1/pipelines/acme%2Fweb%20build/builds/2817"
DEPLOYMENT = "/rest/deployments/0.1/pipelines/acme%2Fweb%20build/environments/staging/deployments/2817"


def test_a_ci_step_reports_its_build_and_its_deployment(jira_emulator: EmulatorClient) -> None:
    with jira_emulator.jira(jira_emulator.connect_auth()) as jira:
        report_ci_step(jira, "WEB-42")
        build, deployment = jira.get(BUILD).json(), jira.get(DEPLOYMENT).json()
    assert build["state"] == deployment["state"] == "successful"
    assert (
        build["associations"]
        == deployment["associations"]
        == [{"associationType": "issueIdOrKeys", "values": ["WEB-42"]}]
    )
    assert build["testInfo"]["numberFailed"] == 0
    submits = [e["operation"] for e in jira_emulator.journal(status="202")]
    assert submits == ["submitDeployments", "submitBuilds"]  # newest first
    (stored,) = jira_emulator.state(family="builds")
    assert stored["key"] == {"pipelineId": "acme/web build", "buildNumber": 2817} and stored["properties"] == RUN


def test_the_cleanup_deletes_both_by_their_shared_property(jira_emulator: EmulatorClient) -> None:
    with jira_emulator.jira(jira_emulator.connect_auth()) as jira:
        report_ci_step(jira, "WEB-43")
        clean_up(jira)
        assert jira.get(BUILD).status_code == jira.get(DEPLOYMENT).status_code == 404
    assert jira_emulator.state() == [] and jira_emulator.state(family="builds") == []
