"""The Jira surface, declared once: each API family and each of its operations.

Everything else derives from this table: routing on the raw path (``routing.py``), the Connect scope and
OAuth permission an operation needs (``authenticate.py``), the names fault rules and the journal use, the
OpenAPI document (``openapi.py``) and the contract rules' reach. Adding an operation is a line here and a
handler (``operations.py``); adding a family is a ``Family``, its operations, its body shapes and its
domain ``Kind``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from msgspec import Struct

from emulator.api import operations
from emulator.api.bodies import builds, deployments
from emulator.api.operations import Handler
from emulator.api.submissions import Parser
from emulator.domain.kinds import BUILDS as BUILD_KIND
from emulator.domain.kinds import DEPLOYMENTS as DEPLOYMENT_KIND
from emulator.domain.kinds import Kind
from emulator.domain.model import BuildKey, DeploymentKey, Key


class Texts(Struct, frozen=True):
    """The family's own wording of Jira's documented error texts."""

    forbidden: str  # 403; ``{scope}`` is the Connect scope the operation needs
    not_found: str  # 404 of a key that names nothing stored
    too_large: str  # 413
    no_properties: str  # 400 of a delete by properties that names none


@dataclass(frozen=True, slots=True)
class Family:
    """One API family (Deployments, Builds): its paths, its entity key, who may call it, its bodies."""

    name: str  # "deployments"
    kind: Kind  # the domain's kind of entity
    site_prefix: str  # the site path family: Connect apps
    gateway_prefix: str  # the api.atlassian.com path family: OAuth 2.0 clients; holds {cloudId}
    key_path: str  # the path of one entity below the prefix, its key's fields as {parameters}
    key: Callable[..., Key]  # the key type, built from the key path's parameters in order
    connect_module: str  # the Connect module an app must declare to call the family
    oauth_permission: str  # the permission an OAuth client must be granted
    schema: str  # the version of Atlassian's document the bodies follow
    parser: Parser  # its submit request's parser (bodies/ declares the request)
    submit_answer: Callable[[Any, Any], Any]  # (the domain's outcome, every rejection) -> the 202 body
    accepted_field: str  # the submit answer's list of accepted keys
    texts: Texts
    tag: str  # the OpenAPI tag of its site operations
    openapi_prefix: str  # of its OpenAPI components that differ between families ("" for the first)
    key_parameters: tuple[str, ...] = field(init=False)  # the key path's parameters, in order

    def __post_init__(self) -> None:
        parameters = tuple(part[1:-1] for part in self.key_path.split("/") if part.startswith("{"))
        object.__setattr__(self, "key_parameters", parameters)

    def key_json(self, key: Key) -> dict[str, Any]:
        """A key as Jira writes it: ``{"pipelineId": ..., ...}``, the key path's parameters in order."""
        return dict(zip(self.key_parameters, key, strict=True))


class Operation(Struct, frozen=True):
    """One operation of a family: where it is, who may call it, what it does, how the OpenAPI shows it."""

    id: str  # Jira's operationId
    family: Family
    method: str
    path: str  # below the family's prefix; "{key}" stands for the family's key path
    connect_scope: str  # READ, WRITE or DELETE
    oauth_scope: str  # the OAuth 2.0 scope of the 2026 document
    handler: Handler  # the operation itself (operations.py)
    summary: str
    description: str
    request: str | None = None  # the OpenAPI component of its body
    success: tuple[str, str, str | None] = ("202", "", None)  # status, description, OpenAPI component
    parameters: tuple[str, ...] = ()  # OpenAPI parameter components besides the key's
    errors: tuple[str, ...] = ()  # statuses it may answer besides the ones every operation may

    @property
    def full_path(self) -> str:
        """The path below the family's prefix, the key path written out."""
        return self.path.replace("{key}", self.family.key_path)


DEPLOYMENTS = Family(
    name="deployments",
    kind=DEPLOYMENT_KIND,
    site_prefix="/rest/deployments/0.1",
    gateway_prefix="/jira/deployments/0.1/cloud/{cloudId}",
    key_path="pipelines/{pipelineId}/environments/{environmentId}/deployments/{deploymentSequenceNumber}",
    key=DeploymentKey,
    connect_module="jiraDeploymentInfoProvider",
    oauth_permission="deployments",
    schema="2026-01",
    parser=deployments.PARSER,
    submit_answer=deployments.submit_answer,
    accepted_field="acceptedDeployments",
    texts=Texts(
        forbidden="The JWT token used does not correspond to an app that defines the `jiraDeploymentInfoProvider` "
        "module, or the app does not define the '{scope}' scope.",
        not_found="No data found for the given deployment ID.",
        too_large="Data is too large. Submit fewer deployments in each payload.",
        no_properties="At least one property must be given to delete deployments by properties.",
    ),
    tag="Deployments",
    openapi_prefix="",
)

BUILDS = Family(
    name="builds",
    kind=BUILD_KIND,
    site_prefix="/rest/builds/0.1",
    gateway_prefix="/jira/builds/0.1/cloud/{cloudId}",
    key_path="pipelines/{pipelineId}/builds/{buildNumber}",
    key=BuildKey,
    connect_module="jiraBuildInfoProvider",
    oauth_permission="builds",
    schema="2026-01",
    parser=builds.PARSER,
    submit_answer=builds.submit_answer,
    accepted_field="acceptedBuilds",
    texts=Texts(
        forbidden="The JWT token used does not correspond to an app that defines the `jiraBuildInfoProvider` "
        "module, or the app does not define the '{scope}' scope.",
        not_found="No build data found for the given key.",
        too_large="Data is too large. Submit fewer builds in each payload.",
        no_properties="At least one property must be given to delete builds by properties.",
    ),
    tag="Builds",
    openapi_prefix="Builds",
)

FAMILIES = (DEPLOYMENTS, BUILDS)


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "submitDeployments",
        DEPLOYMENTS,
        "POST",
        "bulk",
        "WRITE",
        "write:deployment-info:jira",
        operations.submit,
        summary="Submit deployment data",
        description="Stores up to 100 deployments for the caller's provider, asynchronously: an accepted "
        "deployment becomes visible to GET after the apply delay, and only if its updateSequenceNumber "
        "is greater than the stored one. Problems inside one deployment reject only that deployment.",
        request="SubmitDeploymentRequest",
        success=(
            "202",
            "Submission accepted: see which deployments were accepted or rejected.",
            "SubmitDeploymentsResponse",
        ),
        errors=("400", "413"),
    ),
    Operation(
        "deleteDeploymentsByProperty",
        DEPLOYMENTS,
        "DELETE",
        "bulkByProperties",
        "DELETE",
        "delete:deployment-info:jira",
        operations.delete_by_properties,
        summary="Delete deployments by Property",
        description="Deletes, asynchronously, the caller's deployments that were submitted with every given property.",
        parameters=("deploymentProperties", "updateSequenceNumber"),
        success=("202", "Delete accepted; it applies after the apply delay.", None),
        errors=("400",),
    ),
    Operation(
        "getDeploymentByKey",
        DEPLOYMENTS,
        "GET",
        "{key}",
        "READ",
        "read:deployment-info:jira",
        operations.get_by_key,
        summary="Get a deployment by key",
        description="The deployment as currently stored (pending writes and deletes are not visible yet).",
        success=("200", "The stored deployment, exactly as last applied (never its properties).", "DeploymentData"),
        errors=("400", "404"),
    ),
    Operation(
        "deleteDeploymentByKey",
        DEPLOYMENTS,
        "DELETE",
        "{key}",
        "DELETE",
        "delete:deployment-info:jira",
        operations.delete_by_key,
        summary="Delete a deployment by key",
        description="Deletes the deployment asynchronously; 202 whether or not it exists.",
        parameters=("updateSequenceNumber",),
        success=("202", "Delete accepted; it applies after the apply delay.", None),
        errors=("400", "404"),
    ),
    Operation(
        "getDeploymentGatingStatusByKey",
        DEPLOYMENTS,
        "GET",
        "{key}/gating-status",
        "READ",
        "read:deployment-info:jira",
        operations.gating_status,
        summary="Get deployment gating status by key",
        description="The gating status of a stored deployment that asked for gating (command "
        "`initiate_deployment_gating`).",
        success=("200", "The deployment's gating status.", "DeploymentGatingStatus"),
        errors=("400", "404"),
    ),
    Operation(
        "submitBuilds",
        BUILDS,
        "POST",
        "bulk",
        "WRITE",
        "write:build-info:jira",
        operations.submit,
        summary="Submit build data",
        description="Stores up to 100 builds for the caller's provider, asynchronously: an accepted build becomes "
        "visible to GET after the apply delay, and only if its updateSequenceNumber is greater than the stored "
        "one. Problems inside one build reject only that build.",
        request="SubmitBuildsRequest",
        success=("202", "Submission accepted: see which builds were accepted or rejected.", "SubmitBuildsResponse"),
        errors=("400", "413"),
    ),
    Operation(
        "deleteBuildsByProperty",
        BUILDS,
        "DELETE",
        "bulkByProperties",
        "DELETE",
        "delete:build-info:jira",
        operations.delete_by_properties,
        summary="Delete builds by Property",
        description="Deletes, asynchronously, the caller's builds that were submitted with every given property.",
        parameters=("buildProperties", "updateSequenceNumber"),
        success=("202", "Delete accepted; it applies after the apply delay.", None),
        errors=("400",),
    ),
    Operation(
        "getBuildByKey",
        BUILDS,
        "GET",
        "{key}",
        "READ",
        "read:build-info:jira",
        operations.get_by_key,
        summary="Get a build by key",
        description="The build as currently stored (pending writes and deletes are not visible yet).",
        success=("200", "The build data currently stored for the given key (never its properties).", "BuildData"),
        errors=("400", "404"),
    ),
    Operation(
        "deleteBuildByKey",
        BUILDS,
        "DELETE",
        "{key}",
        "DELETE",
        "delete:build-info:jira",
        operations.delete_by_key,
        summary="Delete a build by key",
        description="Deletes the build asynchronously; 202 whether or not it exists.",
        parameters=("updateSequenceNumber",),
        success=("202", "Delete accepted; it applies after the apply delay.", None),
        errors=("400", "404"),
    ),
)
BY_ID = {operation.id: operation for operation in OPERATIONS}


def oauth_scopes(permissions: frozenset[str]) -> str:
    """The OAuth 2.0 scopes (space-separated) of an OAuth client granted ``permissions``, as its tokens carry them."""
    return " ".join(s for s in OAUTH_SCOPES if any(op.oauth_scope == s and op.family.oauth_permission in permissions
                                                     for op in OPERATIONS))  # fmt: skip


# every family's OAuth 2.0 scopes, family by family, each family's read, write then delete scope
OAUTH_SCOPES = tuple(
    dict.fromkeys(
        operation.oauth_scope
        for family in FAMILIES
        for scope in ("READ", "WRITE", "DELETE")
        for operation in OPERATIONS
        if operation.family is family and operation.connect_scope == scope
    )
)
