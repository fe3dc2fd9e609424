"""Minted Connect tokens pass the emulator's own verifier, and atlassian-jwt computes the same qsh."""

from __future__ import annotations

import time

import atlassian_jwt
import jwt
import pytest

from emulator.auth.connect import AuthError, verify_connect_request
from emulator.tokens import connect_authorization, connect_token, split_url

APP = "full-app"
SECRET = "full-secret-0123456789abcdef0123456789"
BASE = "/rest/deployments/0.1"


def verify(authorization: str, method: str, raw_path: str, raw_query: str = "", now: float | None = None):  # type: ignore[no-untyped-def]
    return verify_connect_request(
        authorization,
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        secret_for=lambda key: SECRET if key == APP else None,
        now=time.time() if now is None else now,
    )


def claims(token: str) -> dict:  # type: ignore[type-arg]
    return jwt.decode(token, SECRET, algorithms=["HS256"], options={"verify_exp": False})


# (method, url given to the signer, raw path and raw query the server sees)
REQUESTS = [
    pytest.param("POST", f"{BASE}/bulk", f"{BASE}/bulk", "", id="submit"),
    pytest.param(
        "GET",
        f"{BASE}/pipelines/team%2Fapp/environments/prod/deployments/1",
        f"{BASE}/pipelines/team%2Fapp/environments/prod/deployments/1",
        "",
        id="encoded-slash",
    ),
    pytest.param(
        "GET",
        f"{BASE}/pipelines/a%26b%2Bc/environments/Z%C3%BCrich%20env/deployments/2/gating-status",
        f"{BASE}/pipelines/a%26b%2Bc/environments/Z%C3%BCrich%20env/deployments/2/gating-status",
        "",
        id="ampersand-plus-unicode",
    ),
    pytest.param(
        "DELETE",
        f"{BASE}/bulkByProperties?run=1&team=a%2Fb&_updateSequenceNumber=3",
        f"{BASE}/bulkByProperties",
        "run=1&team=a%2Fb&_updateSequenceNumber=3",
        id="query-with-encoded-slash",
    ),
    pytest.param(
        "DELETE",
        f"{BASE}/pipelines/p/environments/e/deployments/7?_updateSequenceNumber=9",
        f"{BASE}/pipelines/p/environments/e/deployments/7",
        "_updateSequenceNumber=9",
        id="delete-with-usn",
    ),
    pytest.param("GET", "/rest/x?b=2&a=1&a=0", "/rest/x", "b=2&a=1&a=0", id="repeated-unsorted"),
    pytest.param("GET", "/rest/x?k=a%2Bb&k2=a+b&k3=%7E*", "/rest/x", "k=a%2Bb&k2=a+b&k3=%7E*", id="plus-tilde-star"),
    pytest.param("GET", "/rest/x?jwt=old&a=1", "/rest/x", "jwt=old&a=1", id="jwt-param-left-out"),
    pytest.param(
        "GET",
        "https://jira.test:8443/rest/x?director=%E5%AE%AE%E5%B4%8E+%E9%A7%BF#frag",
        "/rest/x",
        "director=%E5%AE%AE%E5%B4%8E+%E9%A7%BF",
        id="absolute-url-fragment",
    ),
    pytest.param(
        "GET",
        f"{BASE}/pipelines/p/environments/e/deployments/1/",
        f"{BASE}/pipelines/p/environments/e/deployments/1/",
        "",
        id="trailing-slash",
    ),
    pytest.param("get", "/rest/x?", "/rest/x", "", id="lower-case-method-empty-query"),
]


@pytest.mark.parametrize(("method", "url", "raw_path", "raw_query"), REQUESTS)
def test_token_passes_the_emulators_verifier(method: str, url: str, raw_path: str, raw_query: str) -> None:
    verified = verify(connect_authorization(APP, SECRET, method, url), method.upper(), raw_path, raw_query)
    assert verified.app_key == APP
    assert verified.qsh_form == "raw"


@pytest.mark.parametrize(("method", "url", "raw_path", "raw_query"), REQUESTS)
def test_qsh_agrees_with_atlassian_jwt(method: str, url: str, raw_path: str, raw_query: str) -> None:
    relative = raw_path + (f"?{raw_query}" if raw_query else "")
    assert claims(connect_token(APP, SECRET, method, url))["qsh"] == atlassian_jwt.url_utils.hash_url(method, relative)


@pytest.mark.parametrize(
    ("method", "url", "qsh"),
    [
        ("GET", "/test?param=value", "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd"),
        ("GET", "/path!$&'()*+,;=?a=b", "9ef803f9cb8dea4f7f875caff8d31e95962c6e8bd44d64a848d6ebb055b2144b"),
        ("GET", "", "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"),
        ("POST", f"{BASE}/bulk", "e50a1fc975925dfc3652c2ea120c1d37f5581e16d5a167a5adbeda3bda7ab589"),
        (
            "DELETE",
            f"{BASE}/bulkByProperties?accountId=account-123&createdBy=user-456",
            "97c38f4c812b8861400bd873b1e4a4dc63546c3bf9ec1f7ba68e404195b557bf",
        ),
    ],
    ids=["param", "reserved-path", "no-path", "bulk", "by-properties"],
)
def test_qsh_matches_the_published_vectors(method: str, url: str, qsh: str) -> None:
    assert claims(connect_token(APP, SECRET, method, url))["qsh"] == qsh


def test_context_path_is_left_out_of_the_qsh() -> None:
    for url in (f"http://corp.test/jira{BASE}/bulk", f"/jira{BASE}/bulk"):
        header = connect_authorization(APP, SECRET, "POST", url, context_path="/jira")
        assert verify(header, "POST", f"{BASE}/bulk").app_key == APP


def test_context_path_only_strips_a_whole_leading_segment() -> None:
    assert split_url("/jiraX/rest", "/jira") == ("/jiraX/rest", "")
    assert split_url("/jira", "/jira/") == ("/", "")
    assert split_url("/jira/rest?a=1", "/jira") == ("/rest", "a=1")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rest/x?a=1", ("/rest/x", "a=1")),
        ("", ("/", "")),
        ("https://h/p%2Fq?x=%2F#f", ("/p%2Fq", "x=%2F")),
        ("http://h", ("/", "")),
        ("/a?b=c?d", ("/a", "b=c?d")),
    ],
    ids=["no-leading-slash", "empty", "absolute", "bare-host", "question-mark-in-query"],
)
def test_split_url(url: str, expected: tuple[str, str]) -> None:
    assert split_url(url) == expected


def test_claims_and_header() -> None:
    token = connect_token(APP, SECRET, "GET", "/rest/x", now=1_700_000_000.9, ttl=60)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert claims(token) == {
        "iss": APP,
        "iat": 1_700_000_000,
        "exp": 1_700_000_060,
        "qsh": atlassian_jwt.url_utils.hash_url("GET", "/rest/x"),
    }


def test_authorization_is_the_jwt_scheme() -> None:
    header = connect_authorization(APP, SECRET, "GET", "/rest/x", now=1_700_000_000)
    assert header == "JWT " + connect_token(APP, SECRET, "GET", "/rest/x", now=1_700_000_000)


def test_token_expires_after_its_ttl() -> None:
    header = connect_authorization(APP, SECRET, "GET", "/rest/x", now=1_000_000, ttl=10)
    assert verify(header, "GET", "/rest/x", now=1_000_000 + 10 + 30).app_key == APP  # within the leeway
    with pytest.raises(AuthError, match="expired"):
        verify(header, "GET", "/rest/x", now=1_000_000 + 10 + 31)


@pytest.mark.parametrize(
    ("method", "raw_path", "raw_query"),
    [
        ("POST", "/rest/x", "a=1"),
        ("GET", "/rest/y", "a=1"),
        ("GET", "/rest/x", "a=2"),
        ("GET", "/rest/x", ""),
    ],
    ids=["other-method", "other-path", "other-query", "no-query"],
)
def test_token_is_bound_to_its_request(method: str, raw_path: str, raw_query: str) -> None:
    header = connect_authorization(APP, SECRET, "GET", "/rest/x?a=1")
    with pytest.raises(AuthError, match="qsh mismatch"):
        verify(header, method, raw_path, raw_query)
