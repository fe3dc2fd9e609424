"""Attacks on authentication over real HTTP (issue 7, item 2): Connect JWTs on the site family, bearer
tokens on the gateway.

Every case submits one deployment of its own (pipeline ``jwt-<case>``) to ``POST .../bulk``: a refused
call must answer the documented status with its family's body and an ``X-Emulator-Reason``, and leave the
store and queue exactly as they were; an accepted one must have stored the deployment. Token times are
taken from the server's manual clock, so the leeway edges (30 s) are exact.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from emulator.domain.model import DeploymentKey, Provider
from tests.factories import deployment_data
from tests.helpers import CLIENT_SECRETS, CTX_CLOUD, FORBIDDEN, MAIN_CLOUD, SECRETS
from tests.robustness.support import (
    GATEWAY_BASE,
    SITE_BASE,
    Emu,
    assert_refusal,
    connect_token,
    describe_difference,
    qsh,
    raw_request,
)

pytestmark = pytest.mark.e2e

BULK = f"{SITE_BASE}/bulk".encode()
SECRET = SECRETS["full-app"].encode()
CTX_SECRET = "ctx-secret-0123456789abcdef0123456789"  # the app "full-app" installed on the site "ctx"
MB = 1024 * 1024


def b64(data: bytes | str | dict[str, Any] | list[Any]) -> bytes:
    if isinstance(data, dict | list):
        data = json.dumps(data, separators=(",", ":"))
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def forge(header: Any, payload: Any, key: bytes | None = SECRET, digest: Any = hashlib.sha256) -> bytes:
    """A token built by hand (PyJWT refuses to write most of these): HMAC over the two segments, or no signature."""
    signing_input = b64(header) + b"." + b64(payload)
    signature = b"" if key is None else b64(hmac.new(key, signing_input, digest).digest())
    return signing_input + b"." + signature


def claims(emu: Emu, target: bytes = BULK, method: str = "POST", **over: Any) -> dict[str, Any]:
    now = int(emu.now())
    found: dict[str, Any] = {"iss": "full-app", "iat": now, "exp": now + 60, "qsh": qsh(method, target)}
    found.update(over)
    return {k: v for k, v in found.items() if v is not DROP}


DROP = object()
HS256 = {"typ": "JWT", "alg": "HS256"}


def token(emu: Emu, target: bytes = BULK, method: str = "POST", **over: Any) -> bytes:
    return connect_token(method, target, now=emu.now(), **over).encode()


def jwt_auth(value: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", b"JWT " + value)]


@dataclass(frozen=True)
class Case:
    """How to authenticate one POST /bulk: its headers (and a query to add), the status it must get."""

    build: Callable[[Emu], tuple[list[tuple[bytes, bytes]], bytes]]
    status: int
    target: bytes | None = None  # another path than the family's POST /bulk


def header_case(make: Callable[[Emu], bytes], status: int = 401, query: bytes = b"") -> Case:
    return Case(lambda e: (jwt_auth(make(e)), query), status)


def swap_payload(emu: Emu, **over: Any) -> bytes:
    """A valid token whose payload segment was replaced after signing."""
    head, _, rest = token(emu).partition(b".")
    _, _, signature = rest.partition(b".")
    return head + b"." + b64(claims(emu, **over)) + b"." + signature


def swap_header(emu: Emu, header: dict[str, Any]) -> bytes:
    _, _, rest = token(emu).partition(b".")
    return b64(header) + b"." + rest


def _with_secret(secret: str, app: str) -> Callable[[Emu], bytes]:
    return lambda e: connect_token("POST", BULK, now=e.now(), app=app, secret=secret).encode()


CONNECT_CASES: dict[str, Case] = {
    # algorithms
    "alg-none-unsigned": header_case(lambda e: forge({"typ": "JWT", "alg": "none"}, claims(e), key=None)),
    "alg-none-with-signature": header_case(lambda e: forge({"typ": "JWT", "alg": "none"}, claims(e))),
    "alg-None": header_case(lambda e: forge({"typ": "JWT", "alg": "None"}, claims(e), key=None)),
    "alg-NONE": header_case(lambda e: forge({"typ": "JWT", "alg": "NONE"}, claims(e), key=None)),
    "alg-missing": header_case(lambda e: forge({"typ": "JWT"}, claims(e))),
    "alg-empty": header_case(lambda e: forge({"typ": "JWT", "alg": ""}, claims(e))),
    "alg-null": header_case(lambda e: forge({"typ": "JWT", "alg": None}, claims(e))),
    "alg-list": header_case(lambda e: forge({"typ": "JWT", "alg": ["HS256"]}, claims(e))),
    "alg-lower-case-hs256": header_case(lambda e: forge({"typ": "JWT", "alg": "hs256"}, claims(e))),
    "HS512": header_case(lambda e: token(e, algorithm="HS512")),
    "HS384": header_case(lambda e: token(e, algorithm="HS384")),
    "HS512-forged-by-hand": header_case(
        lambda e: forge({"typ": "JWT", "alg": "HS512"}, claims(e), digest=hashlib.sha512)
    ),
    # algorithm confusion: the shared secret used as an RSA / EC "public key" for an HMAC
    "RS256-secret-as-public-key": header_case(lambda e: forge({"typ": "JWT", "alg": "RS256"}, claims(e))),
    "PS256-secret-as-public-key": header_case(lambda e: forge({"typ": "JWT", "alg": "PS256"}, claims(e))),
    "ES256-secret-as-public-key": header_case(lambda e: forge({"typ": "JWT", "alg": "ES256"}, claims(e))),
    "EdDSA-secret-as-public-key": header_case(lambda e: forge({"typ": "JWT", "alg": "EdDSA"}, claims(e))),
    "critical-extension": header_case(lambda e: forge({**HS256, "crit": ["exp"]}, claims(e))),
    # tampering
    "tampered-exp": header_case(lambda e: swap_payload(e, exp=int(e.now()) + 86_400)),
    "tampered-iss": header_case(lambda e: swap_payload(e, iss="admin-app")),
    "tampered-qsh": header_case(lambda e: swap_payload(e, qsh=qsh("GET", BULK))),
    "tampered-header": header_case(lambda e: swap_header(e, {**HS256, "kid": "x"})),
    "signature-stripped": header_case(lambda e: token(e).rpartition(b".")[0] + b"."),
    "signature-of-another-token": header_case(
        lambda e: token(e).rpartition(b".")[0] + b"." + token(e, iat=int(e.now()) - 1).rpartition(b".")[2]
    ),
    "signature-bit-flipped": header_case(
        lambda e: token(e)[:-2] + (b"A" if token(e)[-2:-1] != b"A" else b"B") + token(e)[-1:]
    ),
    "segments-padded": header_case(lambda e: b".".join(p + b"==" for p in token(e).split(b"."))),
    "wrong-secret": header_case(_with_secret("not-the-secret-0123456789abcdef0123", "full-app")),
    "empty-secret": header_case(lambda e: forge(HS256, claims(e), key=b"")),
    # missing or mistyped claims
    "missing-iss": header_case(lambda e: forge(HS256, claims(e, iss=DROP))),
    "missing-iat": header_case(lambda e: forge(HS256, claims(e, iat=DROP))),
    "missing-exp": header_case(lambda e: forge(HS256, claims(e, exp=DROP))),
    "missing-qsh": header_case(lambda e: forge(HS256, claims(e, qsh=DROP))),
    "exp-string": header_case(lambda e: forge(HS256, claims(e, exp=str(int(e.now()) + 60)))),
    "exp-bool": header_case(lambda e: forge(HS256, claims(e, exp=True))),
    "exp-null": header_case(lambda e: forge(HS256, claims(e, exp=None))),
    "exp-NaN": header_case(lambda e: forge(HS256, json.dumps(claims(e, exp=float("nan"))))),
    "exp-Infinity": header_case(lambda e: forge(HS256, json.dumps(claims(e, exp=float("inf"))))),
    "exp-5000-digits": header_case(
        lambda e: forge(HS256, json.dumps(claims(e, exp=0)).replace('"exp": 0', '"exp": ' + "9" * 5000))
    ),
    "iat-bool": header_case(lambda e: forge(HS256, claims(e, iat=True))),
    "iat-list": header_case(lambda e: forge(HS256, claims(e, iat=[1]))),
    "nbf-string": header_case(lambda e: forge(HS256, claims(e, nbf="0"))),
    # lifetimes at the leeway's edges (30 s), against the server's clock
    "exp-now-minus-30-accepted": header_case(
        lambda e: forge(HS256, claims(e, iat=int(e.now()) - 600, exp=int(e.now()) - 30)), 202
    ),
    "exp-now-minus-31": header_case(lambda e: forge(HS256, claims(e, iat=int(e.now()) - 600, exp=int(e.now()) - 31))),
    "exp-now-minus-30.5": header_case(lambda e: forge(HS256, claims(e, iat=int(e.now()) - 600, exp=e.now() - 30.5))),
    "nbf-now-plus-30-accepted": header_case(lambda e: forge(HS256, claims(e, nbf=int(e.now()) + 30)), 202),
    "nbf-now-plus-31": header_case(lambda e: forge(HS256, claims(e, nbf=int(e.now()) + 31))),
    "iat-now-plus-30-accepted": header_case(lambda e: forge(HS256, claims(e, iat=int(e.now()) + 30)), 202),
    "iat-now-plus-31": header_case(lambda e: forge(HS256, claims(e, iat=int(e.now()) + 31, exp=int(e.now()) + 120))),
    "iat-a-day-ahead": header_case(
        lambda e: forge(HS256, claims(e, iat=int(e.now()) + 86_400, exp=int(e.now()) + 90_000))
    ),
    "exp-before-iat": header_case(lambda e: forge(HS256, claims(e, iat=int(e.now()), exp=int(e.now()) - 3600))),
    # qsh
    "qsh-context-qsh": header_case(lambda e: forge(HS256, claims(e, qsh="context-qsh"))),
    "qsh-empty": header_case(lambda e: forge(HS256, claims(e, qsh=""))),
    "qsh-upper-case-hex": header_case(lambda e: forge(HS256, claims(e, qsh=qsh("POST", BULK).upper()))),
    "qsh-number": header_case(lambda e: forge(HS256, claims(e, qsh=0))),
    "qsh-list": header_case(lambda e: forge(HS256, claims(e, qsh=[qsh("POST", BULK)]))),
    "signed-for-another-path": header_case(lambda e: token(e, f"{SITE_BASE}/bulkByProperties".encode())),
    "signed-for-another-method": header_case(lambda e: token(e, BULK, "GET")),
    "signed-for-another-query": header_case(lambda e: token(e, BULK + b"?a=1")),
    "signed-without-the-query-sent": header_case(lambda e: token(e), query=b"a=1"),
    # iss
    "iss-the-client-key": header_case(lambda e: forge(HS256, claims(e, iss="ck-full"))),
    "iss-app-of-another-site": header_case(_with_secret(CTX_SECRET, "full-app")),
    "iss-unknown-app": header_case(lambda e: forge(HS256, claims(e, iss="no-such-app"))),
    "iss-other-app-signed-with-this-secret": header_case(lambda e: forge(HS256, claims(e, iss="admin-app"))),
    "iss-empty": header_case(lambda e: forge(HS256, claims(e, iss=""))),
    "iss-number": header_case(lambda e: forge(HS256, claims(e, iss=1))),
    "iss-list": header_case(lambda e: forge(HS256, claims(e, iss=["full-app"]))),
    # a valid token of an app that may not write
    "app-without-write-scope": header_case(lambda e: token(e, app="reader"), 403),
    "app-without-the-module": header_case(lambda e: token(e, app="no-module"), 403),
    # the Authorization header
    "scheme-jwt-lower-case-accepted": Case(lambda e: ([(b"Authorization", b"jwt " + token(e))], b""), 202),
    "scheme-Jwt-accepted": Case(lambda e: ([(b"Authorization", b"Jwt " + token(e))], b""), 202),
    "scheme-two-spaces": Case(lambda e: ([(b"Authorization", b"JWT  " + token(e))], b""), 401),
    "scheme-tab": Case(lambda e: ([(b"Authorization", b"JWT\t" + token(e))], b""), 401),
    "scheme-bearer": Case(lambda e: ([(b"Authorization", b"Bearer " + token(e))], b""), 401),
    "scheme-basic": Case(
        lambda e: ([(b"Authorization", b"Basic " + base64.b64encode(b"full-app:" + SECRET))], b""), 401
    ),
    "scheme-only": Case(lambda e: ([(b"Authorization", b"JWT")], b""), 401),
    "scheme-only-trailing-space": Case(lambda e: ([(b"Authorization", b"JWT ")], b""), 401),
    "token-without-scheme": Case(lambda e: ([(b"Authorization", token(e))], b""), 401),
    "token-then-garbage": Case(lambda e: ([(b"Authorization", b"JWT " + token(e) + b" x")], b""), 401),
    "scheme-jwt-colon": Case(lambda e: ([(b"Authorization", b"JWT: " + token(e))], b""), 401),
    # ?jwt= (withdrawn in 2022: ignored, and left out of the qsh)
    "query-jwt-only": Case(lambda e: ([], b"jwt=" + token(e)), 401),
    "valid-header-and-garbage-query-jwt": Case(lambda e: (jwt_auth(token(e)), b"jwt=garbage"), 202),
    "valid-header-and-another-apps-query-jwt": Case(
        lambda e: (jwt_auth(token(e)), b"jwt=" + token(e, app="reader")), 202
    ),
    "garbage-header-and-valid-query-jwt": Case(lambda e: (jwt_auth(b"x.y.z"), b"jwt=" + token(e)), 401),
    # size and structure
    "token-1MB": header_case(lambda e: b"e" * MB),
    "token-1MB-structured": header_case(lambda e: forge(HS256, {**claims(e), "pad": "p" * MB})),
    "token-64KiB-plus-1": header_case(lambda e: b"e" * (64 * 1024 + 1)),
    "payload-json-array": header_case(lambda e: forge(HS256, [claims(e)])),
    "payload-json-string": header_case(lambda e: forge(HS256, json.dumps("full-app"))),
    "payload-json-number": header_case(lambda e: forge(HS256, "1")),
    "payload-not-json": header_case(lambda e: forge(HS256, "{iss: full-app}")),
    "payload-not-utf8": header_case(lambda e: forge(HS256, b'{"iss":"\xff"}')),
    "header-json-array": header_case(lambda e: forge([HS256], claims(e))),
    "header-not-json": header_case(lambda e: forge("HS256", claims(e))),
    "base64-garbage": header_case(lambda e: b"!!!.@@@.###"),
    "base64-not-url-safe": header_case(lambda e: token(e).replace(b"-", b"+").replace(b"_", b"/") + b"+/"),
    "one-segment": header_case(lambda e: b"abc"),
    "two-segments": header_case(lambda e: token(e).rpartition(b".")[0]),
    "four-segments": header_case(lambda e: token(e) + b".abc"),
    "empty-segments": header_case(lambda e: b".."),
    "many-segments": header_case(lambda e: b"." * 10_000),
    "lone-surrogate-in-iss": header_case(
        lambda e: forge(HS256, json.dumps(claims(e, iss="@")).replace('"@"', '"\\ud800"'))
    ),
    "unicode-escape-in-iss": header_case(lambda e: forge(HS256, json.dumps(claims(e, iss="full-app\u0000")))),
    # header parameters that must not be followed: the key is always the installation's sharedSecret
    "kid-path-traversal-accepted": header_case(
        lambda e: forge({**HS256, "kid": "../../../../dev/null"}, claims(e)), 202
    ),
    "jku-accepted-not-fetched": header_case(
        lambda e: forge({**HS256, "jku": "http://127.0.0.1:9/keys.json"}, claims(e)), 202
    ),
}


def _submit(emu: Emu, case: str, target: bytes, headers: list[tuple[bytes, bytes]], query: bytes) -> tuple[Any, bytes]:
    body = json.dumps({"deployments": [deployment_data(f"jwt-{case}", "env", 1)]}).encode()
    full = target + (b"?" + query if query else b"")
    return raw_request(emu.port, b"POST", full, headers, body), body


def _check(emu: Emu, case: str, family: str, response: Any, status: int, before: Any, provider: Provider) -> None:
    after = emu.snapshot()
    assert emu.failures() == []
    assert response is not None, "the server closed the connection without an answer"
    assert not response.server_level, response
    assert response.status == status, f"{case}: {response!r}"
    key = (("main", provider), DeploymentKey(f"jwt-{case}", "env", 1))
    if status >= 400:
        assert_refusal(response.status, response.header("x-emulator-reason"), response.body, family)
        assert before == after, describe_difference(before, after)
        assert key not in after[0]
    else:
        assert response.json()["acceptedDeployments"], response
        assert key in after[0], "accepted but not stored"


@pytest.mark.parametrize(("case", "spec"), CONNECT_CASES.items(), ids=CONNECT_CASES.keys())
def test_connect_jwt_attacks(seeded: Emu, case: str, spec: Case) -> None:
    headers, query = spec.build(seeded)
    before = seeded.snapshot()
    response, _ = _submit(seeded, case, BULK, headers, query)
    _check(seeded, case, "site", response, spec.status, before, Provider("connect", "full-app"))
    if spec.status == 403:
        assert response.json() == [{"message": FORBIDDEN.format(scope="WRITE")}]


def test_reasons_name_what_was_wrong(seeded: Emu) -> None:
    """The reason header is precise for the attacks an integrator most often commits by mistake."""
    expected = {
        "alg-none-unsigned": "alg",
        "HS512": "HS512",
        "iss-the-client-key": "not an app installed on this site",
        "qsh-context-qsh": "context-qsh",
        "exp-now-minus-31": "expired",
        "nbf-now-plus-31": "nbf",
        "signed-for-another-path": "qsh mismatch",
        "scheme-bearer": "Bearer",
        "query-jwt-only": "?jwt=",
        "token-1MB": "65536",
        "tampered-exp": "signature",
    }
    for case, word in expected.items():
        headers, query = CONNECT_CASES[case].build(seeded)
        response, _ = _submit(seeded, case, BULK, headers, query)
        assert response is not None and word in (response.header("x-emulator-reason") or ""), (case, response)


# -- the gateway: OAuth 2.0 bearer tokens --------------------------------------------------------------------

GATEWAY_BULK = f"{GATEWAY_BASE}/bulk".encode()


def access(
    emu: Emu, client: str = "ci-bot", *, secret: str | None = None, algorithm: str = "HS256", **over: Any
) -> bytes:
    """An access token as /oauth/token mints it, with claims overridden."""
    now = int(emu.now())
    found: dict[str, Any] = {
        "iss": "jira-deployments-emulator",
        "sub": client,
        "aud": "api.atlassian.com",
        "cid": MAIN_CLOUD,
        "iat": now,
        "exp": now + 600,
        "scope": "write:deployment-info:jira",
    }
    found.update(over)
    found = {k: v for k, v in found.items() if v is not DROP}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(found, secret or CLIENT_SECRETS[client], algorithm=algorithm).encode()


def unverified(value: bytes) -> dict[str, Any]:
    return dict(jwt.decode(value, options={"verify_signature": False}))


def bearer(make: Callable[[Emu], bytes], status: int = 401, scheme: bytes = b"Bearer ") -> Case:
    return Case(lambda e: ([(b"Authorization", scheme + make(e))], b""), status)


CI_BOT = CLIENT_SECRETS["ci-bot"].encode()
GATEWAY_CASES: dict[str, Case] = {
    "minted-by-hand-accepted": bearer(lambda e: access(e), 202),
    "from-the-token-endpoint-accepted": bearer(lambda e: e.bearer.encode(), 202),
    "scheme-lower-case-accepted": bearer(lambda e: access(e), 202, scheme=b"bearer "),
    "alg-none": bearer(lambda e: forge({"typ": "JWT", "alg": "none"}, unverified(access(e)), key=None)),
    "HS512": bearer(lambda e: access(e, algorithm="HS512")),
    "RS256-secret-as-public-key": bearer(
        lambda e: forge({"typ": "JWT", "alg": "RS256"}, unverified(access(e)), key=CI_BOT)
    ),
    "wrong-secret": bearer(lambda e: access(e, secret="not-the-secret-0123456789abcdef0123")),
    "expired": bearer(lambda e: access(e, exp=int(e.now()) - 1)),
    "expires-now": bearer(lambda e: access(e, exp=int(e.now()))),
    "wrong-audience": bearer(lambda e: access(e, aud="evil.example.com")),
    "wrong-issuer": bearer(lambda e: access(e, iss="someone-else")),
    "missing-cid": bearer(lambda e: access(e, cid=DROP)),
    "missing-exp": bearer(lambda e: access(e, exp=DROP)),
    "missing-sub": bearer(lambda e: access(e, sub=DROP)),
    "sub-number": bearer(lambda e: access(e, sub=1)),
    "tampered-cid": bearer(lambda e: swap_claims(access(e), cid=CTX_CLOUD)),
    "tampered-sub": bearer(lambda e: swap_claims(access(e), sub="no-perm")),
    "unknown-client": bearer(lambda e: access(e, sub="nobody", secret="x" * 40)),
    "client-without-permission": bearer(lambda e: access(e, "no-perm"), 403),
    "cid-of-a-site-the-client-is-not-on": bearer(lambda e: access(e, cid=CTX_CLOUD)),
    "token-of-this-site-at-another-sites-cloud-id": Case(
        lambda e: ([(b"Authorization", b"Bearer " + access(e))], b""),
        403,
        f"/jira/deployments/0.1/cloud/{CTX_CLOUD}/bulk".encode(),
    ),
    "connect-jwt-as-bearer": bearer(lambda e: token(e, GATEWAY_BULK)),
    "connect-scheme": bearer(lambda e: access(e), scheme=b"JWT "),
    "two-spaces": bearer(lambda e: access(e), scheme=b"Bearer  "),
    "no-scheme": bearer(lambda e: access(e), scheme=b""),
    "token-1MB": bearer(lambda e: b"e" * MB),
    "garbage": bearer(lambda e: b"!!!.@@@.###"),
    "payload-json-array": bearer(lambda e: forge(HS256, [1], key=CI_BOT)),
}


def swap_claims(value: bytes, **over: Any) -> bytes:
    head, payload, signature = value.split(b".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4)))
    return head + b"." + b64({**decoded, **over}) + b"." + signature


@pytest.mark.parametrize(("case", "spec"), GATEWAY_CASES.items(), ids=GATEWAY_CASES.keys())
def test_gateway_bearer_attacks(seeded: Emu, case: str, spec: Case) -> None:
    headers, query = spec.build(seeded)
    before = seeded.snapshot()
    response, _ = _submit(seeded, case, spec.target or GATEWAY_BULK, headers, query)
    _check(seeded, case, "gateway", response, spec.status, before, Provider("oauth", "ci-bot"))
