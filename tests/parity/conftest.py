"""The parity target: the same scenarios against the emulator (default, CI) or a real Jira site.

The scenarios speak the Deployments API (``target``'s own calls) and the Builds API (``target.builds``).
Against the emulator (no ``JIRA_PARITY_URL``) the session starts one in-process emulator with the built-in
default site (plus one declared project, so that "unknown issue key" means something) and an apply delay of
0.5 s, so that eventual consistency is real, and runs every scenario twice: as the Connect app on the site
path family, and as the OAuth 2.0 client on the gateway path family.

Against a real site::

    JIRA_PARITY_URL=https://acme.atlassian.net
    JIRA_PARITY_ISSUE_KEY=ABC-1                      # an existing issue the credentials may see
    JIRA_PARITY_APP_KEY=... JIRA_PARITY_SHARED_SECRET=...          # a Connect app, and/or
    JIRA_PARITY_CLIENT_ID=... JIRA_PARITY_CLIENT_SECRET=...        # OAuth 2.0 client credentials

every scenario runs once per kind of credentials given. Assertions on documented facts fail as usual;
assertions on the emulator's decisions (``decision(...)``) are recorded, not failed, and the report
(``JIRA_PARITY_REPORT``) lists where Jira answered otherwise. See docs/parity.md.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import pytest

from emulator.client import (
    DEFAULT_APP,
    DEFAULT_OAUTH_CLIENT,
    DEFAULT_OAUTH_SECRET,
    DEFAULT_SHARED_SECRET,
    BearerAuth,
    ConnectAuth,
    EmulatorClient,
)

T = TypeVar("T")

# -- configuration ------------------------------------------------------------------------------

ENV_URL = "JIRA_PARITY_URL"
ENV_APP_KEY = "JIRA_PARITY_APP_KEY"
ENV_SHARED_SECRET = "JIRA_PARITY_SHARED_SECRET"
ENV_CLIENT_ID = "JIRA_PARITY_CLIENT_ID"
ENV_CLIENT_SECRET = "JIRA_PARITY_CLIENT_SECRET"
ENV_API_URL = "JIRA_PARITY_API_URL"  # the OAuth token endpoint and gateway host; api.atlassian.com
ENV_ISSUE_KEY = "JIRA_PARITY_ISSUE_KEY"
ENV_UNKNOWN_ISSUE_KEY = "JIRA_PARITY_UNKNOWN_ISSUE_KEY"
ENV_TIMEOUT = "JIRA_PARITY_TIMEOUT"  # seconds a write may take to become visible
ENV_SETTLE = "JIRA_PARITY_SETTLE"  # seconds flush() waits on a real site
ENV_REPORT = "JIRA_PARITY_REPORT"
ENV_UNSCOPED_DELETE = "JIRA_PARITY_UNSCOPED_DELETE"  # 1: also send a delete-by-properties with no property

ATLASSIAN_API = "https://api.atlassian.com"
SITE_PREFIX = "/rest/deployments/0.1"
GATEWAY_PREFIX = "/jira/deployments/0.1/cloud/{cloud_id}"
BUILDS_SITE_PREFIX = "/rest/builds/0.1"
BUILDS_GATEWAY_PREFIX = "/jira/builds/0.1/cloud/{cloud_id}"

EMULATOR_APPLY_DELAY = 0.5
EMULATOR_PROJECT = "PAR"  # declared on the emulator's site: PAR-1 is known, NOPARITY-1 is not
EMULATOR_TIMEOUT = 10.0
REAL_TIMEOUT = 120.0
REAL_SETTLE = 20.0
REPORT_NAME = "parity-report.json"
REPORT_FORMAT = 1

MARKERS = [
    "parity: a parity scenario (tests/parity): the same steps against the emulator or a real Jira site",
]

# what the report collects, on the pytest config (per session) and on each item
_RECORDS = pytest.StashKey[dict[str, dict[str, Any]]]()  # nodeid -> scenario entry
_TARGETS = pytest.StashKey[dict[str, dict[str, Any]]]()  # target id -> description
_DECISIONS = pytest.StashKey[list[dict[str, Any]]]()  # on an item: its decision records
_STARTED = pytest.StashKey[str]()
_REPORT_PATH = pytest.StashKey[str]()

# -- the emulator's decisions the scenarios rely on ---------------------------------------------
#
# Every ``decision(...)`` call names one of these. Against the emulator a decision is asserted; against
# real Jira it is recorded with what Jira did, so the report shows where Jira differs. docs/parity.md
# lists the same ids; keep both in step.

DECISIONS: dict[str, str] = {
    "writes-apply-after-a-delay": (
        "an accepted write is not visible at once: it applies after the apply delay (api.md 5.3)"
    ),
    "get-returns-data-as-submitted": (
        "GET returns the DeploymentData (BuildData) exactly as last applied, schemaVersion filled in with '1.0', "
        "never the request's properties"
    ),
    "error-body-array": (
        "errors of the site path family (401, 404) and Jira's own errors behind the gateway (404 of a "
        "deployment or a build) are a bare array [{'message': <documented text>}]"
    ),
    "over-100-deployments-is-400": "more than 100 deployments in one request is a 400 for the whole request",
    "per-deployment-rejection": (
        "an invalid field inside one deployment whose key can be read rejects that deployment alone "
        "(rejectedDeployments, one message per problem naming the field); the others are accepted"
    ),
    "properties-rules-are-400": (
        "properties breaking their rules (over 5, a key with ':' or starting with '_', a value over 255) "
        "make the whole request a 400"
    ),
    "duplicate-property-is-400": "a property name given twice in delete-by-properties is a 400",
    "unknown-values-dropped": "unknown association values (and unknown issueKeys) are dropped from what is stored",
    "unknown-associations-grouped": (
        "unknownAssociations groups unknown values by the associationType they were sent with"
    ),
    "gating-404-not-asked": "gating status is 404 for an unknown deployment and for one that never asked for gating",
    "gating-starts-awaiting": (
        "a production deployment that asks for gating starts 'awaiting', with a change-request issue in details"
    ),
    "update-sequence-bound-honoured": (
        "delete by key honours the deprecated _updateSequenceNumber bound (deletes only data whose "
        "updateSequenceNumber <= N)"
    ),
    "non-numeric-sequence-number-is-404": "a deploymentSequenceNumber in the path that is not an int64 is a 404",
    "bad-update-sequence-parameter-is-400": "an _updateSequenceNumber parameter that is not an int64 is a 400",
    "gateway-unknown-cloud-id-404": (
        "the gateway answers a good token used with a cloudId that is no site's 404 {'code': 404, 'message': "
        "'Not Found'}"
    ),
    "unknown-path-404-wrong-method-405": (
        "a path under the API that is no operation is a 404; a known path with another method is a 405 with Allow"
    ),
    # -- builds (docs/jira-is-silent.md, Builds)
    "build-answer-has-four-arrays": (
        "submitBuilds always answers acceptedBuilds, rejectedBuilds, unknownIssueKeys and unknownAssociations, "
        "even when empty (one Jira answer of 2022 had no unknownIssueKeys)"
    ),
    "per-build-rejection": (
        "an invalid field inside one build whose key can be read rejects that build alone (rejectedBuilds, one "
        "message per problem naming the field); the others are accepted"
    ),
    "over-100-builds-is-400": "more than 100 builds in one request is a 400 for the whole request",
    "build-schema-version": (
        "schemaVersion is filled in with '1.0' when absent and is the first member GET returns; any other "
        "value, '' included, rejects that build: 'schemaVersion' is not valid. Allowed values are: [1.0]."
    ),
    "build-number-skipped-as-submitted": "testInfo is returned as submitted: numberSkipped is not filled in with 0",
    "build-url-checked-as-uri": (
        "a build's url must be a URI; references' commit.repositoryUri and ref.uri are checked by length only"
    ),
    "build-update-replaces-whole-record": "a higher updateSequenceNumber replaces the whole build",
    "build-without-issue-accepted": (
        "a build with issueKeys: [], or with neither issueKeys nor associations, is accepted and stored unlinked"
    ),
    "build-lenient-values": (
        "int64 fields sent as decimal strings are accepted and stored as numbers; an explicit null is absent"
    ),
    "build-numeric-property-values": (
        "a property value sent as a JSON number is accepted and kept as its decimal text: "
        "?name=<decimal> deletes the build"
    ),
}


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    if os.environ.get(ENV_URL):
        missing = [name for name in (ENV_ISSUE_KEY,) if not os.environ.get(name)]
        if not (_env(ENV_APP_KEY) and _env(ENV_SHARED_SECRET)) and not (
            _env(ENV_CLIENT_ID) and _env(ENV_CLIENT_SECRET)
        ):
            missing.append(f"{ENV_APP_KEY}+{ENV_SHARED_SECRET} or {ENV_CLIENT_ID}+{ENV_CLIENT_SECRET}")
        if missing:
            raise pytest.UsageError(f"{ENV_URL} is set: the parity suite also needs {', '.join(missing)}")
    config.stash[_RECORDS] = {}
    config.stash[_TARGETS] = {}
    config.stash[_STARTED] = datetime.now(UTC).isoformat()


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def _real_kinds() -> list[str]:
    kinds = []
    if _env(ENV_APP_KEY) and _env(ENV_SHARED_SECRET):
        kinds.append("connect")
    if _env(ENV_CLIENT_ID) and _env(ENV_CLIENT_SECRET):
        kinds.append("oauth")
    return kinds


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "target" not in metafunc.fixturenames:
        return
    ids = [f"jira-{kind}" for kind in _real_kinds()] if _env(ENV_URL) else ["emulator-connect", "emulator-oauth"]
    metafunc.parametrize("target", ids, indirect=True, scope="session")


# -- the target ---------------------------------------------------------------------------------


@dataclass
class Target:
    """One place the scenarios run against: a site (or the emulator) with one kind of credentials."""

    id: str  # emulator-connect, emulator-oauth, jira-connect, jira-oauth
    auth_kind: str  # connect or oauth
    is_emulator: bool
    http: httpx.Client  # signed for the Jira surface; base URL: the site (Connect) or the gateway host (OAuth)
    prefix: str  # /rest/deployments/0.1 or /jira/deployments/0.1/cloud/<cloudId>
    builds_prefix: str  # /rest/builds/0.1 or /jira/builds/0.1/cloud/<cloudId>
    run_id: str
    cloud_id: str
    site_url: str
    issue_key: str  # an issue the site knows
    unknown_issue_key: str  # a well-formed key of no project on the site
    timeout: float
    settle: float
    emulator: EmulatorClient | None = None
    provider: str | None = None  # the emulator's name of this provider (connect:<key>, oauth:<id>)
    connect_app_key: str | None = None
    connect_secret: str | None = None
    context_path: str = ""
    unscoped_delete: bool = False  # may a real site get a delete-by-properties without any property?
    submitted_builds: bool = False  # did a scenario submit builds (so the teardown deletes builds too)?

    # -- naming: everything a run creates carries its run id ----------------------------------

    def pipeline(self, name: str) -> str:
        return f"parity-{self.run_id}-{name}"

    @property
    def properties(self) -> dict[str, str]:
        return {"runId": self.run_id}

    def deployment(
        self,
        name: str,
        *,
        number: int = 1,
        usn: int = 1,
        environment: str = "parity-env",
        env_type: str = "testing",
        state: str = "successful",
        issue_keys: list[str] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """A valid DeploymentData for pipeline ``parity-<runId>-<name>``, associated with the known issue."""
        pipeline = self.pipeline(name) if not name.startswith(f"parity-{self.run_id}") else name
        slug = quote(pipeline, safe="")
        data: dict[str, Any] = {
            "deploymentSequenceNumber": number,
            "updateSequenceNumber": usn,
            "displayName": f"{name} #{number}",
            "url": f"https://ci.example.com/{slug}/{number}",
            "description": f"parity scenario {name}",
            "lastUpdated": _now(),
            "state": state,
            "pipeline": {"id": pipeline, "displayName": name, "url": f"https://ci.example.com/{slug}"},
            "environment": {"id": environment, "displayName": environment, "type": env_type},
            "associations": [{"associationType": "issueIdOrKeys", "values": issue_keys or [self.issue_key]}],
        }
        data.update(extra)
        return data

    # -- paths ----------------------------------------------------------------------------------

    def path(self, tail: str) -> str:
        return f"{self.prefix}/{tail.lstrip('/')}"

    def key_path(self, pipeline: str, environment: str, number: int | str, *, gating: bool = False) -> str:
        """The percent-encoded path of one deployment (``/`` in an id is ``%2F``)."""
        tail = f"pipelines/{quote(pipeline, safe='')}/environments/{quote(environment, safe='')}/deployments/{number}"
        return self.path(tail + ("/gating-status" if gating else ""))

    def key_of(self, data: dict[str, Any]) -> str:
        return self.key_path(data["pipeline"]["id"], data["environment"]["id"], data["deploymentSequenceNumber"])

    # -- calls ----------------------------------------------------------------------------------

    def submit(
        self, *deployments: dict[str, Any], properties: dict[str, str] | None = None, **top: Any
    ) -> httpx.Response:
        """submitDeployments; the run id is always one of the request's properties (for the teardown)."""
        body: dict[str, Any] = {
            "properties": {**self.properties, **(properties or {})},
            "deployments": list(deployments),
        }
        body.update(top)
        return self.http.post(self.path("bulk"), json=body)

    def get(self, data: dict[str, Any]) -> httpx.Response:
        return self.http.get(self.key_of(data))

    def delete_by_properties(self, params: list[tuple[str, str]] | dict[str, str]) -> httpx.Response:
        return self.http.delete(self.path("bulkByProperties"), params=params)

    def unsigned(self) -> httpx.Client:
        """A client on the same base URL without credentials (close it)."""
        return httpx.Client(base_url=self.http.base_url, timeout=self.http.timeout)

    # -- eventual consistency --------------------------------------------------------------------

    def poll(self, check: Callable[[], T], *, timeout: float | None = None) -> tuple[bool, T]:
        """Call ``check`` with back-off until it returns something truthy or ``timeout`` passes."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        # fine steps on the emulator (its delay is 0.5 s); up to 5 s apart on a real site
        pause, cap = 0.05, (0.1 if self.is_emulator else 5.0)
        while True:
            value = check()
            if value:
                return True, value
            if time.monotonic() >= deadline:
                return False, value
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 1.6, cap)

    def wait_visible(self, check: Callable[[], T], *, timeout: float | None = None, what: str = "the write") -> T:
        """Poll ``check`` until it is truthy (Jira is eventually consistent); fail after the timeout."""
        ok, value = self.poll(check, timeout=timeout)
        if not ok:
            limit = self.timeout if timeout is None else timeout
            pytest.fail(f"{what} was not visible after {limit:g} s (last check: {value!r})")
        return value

    def read_when(self, data: dict[str, Any], status: int = 200, *, timeout: float | None = None) -> httpx.Response:
        """GET ``data``'s key until it answers ``status``; the response."""
        return self.answer_when(lambda: self.get(data), self.key_of(data), status, timeout=timeout)

    def answer_when(
        self, call: Callable[[], httpx.Response], url: str, status: int, *, timeout: float | None = None
    ) -> httpx.Response:
        """Repeat ``call`` (a GET of ``url``) until it answers ``status``; the response."""
        response: httpx.Response | None = None

        def check() -> bool:
            nonlocal response
            response = call()
            return response.status_code == status

        ok, _ = self.poll(check, timeout=timeout)
        assert response is not None
        if not ok:
            limit = self.timeout if timeout is None else timeout
            pytest.fail(
                f"GET {url} still answered {response.status_code} (not {status}) after "
                f"{limit:g} s: {response.text[:300]}"
            )
        return response

    def flush(self) -> None:
        """Let every accepted write apply: the emulator's flush, or waiting ``settle`` seconds on Jira.

        Only for checks that something did *not* happen (an ignored update, a kept deployment); a check
        that something did happen polls with ``wait_visible`` instead.
        """
        if self.emulator is not None:
            self.emulator.flush()
        else:
            time.sleep(self.settle)

    @property
    def builds(self) -> Builds:
        """The same target's Builds API: the same credentials, the builds paths."""
        return Builds(self)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "auth": self.auth_kind,
            "isEmulator": self.is_emulator,
            "siteUrl": self.site_url,
            "baseUrl": str(self.http.base_url),
            "pathPrefix": self.prefix,
            "buildsPathPrefix": self.builds_prefix,
            "cloudId": self.cloud_id,
        }


@dataclass(frozen=True)
class Builds:
    """A target's Builds API: what the target offers for deployments, for builds (key: pipelineId, buildNumber)."""

    target: Target

    def build(
        self, name: str, *, number: int | str = 1, usn: int | str = 1, state: str = "successful", **extra: Any
    ) -> dict[str, Any]:
        """A valid BuildData of pipeline ``parity-<runId>-<name>``, associated with the known issue."""
        pipeline = self.target.pipeline(name)
        data: dict[str, Any] = {
            "pipelineId": pipeline,
            "buildNumber": number,
            "updateSequenceNumber": usn,
            "displayName": f"{name} #{number}",
            "url": f"https://ci.example.com/{quote(pipeline, safe='')}/builds/{number}",
            "state": state,
            "lastUpdated": _now(),
            "associations": [{"associationType": "issueIdOrKeys", "values": [self.target.issue_key]}],
        }
        data.update(extra)
        return data

    def path(self, tail: str) -> str:
        return f"{self.target.builds_prefix}/{tail.lstrip('/')}"

    def key_path(self, pipeline: str, number: int | str) -> str:
        """The percent-encoded path of one build (``/`` in the pipeline id is ``%2F``)."""
        return self.path(f"pipelines/{quote(pipeline, safe='')}/builds/{number}")

    def key_of(self, data: dict[str, Any]) -> str:
        return self.key_path(data["pipelineId"], data["buildNumber"])

    def submit(self, *builds: dict[str, Any], properties: dict[str, Any] | None = None, **top: Any) -> httpx.Response:
        """submitBuilds; the run id is always one of the request's properties (for the teardown)."""
        self.target.submitted_builds = True
        body: dict[str, Any] = {"properties": {**self.target.properties, **(properties or {})}, "builds": list(builds)}
        body.update(top)
        return self.target.http.post(self.path("bulk"), json=body)

    def get(self, data: dict[str, Any]) -> httpx.Response:
        return self.target.http.get(self.key_of(data))

    def delete_by_properties(self, params: list[tuple[str, str]] | dict[str, str]) -> httpx.Response:
        return self.target.http.delete(self.path("bulkByProperties"), params=params)

    def read_when(self, data: dict[str, Any], status: int = 200, *, timeout: float | None = None) -> httpx.Response:
        """GET the build's key until it answers ``status``; the response."""
        return self.target.answer_when(lambda: self.get(data), self.key_of(data), status, timeout=timeout)


def _now() -> str:
    """Now, as a lastUpdated: RFC 3339 in UTC, whole seconds."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _tenant_cloud_id(site_url: str) -> str:
    r = httpx.get(f"{site_url.rstrip('/')}/_edge/tenant_info", timeout=30.0)
    if r.status_code != 200:
        raise RuntimeError(f"GET {site_url}/_edge/tenant_info answered {r.status_code}: {r.text[:300]}")
    return str(r.json()["cloudId"])


def _oauth_token(api_url: str, client_id: str, client_secret: str) -> str:
    body = {
        "grant_type": "client_credentials",
        "client_id": client_id,
        "client_secret": client_secret,
        "audience": "api.atlassian.com",
    }
    r = httpx.post(f"{api_url.rstrip('/')}/oauth/token", json=body, timeout=30.0)
    if r.status_code != 200:
        raise RuntimeError(f"POST {api_url}/oauth/token answered {r.status_code}: {r.text[:300]}")
    return str(r.json()["access_token"])


def build_target(
    target_id: str,
    *,
    site_url: str,
    api_url: str,
    run_id: str,
    issue_key: str,
    unknown_issue_key: str,
    app_key: str | None = None,
    shared_secret: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    emulator: EmulatorClient | None = None,
    timeout: float,
    settle: float,
) -> Target:
    """A target as a real client finds it: the cloudId from tenant_info, a token from /oauth/token."""
    kind = target_id.rsplit("-", 1)[1]
    site_url = site_url.rstrip("/")
    cloud_id = _tenant_cloud_id(site_url)
    common: dict[str, Any] = {
        "id": target_id,
        "auth_kind": kind,
        "is_emulator": emulator is not None,
        "run_id": run_id,
        "cloud_id": cloud_id,
        "site_url": site_url,
        "issue_key": issue_key,
        "unknown_issue_key": unknown_issue_key,
        "timeout": timeout,
        "settle": settle,
        "emulator": emulator,
    }
    if kind == "connect":
        assert app_key and shared_secret
        context_path = urlsplit(site_url).path.rstrip("/")
        auth = ConnectAuth(app_key, shared_secret, context_path=context_path)
        return Target(
            http=httpx.Client(base_url=site_url, auth=auth, timeout=30.0),
            prefix=SITE_PREFIX,
            builds_prefix=BUILDS_SITE_PREFIX,
            provider=f"connect:{app_key}",
            connect_app_key=app_key,
            connect_secret=shared_secret,
            context_path=context_path,
            **common,
        )
    assert client_id and client_secret
    token = _oauth_token(api_url, client_id, client_secret)
    return Target(
        http=httpx.Client(base_url=api_url.rstrip("/"), auth=BearerAuth(token), timeout=30.0),
        prefix=GATEWAY_PREFIX.format(cloud_id=cloud_id),
        builds_prefix=BUILDS_GATEWAY_PREFIX.format(cloud_id=cloud_id),
        provider=f"oauth:{client_id}",
        **common,
    )


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def parity_run_id() -> str:
    """One uuid per session, in every pipeline id and in every request's properties (``runId``)."""
    return str(uuid.uuid4())


@pytest.fixture(scope="session")
def parity_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorClient | None]:
    """An in-process emulator (the built-in default site plus project PAR), or None against a real site."""
    if _env(ENV_URL):
        yield None
        return
    from emulator.config import Settings
    from emulator.fixtures import default_fixture_path
    from emulator.server import ThreadedServer

    fixture = json.loads(default_fixture_path().read_text(encoding="utf-8"))
    fixture["sites"][0]["projects"] = [EMULATOR_PROJECT]
    path = tmp_path_factory.mktemp("parity") / "site.json"
    path.write_text(json.dumps(fixture), encoding="utf-8")
    settings = Settings(port=0, apply_delay=EMULATOR_APPLY_DELAY, fixtures=str(path), log_level="warning")
    with ThreadedServer(settings) as server, EmulatorClient(server.url) as client:
        client.server = server
        yield client


@pytest.fixture(scope="session")
def target(
    request: pytest.FixtureRequest, parity_run_id: str, parity_emulator: EmulatorClient | None
) -> Iterator[Target]:
    """The emulator or the real site, with one kind of credentials; deletes what the run created."""
    target_id: str = request.param
    if parity_emulator is not None:
        built = build_target(
            target_id,
            site_url=parity_emulator.url,
            api_url=parity_emulator.url,
            run_id=parity_run_id,
            issue_key=f"{EMULATOR_PROJECT}-1",
            unknown_issue_key="NOPARITY-1",
            app_key=DEFAULT_APP,
            shared_secret=DEFAULT_SHARED_SECRET,
            client_id=DEFAULT_OAUTH_CLIENT,
            client_secret=DEFAULT_OAUTH_SECRET,
            emulator=parity_emulator,
            timeout=EMULATOR_TIMEOUT,
            settle=0.0,
        )
    else:
        built = build_target(
            target_id,
            site_url=_env(ENV_URL),
            api_url=_env(ENV_API_URL) or ATLASSIAN_API,
            run_id=parity_run_id,
            issue_key=_env(ENV_ISSUE_KEY),
            unknown_issue_key=_env(ENV_UNKNOWN_ISSUE_KEY) or "NOPARITY-1",
            app_key=_env(ENV_APP_KEY) or None,
            shared_secret=_env(ENV_SHARED_SECRET) or None,
            client_id=_env(ENV_CLIENT_ID) or None,
            client_secret=_env(ENV_CLIENT_SECRET) or None,
            timeout=float(_env(ENV_TIMEOUT) or REAL_TIMEOUT),
            settle=float(_env(ENV_SETTLE) or REAL_SETTLE),
        )
        built.unscoped_delete = _env(ENV_UNSCOPED_DELETE) in ("1", "true", "yes")
    request.config.stash[_TARGETS][built.id] = built.describe()
    try:
        yield built
    finally:
        try:
            _teardown(built)
        finally:
            built.http.close()


def _teardown(target: Target) -> None:
    """Delete everything this run created, by its ``runId`` property (deleteDeploymentsByProperty, and
    deleteBuildsByProperty once a scenario submitted builds)."""
    deletes = [("deployments", target.delete_by_properties)]
    if target.submitted_builds:
        deletes.append(("builds", target.builds.delete_by_properties))
    for family, delete in deletes:
        r = delete(target.properties)
        assert r.status_code == 202, f"teardown: delete of {family} by runId answered {r.status_code}: {r.text[:300]}"
    if target.emulator is not None:
        # the suite's own discipline: every deployment and build a scenario stored carried the run id
        target.emulator.flush()
        for family in ("deployments", "builds"):
            left = target.emulator.state(family=family, provider=target.provider)
            assert left == [], f"teardown: {len(left)} {family} of {target.id} did not carry runId: {left[:3]}"


@dataclass
class Decide:
    """``decision(id, observed, expected)``: asserted on the emulator, recorded against real Jira."""

    target: Target
    records: list[dict[str, Any]]

    def __call__(
        self,
        decision: str,
        observed: Any,
        expected: Any,
        *,
        check: Callable[[Any], bool] | None = None,
        note: str = "",
    ) -> bool:
        if decision not in DECISIONS:
            raise KeyError(f"unknown decision {decision!r}: add it to DECISIONS in tests/parity/conftest.py")
        matches = bool(check(observed)) if check is not None else observed == expected
        self.records.append(
            {
                "decision": decision,
                "description": DECISIONS[decision],
                "note": note,
                "expected": _jsonable(expected),
                "observed": _jsonable(observed),
                "matches": matches,
            }
        )
        if self.target.is_emulator:
            assert matches, (
                f"emulator decision {decision!r} ({DECISIONS[decision]}){' - ' + note if note else ''}: "
                f"expected {expected!r}, observed {observed!r}"
            )
        return matches


@pytest.fixture
def decision(request: pytest.FixtureRequest, target: Target) -> Decide:
    """Assert an emulator decision (emulator) or record what Jira did (real site)."""
    records: list[dict[str, Any]] = []
    request.node.stash[_DECISIONS] = records
    return Decide(target, records)


# -- the parity report --------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report: pytest.TestReport = yield
    callspec = getattr(item, "callspec", None)
    if callspec is None or "target" not in callspec.params:
        return report
    entry = item.config.stash[_RECORDS].setdefault(
        item.nodeid,
        {
            "scenario": getattr(item, "originalname", item.name),
            "target": callspec.params["target"],
            "nodeid": item.nodeid,
            "summary": _summary(item),
            "outcome": "passed",
            "durationSeconds": 0.0,
            "decisions": [],
        },
    )
    entry["durationSeconds"] = round(entry["durationSeconds"] + report.duration, 3)
    entry["decisions"] = item.stash.get(_DECISIONS, [])
    if hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
        entry["failure"] = str(report.wasxfail)
    elif report.skipped:
        entry["outcome"] = "skipped"
        entry["failure"] = _failure_text(report)
    elif report.failed:
        # a failed setup or teardown (the run's cleanup) is an error; a failed call is a failure
        entry["outcome"] = "failed" if report.when == "call" else "error"
        entry.setdefault("failure", _failure_text(report))
    return report


def _summary(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _failure_text(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(crash.message if crash is not None else report.longrepr)[:2000]


def report_path(config: pytest.Config) -> Path:
    given = _env(ENV_REPORT)
    if given:
        return Path(given)
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("jira-parity")) / REPORT_NAME
    return Path(tempfile.gettempdir()) / "jira-parity" / REPORT_NAME


def build_report(config: pytest.Config) -> dict[str, Any]:
    scenarios = list(config.stash[_RECORDS].values())
    differences = [
        {
            "scenario": s["scenario"],
            "target": s["target"],
            "decision": d["decision"],
            "description": d["description"],
            "note": d["note"],
            "expected": d["expected"],
            "observed": d["observed"],
        }
        for s in scenarios
        for d in s["decisions"]
        if not d["matches"]
    ]
    counts: dict[str, int] = {}
    for s in scenarios:
        counts[s["outcome"]] = counts.get(s["outcome"], 0) + 1
    from emulator import __version__

    return {
        "format": REPORT_FORMAT,
        "startedAt": config.stash.get(_STARTED, None),
        "finishedAt": datetime.now(UTC).isoformat(),
        "emulatorVersion": __version__,
        "python": platform.python_version(),
        "targets": list(config.stash.get(_TARGETS, {}).values()),
        "summary": {**counts, "scenarios": len(scenarios), "decisionsDiffering": len(differences)},
        "scenarios": scenarios,
        "differences": differences,
    }


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not session.config.stash.get(_RECORDS, None):
        return
    report = build_report(session.config)
    path = report_path(session.config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    session.config.stash[_REPORT_PATH] = str(path)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    path = config.stash.get(_REPORT_PATH, None)
    if path is None:
        return
    differing = sum(1 for s in config.stash[_RECORDS].values() for d in s["decisions"] if not d["matches"])
    line = f"parity report: {path}"
    if differing:
        line += f" ({differing} emulator decision(s) differ from what the target did)"
    terminalreporter.write_line(line)


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)
