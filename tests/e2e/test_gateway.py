"""Issue 3 over real HTTP: OAuth tokens, the gateway path family, several sites, provider isolation."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from emulator.server import ThreadedServer
from tests.e2e.conftest import live_server, reset_client
from tests.factories import deployment_data
from tests.helpers import BASE, CLIENT_SECRETS, CTX_CLOUD, JSON_TYPE, MAIN_CLOUD, auth, body, gateway, key_path

pytestmark = pytest.mark.e2e
UNAUTHORIZED = {"code": 401, "message": "Unauthorized"}


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    yield from live_server(apply_delay=0, oauth_token_ttl=600)


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    yield from reset_client(server)


def token(http: httpx.Client, client_id: str = "ci-bot", *, form: bool = True) -> str:
    fields = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": CLIENT_SECRETS[client_id]}
    r = (
        http.post("/oauth/token", data=fields)
        if form
        else http.post("/oauth/token", json={**fields, "audience": "api.atlassian.com"})
    )
    assert r.status_code == 200, r.text
    return str(r.json()["access_token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize("form", [True, False], ids=["form", "json"])
def test_token_endpoint_answers_both_forms(http: httpx.Client, form: bool) -> None:
    fields = {"grant_type": "client_credentials", "client_id": "ci-bot", "client_secret": CLIENT_SECRETS["ci-bot"]}
    r = (
        http.post("/oauth/token", data=fields)
        if form
        else http.post("/oauth/token", json={**fields, "audience": "api.atlassian.com"})
    )
    assert r.status_code == 200
    out = r.json()
    assert out["token_type"] == "Bearer" and out["expires_in"] == 600 and "write:deployment-info:jira" in out["scope"]
    assert out["access_token"]


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "ci-bot", "client_secret": "wrong"}, 401, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password", "client_id": "ci-bot", "client_secret": "x"}, 400, "unsupported_grant_type"),
        ({"client_id": "ci-bot", "client_secret": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 401, "invalid_client"),
    ],
    ids=["wrong-secret", "unknown-client", "password-grant", "no-grant", "no-credentials"],
)
def test_token_endpoint_refusals_use_oauth_shapes(
    http: httpx.Client, fields: dict[str, str], status: int, error: str
) -> None:
    r = http.post("/oauth/token", data=fields)
    assert r.status_code == status
    assert r.json()["error"] == error and r.json()["error_description"]


def test_tenant_info_answers_the_sites_cloud_id(http: httpx.Client) -> None:
    assert http.get("/_edge/tenant_info", headers={"Host": "jira.test"}).json() == {"cloudId": MAIN_CLOUD}
    assert http.get("/_edge/tenant_info", headers={"Host": "corp.test"}).json() == {"cloudId": CTX_CLOUD}


def test_all_five_operations_on_the_gateway(http: httpx.Client) -> None:
    h = bearer(token(http))
    r = http.post(
        gateway(MAIN_CLOUD, "/bulk"),
        content=body(deployment_data("team/app", "prod", 1, gating=True), properties={"k": "v"}),
        headers=h,
    )
    assert r.status_code == 202 and r.json()["acceptedDeployments"]
    one = gateway(MAIN_CLOUD, "/pipelines/team%2Fapp/environments/prod/deployments/1")
    assert http.get(one, headers=h).json()["pipeline"]["id"] == "team/app"
    assert http.get(one + "/gating-status", headers=h).json()["gatingStatus"] == "awaiting"
    assert http.delete(gateway(MAIN_CLOUD, "/bulkByProperties?k=v"), headers=h).status_code == 202
    assert http.get(one, headers=h).status_code == 404
    assert http.delete(one, headers=h).status_code == 202


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "JWT abc"}],
    ids=["missing", "unknown", "connect-scheme"],
)
def test_gateway_401_body(http: httpx.Client, headers: dict[str, str]) -> None:
    r = http.get(gateway(MAIN_CLOUD, "/pipelines/p/environments/e/deployments/1"), headers=headers)
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert r.headers["X-Emulator-Reason"]


def test_expired_token_is_401(http: httpx.Client, server: ThreadedServer) -> None:
    h = bearer(token(http))
    server.emulator.clock.advance(601)  # later tests get tokens minted on the moved clock
    r = http.get(gateway(MAIN_CLOUD, "/pipelines/p/environments/e/deployments/1"), headers=h)
    assert r.status_code == 401 and r.json() == UNAUTHORIZED
    assert "expired" in r.headers["X-Emulator-Reason"]


def test_credentials_without_the_deployments_permission_are_403(http: httpx.Client) -> None:
    r = http.get(
        gateway(MAIN_CLOUD, "/pipelines/p/environments/e/deployments/1"), headers=bearer(token(http, "no-perm"))
    )
    assert r.status_code == 403
    assert "deployments permission" in r.headers["X-Emulator-Reason"]


def test_token_of_site_a_at_site_b_is_403(http: httpx.Client) -> None:
    r = http.get(gateway(CTX_CLOUD, "/pipelines/p/environments/e/deployments/1"), headers=bearer(token(http)))
    assert r.status_code == 403 and MAIN_CLOUD in r.headers["X-Emulator-Reason"]


def test_unknown_cloud_id_is_404(http: httpx.Client) -> None:
    r = http.get(
        gateway("99999999-0000-0000-0000-000000000000", "/pipelines/p/environments/e/deployments/1"),
        headers=bearer(token(http)),
    )
    assert r.status_code == 404


def test_providers_cannot_read_or_delete_each_others_data(http: httpx.Client) -> None:
    """A Connect app and an OAuth client on one site: same key, two deployments, no crossing."""
    h = bearer(token(http))
    main = {"Host": "jira.test"}
    bulk = f"{BASE}/bulk"
    http.post(
        bulk,
        content=body(deployment_data("p", "e", 1, usn=1), properties={"owner": "app"}),
        headers={**main, **auth("POST", bulk)},
    )
    http.post(
        gateway(MAIN_CLOUD, "/bulk"),
        content=body(deployment_data("p", "e", 1, usn=9), properties={"owner": "app"}),
        headers=h,
    )
    path = key_path("p", "e", 1)
    gw_path = gateway(MAIN_CLOUD, "/pipelines/p/environments/e/deployments/1")
    assert http.get(path, headers={**main, **auth("GET", path)}).json()["updateSequenceNumber"] == 1
    assert http.get(gw_path, headers=h).json()["updateSequenceNumber"] == 9
    # the OAuth client deletes by key and by properties: the app's deployment stays
    assert http.delete(gateway(MAIN_CLOUD, "/bulkByProperties?owner=app"), headers=h).status_code == 202
    assert http.get(path, headers={**main, **auth("GET", path)}).status_code == 200
    assert http.get(gw_path, headers=h).status_code == 404
    # and the app deletes its own: nothing of the client's is touched either
    http.post(gateway(MAIN_CLOUD, "/bulk"), content=body(deployment_data("p", "e", 1, usn=10)), headers=h)
    url = f"{BASE}/bulkByProperties?owner=app"
    http.delete(url, headers={**main, **auth("DELETE", url)})
    assert http.get(path, headers={**main, **auth("GET", path)}).status_code == 404
    assert http.get(gw_path, headers=h).status_code == 200


def test_connect_app_of_site_a_cannot_reach_site_b(http: httpx.Client) -> None:
    bulk = f"{BASE}/bulk"
    # full-app is installed on both sites with different secrets: main's token is refused at corp.test
    r = http.post(f"/jira{bulk}", content=body(deployment_data()), headers={"Host": "corp.test", **auth("POST", bulk)})
    assert r.status_code == 401 and "signature" in r.headers["X-Emulator-Reason"]


def test_install_and_uninstall_at_run_time(http: httpx.Client) -> None:
    site = {"name": "fresh", "baseUrl": "http://fresh.test", "cloudId": "33333333-3333-3333-3333-333333333333"}
    assert http.post("/_emulator/sites", json=site).status_code == 201
    assert http.post("/_emulator/sites", json=site).status_code == 409
    app = {
        "descriptor": {"key": "late-app", "scopes": ["WRITE"], "modules": {"jiraDeploymentInfoProvider": {}}},
        "clientKey": "ck-late",
        "sharedSecret": "late-secret-0123456789abcdef0123456789",
    }
    assert http.post("/_emulator/sites/fresh/apps", json=app).status_code == 201
    bulk = f"{BASE}/bulk"
    h = {"Host": "fresh.test", **auth("POST", bulk, "late-app", secret=app["sharedSecret"])}
    assert http.post(bulk, content=body(deployment_data()), headers=h).status_code == 202
    state = http.get("/_emulator/sites/fresh").json()
    assert [a["key"] for a in state["connectApps"]] == ["late-app"]
    assert http.delete("/_emulator/sites/fresh/apps/late-app", headers=JSON_TYPE).json() == {
        "deletedDeployments": 1,
        "deletedBuilds": 0,
    }
    assert http.post(bulk, content=body(deployment_data()), headers=h).status_code == 401
    client = {"clientId": "late-bot", "clientSecret": "late-bot-secret-0123456789abcdef0123"}
    assert http.post("/_emulator/sites/fresh/oauth-clients", json=client).status_code == 201
    fields = {"grant_type": "client_credentials", "client_id": "late-bot", "client_secret": client["clientSecret"]}
    access = http.post("/oauth/token", data=fields).json()["access_token"]
    assert (
        http.post(
            gateway("33333333-3333-3333-3333-333333333333", "/bulk"),
            content=body(deployment_data()),
            headers=bearer(access),
        ).status_code
        == 202
    )
    assert http.delete("/_emulator/sites/fresh/oauth-clients/late-bot", headers=JSON_TYPE).json() == {
        "deletedDeployments": 1,
        "deletedBuilds": 0,
    }
    r = http.get(
        gateway("33333333-3333-3333-3333-333333333333", "/pipelines/pipe/environments/env/deployments/1"),
        headers=bearer(access),
    )
    assert r.status_code == 401
    assert http.delete("/_emulator/sites/fresh", headers=JSON_TYPE).status_code == 204
    assert http.get("/_emulator/sites/fresh").status_code == 404


def test_bad_site_specs_are_400(http: httpx.Client) -> None:
    assert http.post("/_emulator/sites", content=b"{", headers=JSON_TYPE).status_code == 400
    r = http.post("/_emulator/sites", json={"name": "x", "baseUrl": "nope", "cloudId": "c", "typo": 1})
    assert r.status_code == 400 and "typo" in r.json()["error"]
