"""Small builders of domain objects and wire payloads, shared by the tests."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from emulator.domain.model import Association, BuildInput, BuildKey, DeploymentInput, DeploymentKey
from emulator.domain.sites import ConnectApp, Site

SECRET = "test-shared-secret"


def deployment_data(
    pipeline: str = "pipe",
    environment: str = "env",
    number: int = 1,
    usn: int = 1,
    *,
    env_type: str = "production",
    issue_keys: list[str] | None = None,
    associations: list[dict[str, Any]] | None = None,
    gating: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    slug = quote(pipeline, safe="")
    data: dict[str, Any] = {
        "deploymentSequenceNumber": number,
        "updateSequenceNumber": usn,
        "displayName": f"Deployment {number}",
        "url": f"https://ci.example.com/{slug}/{number}",
        "description": "a deployment",
        "lastUpdated": "2026-11-01T10:00:00Z",
        "state": "successful",
        "pipeline": {"id": pipeline, "displayName": pipeline, "url": f"https://ci.example.com/{slug}"},
        "environment": {"id": environment, "displayName": environment, "type": env_type},
    }
    if issue_keys is not None:
        data["issueKeys"] = issue_keys
    if associations is not None or issue_keys is None:
        data["associations"] = associations or [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}]
    if gating:
        data["commands"] = [{"command": "initiate_deployment_gating"}]
    data.update(extra)
    return data


def deployment_input(
    pipeline: str = "pipe",
    environment: str = "env",
    number: int = 1,
    usn: int = 1,
    *,
    env_type: str = "production",
    issues: tuple[str, ...] = ("ABC-1",),
    gating: bool = False,
) -> DeploymentInput:
    data = deployment_data(pipeline, environment, number, usn, env_type=env_type, gating=gating)
    data["associations"] = (
        [{"associationType": "issueIdOrKeys", "values": list(issues)}]
        if issues
        else [{"associationType": "commit", "values": [{"commitHash": "abc", "repositoryId": "r"}]}]
    )
    groups = (
        (Association("issueIdOrKeys", issues),)
        if issues
        else (Association("commit", ({"commitHash": "abc", "repositoryId": "r"},)),)
    )
    data["schemaVersion"] = "1.0"
    return DeploymentInput.from_data(
        key=DeploymentKey(pipeline, environment, number),
        update_sequence_number=usn,
        data=data,
        environment_type=env_type,
        associations=groups,
        gating_requested=gating,
    )


def build_input(
    pipeline: str = "pipe", number: int = 1, usn: int = 1, *, issues: tuple[str, ...] = ("ABC-1",)
) -> BuildInput:
    data = {
        "schemaVersion": "1.0",
        "pipelineId": pipeline,
        "buildNumber": number,
        "updateSequenceNumber": usn,
        "displayName": f"Build {number}",
        "url": f"https://ci.example.com/{quote(pipeline, safe='')}/builds/{number}",
        "state": "successful",
        "lastUpdated": "2026-11-01T10:00:00Z",
        "associations": [{"associationType": "issueIdOrKeys", "values": list(issues)}],
    }
    groups = (Association("issueIdOrKeys", issues),)
    return BuildInput.from_data(BuildKey(pipeline, number), usn, data, associations=groups)


def site(name: str = "s", **kwargs: Any) -> Site:
    app = ConnectApp(
        "app", "client-key", SECRET, frozenset({"READ", "WRITE", "DELETE"}), frozenset({"jiraDeploymentInfoProvider"})
    )
    kwargs.setdefault("connect_apps", {"app": app})
    return Site(name=name, base_url=f"https://{name}.example.net", cloud_id=f"cloud-{name}", **kwargs)
