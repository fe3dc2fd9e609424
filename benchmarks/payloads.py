"""Request bodies and signed tokens shared by every benchmark: one DeploymentData of about 700 bytes.

The record mirrors what a CI system sends (``tests/factories.py`` ``deployment_data()``), padded with the
optional fields real providers fill (label, duration, a commit association) so that one
stored deployment is about 700 bytes of compact JSON, the size the memory target speaks of.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
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


# -- builds --------------------------------------------------------------------------------------------

BUILDS_SUBMIT_PATH = "/rest/builds/0.1/bulk"


def build(number: int, usn: int = 1, *, pipeline: str = PIPELINE) -> dict[str, Any]:
    """A valid BuildData for the default site, with the optional fields a CI system fills."""
    return {
        "schemaVersion": "1.0",
        "pipelineId": pipeline,
        "buildNumber": number,
        "updateSequenceNumber": usn,
        "displayName": f"Build {number}",
        "description": "Build of bench-service after a merge",
        "label": f"release-2026.11.{number % 1000}",
        "url": f"https://ci.example.com/pipelines/{pipeline}/builds/{number}",
        "state": "successful",
        "lastUpdated": LAST_UPDATED,
        "associations": [{"associationType": "issueIdOrKeys", "values": ["BENCH-1", f"BENCH-{number % 9000 + 2}"]}],
        "testInfo": {"totalNumber": 120, "numberPassed": 118, "numberFailed": 1, "numberSkipped": 1},
        "references": [
            {
                "commit": {"id": f"{number:040x}", "repositoryUri": "https://git.example.com/bench-repo"},
                "ref": {"name": "main", "uri": "https://git.example.com/bench-repo/tree/main"},
            }
        ],
    }


def builds_submit_body(first_number: int, count: int, usn: int) -> bytes:
    """A submitBuilds body with ``count`` builds numbered from ``first_number``."""
    return dumps(
        {
            "builds": [build(first_number + i, usn) for i in range(count)],
            "providerMetadata": {"product": "bench-ci 1.0"},
        }
    )


def builds_submit_template(count: int) -> list[bytes]:
    """The submitBuilds body split around every updateSequenceNumber, as ``submit_template``."""
    return builds_submit_body(1, count, USN_MARK).split(str(USN_MARK).encode())


def build_get_path(number: int, pipeline: str = PIPELINE) -> str:
    return f"/rest/builds/0.1/pipelines/{pipeline}/builds/{number}"


# -- tokens ----------------------------------------------------------------------------------------------


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


def fresh_tokens(method: str, path: str, count: int) -> list[str]:
    """``count`` ``Authorization`` values for one request, each a different token (its own ``jti``), as a
    Connect client that signs every call sends them. The claims are those of ``sign(..., unique=True)``,
    whose qsh (from atlassian-jwt, not from the emulator) is computed once; each copy is signed here with
    HMAC-SHA256, many times faster than a JWT library's encode, so that tens of thousands take a second."""
    first = json.loads(_b64decode(sign(method, path).removeprefix("JWT ").split(".")[1]))
    claims = {name: first[name] for name in ("iss", "iat", "exp", "qsh")}
    head = _b64encode(dumps({"alg": "HS256", "typ": "JWT"}))
    run = uuid.uuid4().hex[:16]  # jti: this call's random prefix and a counter
    tokens = []
    for index in range(count):
        signing_input = f"{head}.{_b64encode(dumps(claims | {'jti': f'{run}-{index}'}))}".encode()
        signature = hmac.new(SHARED_SECRET.encode(), signing_input, hashlib.sha256).digest()
        tokens.append(f"JWT {signing_input.decode()}.{_b64encode(signature)}")
    return tokens


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
