"""Jira's operations as Atlassian's documents name them, written out here rather than read from the
emulator's table, so the contract tests check the emulator against an independent list."""

from __future__ import annotations

from emulator.api.families import BUILDS, DEPLOYMENTS, Family

DEPLOYMENT_KEY = "/pipelines/{pipelineId}/environments/{environmentId}/deployments/{deploymentSequenceNumber}"
BUILD_KEY = "/pipelines/{pipelineId}/builds/{buildNumber}"
JIRA_OPERATIONS: dict[str, tuple[Family, str, str]] = {  # Jira's operationId: (API family, method, route)
    "submitDeployments": (DEPLOYMENTS, "post", "/bulk"),
    "deleteDeploymentsByProperty": (DEPLOYMENTS, "delete", "/bulkByProperties"),
    "getDeploymentByKey": (DEPLOYMENTS, "get", DEPLOYMENT_KEY),
    "deleteDeploymentByKey": (DEPLOYMENTS, "delete", DEPLOYMENT_KEY),
    "getDeploymentGatingStatusByKey": (DEPLOYMENTS, "get", DEPLOYMENT_KEY + "/gating-status"),
    "submitBuilds": (BUILDS, "post", "/bulk"),
    "deleteBuildsByProperty": (BUILDS, "delete", "/bulkByProperties"),
    "getBuildByKey": (BUILDS, "get", BUILD_KEY),
    "deleteBuildByKey": (BUILDS, "delete", BUILD_KEY),
}
