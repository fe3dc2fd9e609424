"""Schemathesis against the emulator's own ``/openapi.json``, in-process (ASGI), with valid auth.

Every generated request is signed as a real client would sign it: on the site family a Connect JWT from
PyPI's atlassian-jwt whose qsh hashes that very request (the URL is read from the prepared request, so
the path parameters are hashed percent-encoded exactly as sent); on the gateway family an OAuth 2.0
access token from ``POST /oauth/token``. For every operation, positive and negative examples
(bounded), and schemathesis' coverage cases (boundary values, missing parameters, other methods), are
sent; each response must not be a 5xx and must conform to the document: a documented status code,
its content type, its body schema and its headers. Every deployment the positive submit examples
get accepted is then read back (GET and gating-status), so the 200 bodies are checked as well.

Both families must be served: a broken gateway (no token, or no route) fails the gateway tests, it does
not skip them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import atlassian_jwt
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from emulator.api.openapi import GATEWAY_BASE, GATEWAY_SUFFIX, SITE_BASE, openapi_endpoint
from emulator.app import create_app
from emulator.config import Settings
from emulator.domain.model import GATING_COMMAND

APP_KEY = "emulator-app"
SHARED_SECRET = "emulator-shared-secret-for-local-tests-only"
OAUTH_CLIENT = {
    "grant_type": "client_credentials",
    "client_id": "emulator-oauth-client",
    "client_secret": "emulator-oauth-secret-for-local-tests-only",
}
CLOUD_ID = "0d3f2b9e-5a4c-4e1f-9b8a-7c6d5e4f3a21"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
KEY = "/pipelines/{pipelineId}/environments/{environmentId}/deployments/{deploymentSequenceNumber}"
OPERATIONS = {
    "submitDeployments": ("POST", "/bulk"),
    "deleteDeploymentsByProperty": ("DELETE", "/bulkByProperties"),
    "getDeploymentByKey": ("GET", KEY),
    "deleteDeploymentByKey": ("DELETE", KEY),
    "getDeploymentGatingStatusByKey": ("GET", KEY + "/gating-status"),
}
# Examples per operation and generation mode: the whole file stays well under a minute on two cores.
MAX_EXAMPLES = {"submitDeployments": 40}
DEFAULT_MAX_EXAMPLES = 25
READ_BACK_LIMIT = 3  # accepted deployments read back per submit example
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.large_base_example,
    ],
)

# -- auth -------------------------------------------------------------------------------------------


class ConnectJWT(requests.auth.AuthBase):
    """Signs the prepared request: the qsh hashes exactly the method, path and query that are sent."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        parts = urlsplit(request.url or "")
        relative = parts.path + (f"?{parts.query}" if parts.query else "")
        token = atlassian_jwt.encode_token(
            request.method, relative, APP_KEY, SHARED_SECRET, payload_kwargs={"iss": APP_KEY}
        )
        request.headers["Authorization"] = f"JWT {token}"
        return request


class Bearer(requests.auth.AuthBase):
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app() -> Starlette:
    app = create_app(Settings(apply_delay=0))
    if not any(getattr(route, "path", None) == "/openapi.json" for route in app.router.routes):
        # Until app.py serves the document itself.
        app.router.routes.insert(0, Route("/openapi.json", openapi_endpoint, methods=["GET"]))
    return app


@pytest.fixture(scope="module")
def api(app: Starlette) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def gateway_auth(app: Starlette) -> Iterator[Bearer]:
    """An access token for the default OAuth client; the gateway's tests fail when it cannot be had or used."""
    client = TestClient(app)  # no `with`: schemathesis runs the app's lifespan, once
    token = client.post("/oauth/token", data=OAUTH_CLIENT)
    if token.status_code != 200:
        pytest.fail(f"the OAuth 2.0 gateway is broken: POST /oauth/token answers {token.status_code}: {token.text}")
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    # a served gateway routes the path, so an authorised GET of it is refused for its method only
    probe = client.get(GATEWAY_BASE.format(cloudId=CLOUD_ID) + "/bulkByProperties", headers=bearer)
    if probe.status_code != 405:
        pytest.fail(f"the OAuth 2.0 gateway is broken: GET bulkByProperties answers {probe.status_code}: {probe.text}")
    yield Bearer(token.json()["access_token"])


def auth_for(request: pytest.FixtureRequest, family: str) -> requests.auth.AuthBase:
    return request.getfixturevalue("gateway_auth") if family == "gateway" else ConnectJWT()


def operation_of(api: Any, family: str, operation_id: str) -> Any:
    method, route = OPERATIONS[operation_id]
    base = GATEWAY_BASE if family == "gateway" else SITE_BASE
    operation = api[base + route][method]
    expected_id = operation_id + (GATEWAY_SUFFIX if family == "gateway" else "")
    assert operation.definition.raw["operationId"] == expected_id
    return operation


# -- helpers ----------------------------------------------------------------------------------------


def segment(value: str) -> str:
    """``value`` as one percent-encoded path segment that no client normalises away."""
    return "%2E" * len(value) if value in (".", "..") else quote(value, safe="")


def on_the_known_site(case: Any, mode: GenerationMode) -> None:
    """Gateway examples go to the fixture's site, unless the negative example is about the cloudId itself."""
    current = (case.path_parameters or {}).get("cloudId")
    if current is None:
        return
    try:
        uuid.UUID(str(current))
    except ValueError:
        if mode is GenerationMode.NEGATIVE:
            return
    case.path_parameters["cloudId"] = CLOUD_ID


def call_and_check(case: Any, auth: requests.auth.AuthBase) -> Any:
    response = case.call(auth=auth)
    case.validate_response(response, checks=CHECKS)
    return response


def read_back(api: Any, family: str, auth: requests.auth.AuthBase, response: Any) -> None:
    """GET accepted deployments (and their gating status): 200, conforming to the document.

    With an apply delay of 0 an accepted write is visible at once (though an older updateSequenceNumber
    may have kept earlier data). A stored deployment that asked for gating has a gating status.
    """
    cloud = {"cloudId": CLOUD_ID} if family == "gateway" else {}
    for key in response.json()["acceptedDeployments"][:READ_BACK_LIMIT]:
        ids = (key["pipelineId"], key["environmentId"])
        if "" in ids:
            continue  # an empty segment: requests collapses the '//' it makes, so no client can send that path
        # Schemathesis leaves '/' in a path parameter unencoded (a real client must not) and keeps %XX as is;
        # a segment of dots is encoded too, or requests removes it as a dot-segment (RFC 3986 5.2.4).
        encoded = {name: segment(key[name]) for name in ("pipelineId", "environmentId")}
        parameters = {**cloud, **key, **encoded}
        got = call_and_check(operation_of(api, family, "getDeploymentByKey").Case(path_parameters=parameters), auth)
        assert got.status_code == 200, (key, got.status_code, got.text)
        gating = operation_of(api, family, "getDeploymentGatingStatusByKey").Case(path_parameters=parameters)
        status = call_and_check(gating, auth).status_code
        if {"command": GATING_COMMAND} in got.json().get("commands", []):
            assert status == 200, (key, status)


def run_generated(api: Any, family: str, operation_id: str, mode: GenerationMode, auth: requests.auth.AuthBase) -> None:
    operation = operation_of(api, family, operation_id)
    strategy = operation.as_strategy(generation_mode=mode)

    @settings(SETTINGS, max_examples=MAX_EXAMPLES.get(operation_id, DEFAULT_MAX_EXAMPLES))
    @given(case=strategy, gate=st.booleans())
    def generated(case: Any, gate: bool) -> None:
        on_the_known_site(case, mode)
        submit = operation_id == "submitDeployments" and mode is GenerationMode.POSITIVE
        if submit and gate:
            for deployment in case.body["deployments"]:
                deployment["commands"] = [{"command": GATING_COMMAND}]
        response = call_and_check(case, auth)
        if submit and response.status_code == 202:
            read_back(api, family, auth, response)

    generated()


def run_coverage(api: Any, family: str, operation_id: str, auth: requests.auth.AuthBase) -> int:
    operation = operation_of(api, family, operation_id)
    sent = 0
    for case in api.iter_coverage_cases(
        operation,
        generation_modes=list(GenerationMode),
        generation_config=api.config.generation_for(operation=operation),
    ):
        on_the_known_site(case, GenerationMode.NEGATIVE)
        call_and_check(case, auth)
        sent += 1
    return sent


# -- the runs ---------------------------------------------------------------------------------------

FAMILIES = pytest.mark.parametrize("family", ["site", "gateway"])


@FAMILIES
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation_id", list(OPERATIONS))
def test_generated_requests_conform(
    api: Any, request: pytest.FixtureRequest, family: str, operation_id: str, mode: GenerationMode
) -> None:
    run_generated(api, family, operation_id, mode, auth_for(request, family))


@FAMILIES
@pytest.mark.parametrize("operation_id", list(OPERATIONS))
def test_coverage_cases_conform(api: Any, request: pytest.FixtureRequest, family: str, operation_id: str) -> None:
    assert run_coverage(api, family, operation_id, auth_for(request, family)) > 0


def test_every_documented_operation_is_exercised(api: Any) -> None:
    labels = {result.ok().label for result in api.get_all_operations()}
    expected = {
        f"{method} {base}{route}" for method, route in OPERATIONS.values() for base in (SITE_BASE, GATEWAY_BASE)
    }
    assert labels == expected


# -- what schemathesis found ------------------------------------------------------------------------


@FAMILIES
def test_an_id_with_a_newline_can_be_read_back(api: Any, request: pytest.FixtureRequest, family: str) -> None:
    auth = auth_for(request, family)
    cloud = {"cloudId": CLOUD_ID} if family == "gateway" else {}
    deployment = {
        "deploymentSequenceNumber": 1,
        "updateSequenceNumber": 1,
        "displayName": "newline",
        "url": "https://ci.example.com/1",
        "description": "an id with a newline",
        "lastUpdated": "2026-01-01T00:00:00Z",
        "state": "successful",
        "pipeline": {"id": "line\nbreak", "displayName": "p", "url": "https://ci.example.com"},
        "environment": {"id": "prod", "displayName": "prod", "type": "production"},
        "associations": [{"associationType": "issueKeys", "values": ["NL-1"]}],
    }
    submit = operation_of(api, family, "submitDeployments").Case(
        path_parameters=cloud, body={"deployments": [deployment]}
    )
    accepted = call_and_check(submit, auth)
    assert accepted.status_code == 202
    assert accepted.json()["acceptedDeployments"] == [
        {"pipelineId": "line\nbreak", "environmentId": "prod", "deploymentSequenceNumber": 1}
    ]
    key = {**cloud, "pipelineId": "line%0Abreak", "environmentId": "prod", "deploymentSequenceNumber": 1}
    got = call_and_check(operation_of(api, family, "getDeploymentByKey").Case(path_parameters=key), auth)
    assert got.status_code == 200
