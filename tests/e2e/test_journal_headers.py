"""The journal keeps each call's request headers, over real HTTP: credentials redacted (a JWT shown as its
scheme, decoded header and claims, never its signature), and no more than a bounded number of bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.redaction import HEADERS_KEPT
from emulator.server import ThreadedServer
from tests.helpers import BASE, CLIENT_SECRETS, JSON_TYPE, MAIN_CLOUD, SECRETS, SITES, gateway, key_path, token

pytestmark = pytest.mark.e2e

PATH = key_path("p", "e", 1)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    clock = ManualClock(start=float(int(time.time())))
    with ThreadedServer(Settings(port=0, fixtures=SITES), clock=clock) as running:
        yield running


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Host": "jira.test"}, timeout=5) as client:
        client.delete("/_emulator/journal", headers=JSON_TYPE)
        yield client


def last_headers(http: httpx.Client) -> dict[str, str]:
    (entry,) = http.get("/_emulator/journal", params={"limit": 1}).json()["entries"]
    return dict(entry["requestHeaders"])


def test_a_connect_token_is_journalled_as_its_header_and_claims_without_its_signature(http: httpx.Client) -> None:
    signed = token("GET", PATH)
    http.get(PATH, headers={"Authorization": f"JWT {signed}", "X-Trace": "abc"})
    headers = last_headers(http)
    assert headers["x-trace"] == "abc" and headers["host"] == "jira.test"
    scheme, header, claims, note = headers["authorization"].split(" ", 3)
    assert (scheme, note) == ("JWT", "(signature not kept)")
    assert json.loads(header)["alg"] == "HS256"
    assert json.loads(claims)["iss"] == "full-app" and "qsh" in json.loads(claims)
    signature = signed.rsplit(".", 1)[1]
    journal = json.dumps(http.get("/_emulator/journal").json())
    assert signature not in journal and SECRETS["full-app"] not in journal


def test_an_oauth_access_token_is_journalled_without_its_signature_or_the_clients_secret(
    server: ThreadedServer, http: httpx.Client
) -> None:
    form = {"grant_type": "client_credentials", "client_id": "ci-bot", "client_secret": CLIENT_SECRETS["ci-bot"]}
    access = http.post("/oauth/token", data=form).json()["access_token"]
    http.get(gateway(MAIN_CLOUD, PATH.removeprefix(BASE)), headers={"Authorization": f"Bearer {access}"})
    shown = last_headers(http)["authorization"]
    assert shown.startswith("Bearer {") and shown.endswith("(signature not kept)")
    assert '"sub":"ci-bot"' in shown and '"cid":"' in shown
    journal = json.dumps(http.get("/_emulator/journal").json())
    assert access not in journal and access.rsplit(".", 1)[1] not in journal
    assert CLIENT_SECRETS["ci-bot"] not in journal


@pytest.mark.parametrize(
    ("authorization", "shown"),
    [
        ("Basic dXNlcjpwYXNzd29yZA==", "Basic (not kept: 20 characters, not a JWT)"),
        ("JWT not.a.token", "JWT (not kept: 11 characters, not a JWT)"),
        ("garbage", "(not kept: 7 characters)"),
    ],
    ids=["basic", "not-a-jwt", "no-scheme"],
)
def test_other_credentials_are_shown_by_their_length_only(http: httpx.Client, authorization: str, shown: str) -> None:
    http.get(PATH, headers={"Authorization": authorization, "Cookie": "session=s3cr3t"})
    headers = last_headers(http)
    assert headers["authorization"] == shown
    assert headers["cookie"] == "(not kept: 14 characters)"


def test_the_journal_keeps_a_bounded_number_of_header_bytes(http: httpx.Client) -> None:
    many: dict[str, Any] = {f"X-Filler-{n}": "v" * 1000 for n in range(30)}
    http.get(PATH, headers=many)
    (entry,) = http.get("/_emulator/journal", params={"limit": 1}).json()["entries"]
    kept = entry["requestHeaders"]
    assert sum(len(name) + len(value) for name, value in kept[:-1]) <= HEADERS_KEPT
    assert kept[-1][0] == "..." and "not kept" in kept[-1][1]
    assert len(kept) < 30
