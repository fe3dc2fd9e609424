"""The request cache of TokenCache: a repeated request skips the signature and the qsh computation, and
nothing else. Lifetimes, the app's secret and install state are checked on every request; anything that
differs (method, path, query, header) is verified from scratch."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import jwt
import pytest

from emulator.auth.connect import KEPT_TOKEN_CHARS, TokenCache, VerifiedToken, verify_connect_request
from emulator.auth.qsh import query_string_hash
from emulator.auth.refusals import AuthError

NOW = 1_750_000_000
SECRET = "s" * 40


def header(method: str = "GET", path: str = "/a", query: str = "", **claims: Any) -> str:
    payload = {"iss": "app", "iat": NOW, "exp": NOW + 60, "qsh": query_string_hash(method, path, query), **claims}
    return "JWT " + jwt.encode(payload, SECRET, "HS256")


def kept(cache: TokenCache, request: tuple[str, str, str, str]) -> bool:
    """Whether ``cache`` keeps (Authorization header, method, raw path, raw query) as verified."""
    authorization, method, path, query = request
    return cache.kept_header(method, path, query) == authorization


class Verifier:
    def __init__(self) -> None:
        self.secrets: dict[str, str] = {"app": SECRET}
        self.cache = TokenCache(size=8)

    def __call__(
        self, authorization: str, method: str = "GET", path: str = "/a", query: str = "", at: float = NOW
    ) -> VerifiedToken:
        return verify_connect_request(
            authorization,
            method=method,
            raw_path=path,
            raw_query=query,
            secret_for=self.secrets.get,
            now=at,
            cache=self.cache,
        )


def test_a_repeated_request_is_a_hit_with_the_same_answer() -> None:
    verify, auth = Verifier(), header()
    first = verify(auth)
    assert kept(verify.cache, (auth, "GET", "/a", ""))  # kept from its first verification
    assert verify(auth) == first
    assert verify(auth) == first
    assert first.app_key == "app" and first.qsh_form == "raw"


def test_requests_each_signed_anew_leave_one_header_per_request() -> None:
    """A Connect client signs every call: each new token for a request takes the place of the one before."""
    verify = Verifier()
    auths = [header(jti=str(i)) for i in range(50)]
    for auth in auths:
        assert verify(auth).app_key == "app"
    assert [kept(verify.cache, (auth, "GET", "/a", "")) for auth in auths] == [False] * 49 + [True]
    assert verify(auths[0]).app_key == "app"  # verified anew, and kept in its turn
    assert kept(verify.cache, (auths[0], "GET", "/a", ""))


@pytest.mark.parametrize(
    ("claims", "at", "reason"),
    [
        ({}, NOW + 91, "expired"),
        ({}, NOW - 31, "issued in the future"),
        ({"nbf": NOW + 40}, NOW, "not valid before"),
    ],
    ids=["expired", "iat-in-future", "nbf"],
)
def test_lifetimes_are_checked_on_every_hit(claims: dict[str, Any], at: float, reason: str) -> None:
    verify, auth = Verifier(), header(**claims)
    verify(auth, at=NOW + 15)  # valid then: kept
    verify(auth, at=NOW + 15)  # a hit
    with pytest.raises(AuthError, match=reason):
        verify(auth, at=at)
    verify(auth, at=NOW + 15)  # a refusal does not evict a token that is valid at other times


@pytest.mark.parametrize(("method", "path", "query"), [("DELETE", "/a", ""), ("GET", "/b", ""), ("GET", "/a", "x=1")])
def test_the_same_token_on_another_request_is_checked_against_that_request(method: str, path: str, query: str) -> None:
    verify, auth = Verifier(), header()
    verify(auth)
    with pytest.raises(AuthError, match="qsh mismatch"):
        verify(auth, method, path, query)
    assert verify(auth, "GET", "/a/", "").app_key == "app"  # one trailing slash is not part of the canonical URI


def test_a_new_secret_or_an_uninstalled_app_is_no_hit() -> None:
    verify, auth = Verifier(), header()
    verify(auth)
    verify(auth)  # kept
    verify.secrets["app"] = "t" * 40  # re-installed with a new secret
    with pytest.raises(AuthError, match="bad signature"):
        verify(auth)
    del verify.secrets["app"]  # uninstalled
    with pytest.raises(AuthError, match="not an app installed"):
        verify(auth)
    verify.secrets["app"] = SECRET  # back with the old secret: the token is good again
    assert verify(auth).app_key == "app"


def test_refusals_are_not_cached() -> None:
    verify, auth = Verifier(), header(path="/b")
    with pytest.raises(AuthError, match="qsh mismatch"):
        verify(auth)
    assert not kept(verify.cache, (auth, "GET", "/a", ""))


def test_requests_no_valid_token_signs_are_not_kept() -> None:
    """A client without a valid token leaves nothing in the cache, whatever paths it asks for."""
    verify = Verifier()
    for i in range(50):
        with pytest.raises(AuthError):
            verify(header(path=f"/{i}")[:-2] + "xx", path=f"/{i}")  # a broken signature
        with pytest.raises(AuthError, match="qsh mismatch"):
            verify(header(path="/other"), path=f"/{i}")
    assert not verify.cache.requests


def test_the_decoded_form_is_remembered_as_decoded() -> None:
    verify, auth = Verifier(), header(path="/team/app")
    assert verify(auth, path="/team%2Fapp").qsh_form == "decoded"
    assert verify(auth, path="/team%2Fapp").qsh_form == "decoded"


def test_bounded_the_oldest_first() -> None:
    verify = Verifier()
    verify.cache = TokenCache(size=2)
    auths = [header(path=f"/{i}") for i in range(3)]
    for i, auth in enumerate(auths):
        verify(auth, path=f"/{i}")
    assert not kept(verify.cache, (auths[0], "GET", "/0", ""))
    assert kept(verify.cache, (auths[2], "GET", "/2", ""))


def test_very_long_requests_are_verified_without_the_request_cache() -> None:
    verify = Verifier()
    query = "x=" + "y" * 20_000
    auth = header(query=query)
    assert verify(auth, query=query).app_key == "app"
    assert verify(auth, query=query).app_key == "app"
    assert not kept(verify.cache, (auth, "GET", "/a", query))


def test_clear_forgets_everything() -> None:
    verify, auth = Verifier(), header()
    verify(auth)
    verify(auth)
    verify.cache.clear()
    assert not kept(verify.cache, (auth, "GET", "/a", ""))
    verify(auth)
    assert kept(verify.cache, (auth, "GET", "/a", ""))


def test_new_tokens_for_a_request_seen_before_are_checked_against_it() -> None:
    verify = Verifier()
    verify(header(jti="1"))
    assert verify(header(jti="2")).app_key == "app"
    with pytest.raises(AuthError, match="qsh mismatch"):
        verify(header(path="/b", jti="3"))


def longest_and_shortest_around(limit: int) -> tuple[str, str]:
    """Authorization headers of the longest token of at most ``limit`` characters, and the shortest longer."""
    below = header()
    padding = max(0, (limit - len(below)) * 3 // 4 - 8)  # base64 makes 4 characters of 3 bytes
    while True:
        auth = header(pad="p" * padding)
        if len(auth) - len("JWT ") > limit:
            return below, auth
        below, padding = auth, padding + 1


AT_MOST_4_KIB, OVER_4_KIB = longest_and_shortest_around(KEPT_TOKEN_CHARS)


@pytest.mark.parametrize(("auth", "is_kept"), [(AT_MOST_4_KIB, True), (OVER_4_KIB, False)], ids=["4-KiB", "longer"])
def test_a_long_token_still_verifies_but_only_one_up_to_4_KiB_is_kept(auth: str, is_kept: bool) -> None:
    verify = Verifier()
    assert verify(auth).app_key == "app"
    assert verify(auth).app_key == "app"
    assert kept(verify.cache, (auth, "GET", "/a", "")) == is_kept
    assert verify(auth).app_key == "app"


def test_the_memory_the_cache_holds_stays_bounded_whatever_the_tokens() -> None:
    """A client sending 60 KiB tokens, each new, leaves nothing of them behind in the cache."""
    verify = Verifier()
    verify.cache = TokenCache()  # room for 4096 of each
    auths = [header(pad="p" * 45_000, jti=str(i)) for i in range(64)]  # 64 x 60 KiB: 4 MiB of tokens
    verify(header())  # what the first verification builds once (imports, the key of the secret)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for auth in auths:
            assert verify(auth).app_key == "app"
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 256 * 1024, f"{held} bytes held after 64 tokens of 60 KiB"
