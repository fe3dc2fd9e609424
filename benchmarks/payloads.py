"""Request bodies and signed tokens shared by every benchmark: one DeploymentData of about 700 bytes.

The record mirrors what a CI system sends (``tests/factories.py`` ``deployment_data()``), padded with the
optional fields real providers fill (label, duration, a commit association) so that one
stored deployment is about 700 bytes of compact JSON, the size the memory target speaks of.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

APP_KEY = "emulator-app"
SHARED_SECRET = "emulator-shared-secret-for-local-tests-only"  # the built-in default site's app
SUBMIT_PATH = "/rest/deployments/0.1/bulk"
PIPELINE = "bench-pipeline"
ENVIRONMENT = "bench-env"
# Tokens are signed before each load run (never during it) for 5 minutes, longer than any one run; the
# emulator's contract checker flags tokens valid for more than 10 minutes (long-lived-jwt), so the
# benchmark, a well-behaved client, stays under that and raises no finding.
TOKEN_LIFETIME = 300


# Now, at import: a lastUpdated far in the past or in the future is a contract finding in the emulator.
LAST_UPDATED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def deployment(
    number: int, usn: int = 1, *, pipeline: str = PIPELINE, environment: str = ENVIRONMENT
) -> dict[str, Any]:
    """A valid DeploymentData (compact JSON about 700 bytes) for the default site (every key known)."""
    return {
        "deploymentSequenceNumber": number,
        "updateSequenceNumber": usn,
        "displayName": f"Deployment {number}",
        "url": f"https://ci.example.com/pipelines/{pipeline}/runs/{number}",
        "description": "Deploy of bench-service after a merge",
        "label": f"release-2026.11.{number % 1000}",
        "duration": 180 + number % 60,
        "lastUpdated": LAST_UPDATED,
        "state": "successful",
        "pipeline": {
            "id": pipeline,
            "displayName": pipeline,
            "url": f"https://ci.example.com/pipelines/{pipeline}",
        },
        "environment": {"id": environment, "displayName": environment, "type": "production"},
        "associations": [
            {"associationType": "issueIdOrKeys", "values": ["BENCH-1", f"BENCH-{number % 9000 + 2}"]},
            {
                "associationType": "commit",
                "values": [
                    {"commitHash": f"{number:040x}", "repositoryId": "bench-repo"},
                ],
            },
        ],
        "schemaVersion": "1.0",
    }


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def submit_body(first_number: int, count: int, usn: int, properties: dict[str, str] | None = None) -> bytes:
    """A submitDeployments body with ``count`` deployments numbered from ``first_number``."""
    body: dict[str, Any] = {
        "deployments": [deployment(first_number + i, usn) for i in range(count)],
        "providerMetadata": {"product": "bench-ci 1.0"},
    }
    if properties:
        body["properties"] = properties
    return dumps(body)


USN_MARK = 987654321987  # a placeholder in a body template, replaced by the live updateSequenceNumber


def submit_template(count: int, properties: dict[str, str] | None = None) -> list[bytes]:
    """The submit body split around every updateSequenceNumber: join with the live number between parts."""
    return submit_body(1, count, USN_MARK, properties).split(str(USN_MARK).encode())


def get_path(number: int, pipeline: str = PIPELINE, environment: str = ENVIRONMENT) -> str:
    return f"/rest/deployments/0.1/pipelines/{pipeline}/environments/{environment}/deployments/{number}"


def sign(method: str, path: str, *, unique: bool = False) -> str:
    """A Connect JWT for one request (method + path, no query): the ``Authorization`` header value.

    Two tokens for one request signed within the same second are the same bytes (``iat`` counts whole
    seconds), and the emulator serves a request it has verified before from its cache. ``unique`` adds a
    ``jti`` claim so that every token is new and fully verified."""
    import atlassian_jwt

    claims = {"iss": APP_KEY} | ({"jti": uuid.uuid4().hex} if unique else {})
    token = atlassian_jwt.encode_token(
        method, path, APP_KEY, SHARED_SECRET, timeout_secs=TOKEN_LIFETIME, payload_kwargs=claims
    )
    return f"JWT {token}"
