"""401 and 403 over HTTP: Jira's texts in the body, the precise reason in a header."""

from __future__ import annotations

import time

import jwt
import pytest
from starlette.testclient import TestClient

from emulator.api import errors
from emulator.domain.clock import ManualClock
from tests.factories import deployment_data
from tests.helpers import BASE, FORBIDDEN, JSON_TYPE, auth, body, key_path, token

BULK = f"{BASE}/bulk"


def test_no_token_is_401(client: TestClient) -> None:
    r = client.get(key_path("p", "e", 1))
    assert r.status_code == 401
    assert r.json() == [{"message": errors.UNAUTHORIZED}]
    assert r.headers["X-Emulator-Reason"]


def test_query_jwt_is_ignored(client: TestClient) -> None:
    path = key_path("p", "e", 1)
    r = client.get(f"{path}?jwt={token('GET', path)}")
    assert r.status_code == 401


def test_qsh_mismatch_names_the_canonical_request(client: TestClient) -> None:
    path = key_path("p", "e", 1)
    r = client.get(path, headers=auth("GET", key_path("p", "e", 2)))
    assert r.status_code == 401
    assert f"GET&{path}&" in r.headers["X-Emulator-Reason"]


def test_expired_token_is_401(client: TestClient, clock: ManualClock) -> None:
    """Expired by a second past the leeway on the emulator's clock (read from the wall clock, a second could
    have passed since the emulator's clock was set, which left the token within the leeway)."""
    path = key_path("p", "e", 1)
    now = int(clock.now())
    r = client.get(path, headers=auth("GET", path, iat=now - 600, exp=now - 31))
    assert r.status_code == 401 and "expired" in r.headers["X-Emulator-Reason"]


def test_hs512_is_401(client: TestClient) -> None:
    path = key_path("p", "e", 1)
    now = int(time.time())
    from atlassian_jwt.url_utils import hash_url

    forged = jwt.encode(
        {"iss": "full-app", "iat": now, "exp": now + 60, "qsh": hash_url("GET", path)}, "k" * 64, algorithm="HS512"
    )
    r = client.get(path, headers={"Authorization": f"JWT {forged}"})
    assert r.status_code == 401 and "HS512" in r.headers["X-Emulator-Reason"]


@pytest.mark.parametrize(
    ("app", "method", "url", "scope"),
    [
        ("reader", "POST", BULK, "WRITE"),
        ("reader", "DELETE", key_path("p", "e", 1), "DELETE"),
        ("no-module", "POST", BULK, "WRITE"),
    ],
    ids=["read-only-cannot-write", "read-only-cannot-delete", "no-module"],
)
def test_forbidden_is_403_naming_the_scope(client: TestClient, app: str, method: str, url: str, scope: str) -> None:
    r = client.request(method, url, content=body(deployment_data()), headers=auth(method, url, app))
    assert r.status_code == 403
    assert r.json() == [{"message": FORBIDDEN.format(scope=scope)}]
    assert app in r.headers["X-Emulator-Reason"]


def test_read_only_app_can_read(client: TestClient) -> None:
    path = key_path("p", "e", 1)
    assert client.get(path, headers=auth("GET", path, "reader")).status_code == 404


def test_admin_scope_implies_the_rest(client: TestClient) -> None:
    r = client.post(BULK, content=body(deployment_data()), headers=auth("POST", BULK, "admin-app"))
    assert r.status_code == 202
    path = key_path("p", "e", 1)
    assert client.delete(path, headers=auth("DELETE", path, "admin-app")).status_code == 202


def test_apps_see_only_their_own_deployments(client: TestClient) -> None:
    client.post(BULK, content=body(deployment_data()), headers=auth("POST", BULK, "admin-app"))
    client.post("/_emulator/queue/flush", headers=JSON_TYPE)
    path = key_path("pipe", "env", 1)
    assert client.get(path, headers=auth("GET", path, "admin-app")).status_code == 200
    assert client.get(path, headers=auth("GET", path, "full-app")).status_code == 404
