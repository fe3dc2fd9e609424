"""Connect JWT verification: auth.md's signed URL, atlassian-jwt tokens, every refusal, and hostile input."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from typing import Any
from urllib.parse import quote, urlsplit

import atlassian_jwt
import jwt
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from emulator.auth.connect import (
    AuthError,
    VerifiedToken,
    parse_jwt_authorization,
    verify_connect_request,
)
from emulator.auth.qsh import query_string_hash

APP_KEY = "my-app"
CLIENT_KEY = "3f1c2a9e-5b7d-4c1e-9a0f-2d6b8e4c7a15"
SECRET = "d0c6a4b2-9e8f-4a71-b3c5-6e2f1a0d9c87-8b4e2f6a1c3d5e7f9a0b1c2d3e4f"  # 64 bytes: PyJWT warns for less
NOW = 1_700_000_000
PATH = "/rest/deployments/0.1/bulk"

VECTOR_SECRET = "7512836e-9137-48ac-baaf-a1935b96e17a"
VECTOR_URL = (
    "https://example.com/test?param=value&jwt=eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJxc2giOiJiZTE2OTEwODU4Y"
    "TQxZmQxOWVhNWMxYjRlOWRlY2NhOWE3ODRkMTAyNGNiMDBiMjE1OGRlZmUyZjI5ZGM4NmRkIiwiY29udGV4dCI6e30sImlzcyI6Imp"
    "pcmE6MTIzNC01Njc4LTkwMDAiLCJleHAiOjE0NjY3MzEyNTUsImlhdCI6MTQ2NjczMTA3NX0.ssbmLUBemh6nQW3MH5o2fSdnOFTIKf"
    "2w0KASnnH8aXo"
)
VECTOR_TOKEN = VECTOR_URL.partition("&jwt=")[2]


def secret_for(app_key: str) -> str | None:
    return {APP_KEY: SECRET}.get(app_key)


def claims_for(method: str = "GET", path: str = PATH, query: str = "", **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": APP_KEY,
        "iat": NOW - 10,
        "exp": NOW + 170,
        "qsh": query_string_hash(method, path, query),
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not ...}


def sign(claims: dict[str, Any], secret: str = SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: Any, payload: Any, signature: bytes = b"", secret: str | None = None) -> str:
    """A token built without PyJWT, signed with HMAC-SHA256 when a secret is given."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    if secret is not None:
        signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def verify(
    authorization: str | None,
    method: str = "GET",
    path: str = PATH,
    query: str = "",
    now: float = NOW,
    lookup: Any = secret_for,
) -> VerifiedToken:
    return verify_connect_request(
        authorization, method=method, raw_path=path, raw_query=query, secret_for=lookup, now=now
    )


def refusal(authorization: str | None, **kwargs: Any) -> str:
    with pytest.raises(AuthError) as caught:
        verify(authorization, **kwargs)
    assert caught.value.status == 401
    return caught.value.reason


# --- accepted -------------------------------------------------------------------------------------------


def test_valid_token() -> None:
    result = verify(f"JWT {sign(claims_for())}")
    assert result.app_key == APP_KEY
    assert result.qsh_form == "raw"
    assert result.claims["iss"] == APP_KEY


@pytest.mark.parametrize("aud", [APP_KEY, CLIENT_KEY, ["x", "y"], "anything"])
def test_any_aud_is_accepted(aud: Any) -> None:
    assert verify(f"JWT {sign(claims_for(aud=aud))}").app_key == APP_KEY


def test_optional_claims_are_not_checked() -> None:
    token = sign(claims_for(sub=42, context={"user": {}}, jti=7))
    assert verify(f"JWT {token}").claims["sub"] == 42


def test_scheme_is_case_insensitive() -> None:
    assert verify(f"jwt {sign(claims_for())}").app_key == APP_KEY


def test_query_is_part_of_the_hash() -> None:
    query = "b=2&a=1&a=0"
    assert verify(f"JWT {sign(claims_for(query=query))}", query=query).qsh_form == "raw"


def test_jwt_parameter_is_left_out_of_the_hash() -> None:
    token = sign(claims_for(query="a=1"))
    assert verify(f"JWT {token}", query=f"a=1&jwt={token}").qsh_form == "raw"


def test_qsh_over_decoded_path_is_accepted() -> None:
    raw_path = "/rest/deployments/0.1/pipelines/a%2Fb/environments/prod%20env/deployments/1"
    decoded_path = "/rest/deployments/0.1/pipelines/a/b/environments/prod env/deployments/1"
    token = sign(claims_for(path=decoded_path))
    assert verify(f"JWT {token}", path=raw_path).qsh_form == "decoded"


def test_short_secret_verifies_without_a_warning_escaping() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        token = sign(claims_for(), secret="short")
    assert verify(f"JWT {token}", lookup={APP_KEY: "short"}.get).app_key == APP_KEY


@pytest.mark.parametrize(("exp", "nbf", "iat"), [(NOW - 30, None, NOW - 100), (NOW, NOW + 30, NOW + 30)])
def test_times_just_inside_leeway(exp: int, nbf: int | None, iat: int) -> None:
    overrides: dict[str, Any] = {"exp": exp, "iat": iat}
    if nbf is not None:
        overrides["nbf"] = nbf
    assert verify(f"JWT {sign(claims_for(**overrides))}").app_key == APP_KEY


def test_float_times_are_accepted() -> None:
    token = sign(claims_for(iat=NOW - 0.5, exp=NOW + 60.25))
    assert verify(f"JWT {token}", now=NOW + 0.1).app_key == APP_KEY


# --- auth.md's signed URL -------------------------------------------------------------------------------


def test_signed_url_vector_signature() -> None:
    claims = jwt.decode(
        VECTOR_TOKEN, VECTOR_SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims["iss"] == "jira:1234-5678-9000"
    assert (claims["iat"], claims["exp"]) == (1466731075, 1466731255)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(VECTOR_TOKEN, VECTOR_SECRET + "x", algorithms=["HS256"], options={"verify_exp": False})


def test_signed_url_vector_verifies_from_the_header() -> None:
    url = urlsplit(VECTOR_URL)
    result = verify(
        f"JWT {VECTOR_TOKEN}",
        path=url.path,
        query=url.query,
        now=1466731100,
        lookup={"jira:1234-5678-9000": VECTOR_SECRET}.get,
    )
    assert result.qsh_form == "raw"
    assert result.claims["qsh"] == "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd"


def test_signed_url_vector_expired_later() -> None:
    url = urlsplit(VECTOR_URL)
    reason = refusal(
        f"JWT {VECTOR_TOKEN}",
        path=url.path,
        query=url.query,
        now=1466731286,
        lookup={"jira:1234-5678-9000": VECTOR_SECRET}.get,
    )
    assert reason == "token expired at 1466731255, now 1466731286 (leeway 30 s)"


# --- tokens made by PyPI's atlassian-jwt ----------------------------------------------------------------

# (method, url as atlassian-jwt signs it, raw path as it arrives, raw query as it arrives, qsh form)
ATLASSIAN_JWT_CASES = [
    ("POST", PATH, PATH, "", "raw"),
    ("GET", "/rest/x?q=a b", "/rest/x", "q=a%20b", "raw"),
    ("GET", "/rest/x?q=a+b", "/rest/x", "q=a+b", "raw"),
    ("GET", "/rest/x?q=a%2Bb", "/rest/x", "q=a%2Bb", "raw"),
    ("GET", "/rest/x?q=*&r=~", "/rest/x", "q=*&r=~", "raw"),
    ("GET", "/rest/x?q=%2A&r=%7E", "/rest/x", "q=*&r=~", "raw"),
    ("GET", "/rest/x?who=宮崎 駿", "/rest/x", "who=%E5%AE%AE%E5%B4%8E%20%E9%A7%BF", "raw"),
    ("GET", "/rest/x?who=%E5%AE%AE", "/rest/x", "who=%E5%AE%AE", "raw"),
    ("GET", "/rest/x?id=3&id=1&id=2&b=&a", "/rest/x", "id=3&id=1&id=2&b=&a", "raw"),
    ("DELETE", "/rest/x/a%2Fb", "/rest/x/a%2Fb", "", "raw"),
    ("GET", "/rest/x/a%20b/", "/rest/x/a%20b/", "", "raw"),
    ("GET", "/rest/x/a b?c=d", "/rest/x/a%20b", "c=d", "decoded"),
    ("GET", "/rest/x/宮?c=d", "/rest/x/%E5%AE%AE", "c=d", "decoded"),
]


@pytest.mark.parametrize(("method", "url", "raw_path", "raw_query", "form"), ATLASSIAN_JWT_CASES)
def test_atlassian_jwt_tokens_verify(method: str, url: str, raw_path: str, raw_query: str, form: str) -> None:
    # atlassian-jwt names the key clientKey and puts it in both iss and aud; a Connect app passes its app key.
    token = atlassian_jwt.encode_token(method, url, APP_KEY, SECRET)
    iat = jwt.decode(token, options={"verify_signature": False})["iat"]
    result = verify(f"JWT {token}", method=method, path=raw_path, query=raw_query, now=iat + 1)
    assert (result.app_key, result.qsh_form) == (APP_KEY, form)
    assert result.claims["aud"] == APP_KEY


def test_atlassian_jwt_token_for_another_request_is_refused() -> None:
    token = atlassian_jwt.encode_token("GET", "/rest/x?a=1", APP_KEY, SECRET)
    iat = jwt.decode(token, options={"verify_signature": False})["iat"]
    reason = refusal(f"JWT {token}", path="/rest/x", query="a=2", now=iat)
    assert "'GET&/rest/x&a=2'" in reason


# --- refusals --------------------------------------------------------------------------------------------


def test_no_header() -> None:
    assert "no Authorization header" in refusal(None)


def test_empty_header() -> None:
    assert "no Authorization header" in refusal("")


def test_bearer_scheme() -> None:
    reason = refusal(f"Bearer {sign(claims_for())}")
    assert "Bearer" in reason and "JWT scheme" in reason


def test_other_scheme() -> None:
    assert "unsupported Authorization scheme 'Basic'" in refusal("Basic dXNlcjpwYXNz")


def test_jwt_query_parameter_alone_is_not_a_token() -> None:
    token = sign(claims_for(query=""))
    reason = refusal(None, query=f"jwt={token}")
    assert "?jwt=" in reason and "2022" in reason


def test_alg_none() -> None:
    token = hand_made({"alg": "none", "typ": "JWT"}, claims_for())
    assert "unsupported alg 'none'" in refusal(f"JWT {token}")


def test_no_alg() -> None:
    token = hand_made({"typ": "JWT"}, claims_for(), secret=SECRET)
    assert "no alg" in refusal(f"JWT {token}")


def test_hs512() -> None:
    assert "unsupported alg 'HS512'" in refusal(f"JWT {sign(claims_for(), algorithm='HS512')}")


def test_rs256_header() -> None:
    token = hand_made({"alg": "RS256", "typ": "JWT"}, claims_for(), signature=b"\x01" * 256)
    assert "unsupported alg 'RS256'" in refusal(f"JWT {token}")


@pytest.mark.parametrize("alg", ["hs256", "HS256 ", None, 256, ["HS256"]])
def test_alg_must_be_exactly_hs256(alg: Any) -> None:
    token = hand_made({"alg": alg}, claims_for(), secret=SECRET)
    assert "unsupported alg" in refusal(f"JWT {token}")


def test_wrong_secret() -> None:
    reason = refusal(f"JWT {sign(claims_for(), secret=SECRET[::-1])}")
    assert "bad signature" in reason and f"'{APP_KEY}'" in reason


def test_tampered_payload() -> None:
    header, _, signature = sign(claims_for()).split(".")
    payload = b64(json.dumps(claims_for(exp=NOW + 10**6)).encode())
    assert "bad signature" in refusal(f"JWT {header}.{payload}.{signature}")


def test_unknown_iss() -> None:
    reason = refusal(f"JWT {sign(claims_for(iss='other-app'))}")
    assert reason == "iss 'other-app' is not an app installed on this site"


@pytest.mark.parametrize("client_key", [CLIENT_KEY, "jira:1234-5678-9000"])
def test_iss_is_the_client_key(client_key: str) -> None:
    reason = refusal(f"JWT {sign(claims_for(iss=client_key))}")
    assert "is not an app installed on this site" in reason and "clientKey" in reason


@pytest.mark.parametrize("iss", [..., None])
def test_missing_iss(iss: Any) -> None:
    token = hand_made({"alg": "HS256"}, claims_for(iss=iss), secret=SECRET)
    assert "no iss claim" in refusal(f"JWT {token}")


@pytest.mark.parametrize("iss", ["", 42, ["my-app"], {"key": "my-app"}, True])
def test_iss_not_a_string(iss: Any) -> None:
    # PyJWT refuses to encode a non-string iss, so these are signed by hand.
    token = hand_made({"alg": "HS256"}, claims_for(iss=iss), secret=SECRET)
    assert "iss must be a non-empty string" in refusal(f"JWT {token}")


@pytest.mark.parametrize("claim", ["iat", "exp", "qsh"])
@pytest.mark.parametrize("absent", [..., None], ids=["absent", "null"])
def test_missing_required_claim(claim: str, absent: Any) -> None:
    reason = refusal(f"JWT {sign(claims_for(**{claim: absent}))}")
    assert f'"{claim}"' in reason and "must carry iss, iat, exp and qsh" in reason


def test_expired_just_past_leeway() -> None:
    reason = refusal(f"JWT {sign(claims_for(iat=NOW - 200, exp=NOW - 31))}")
    assert reason == f"token expired at {NOW - 31}, now {NOW} (leeway 30 s)"


def test_nbf_just_past_leeway() -> None:
    reason = refusal(f"JWT {sign(claims_for(nbf=NOW + 31))}")
    assert reason == f"token not valid before {NOW + 31} (nbf), now {NOW} (leeway 30 s)"


def test_issued_in_the_future() -> None:
    reason = refusal(f"JWT {sign(claims_for(iat=NOW + 31, exp=NOW + 200))}")
    assert reason == f"token issued in the future: iat {NOW + 31}, now {NOW} (leeway 30 s)"


def test_leeway_is_a_parameter() -> None:
    token = sign(claims_for(exp=NOW - 5))
    with pytest.raises(AuthError, match="leeway 0 s"):
        verify_connect_request(
            f"JWT {token}",
            method="GET",
            raw_path=PATH,
            raw_query="",
            secret_for=secret_for,
            now=NOW,
            leeway=0,
        )


NOT_NUMBERS = ["1700000000", True, False, [1], {"t": 1}]


@pytest.mark.parametrize(
    ("claim", "value"),
    [(claim, value) for claim in ("iat", "exp", "nbf") for value in NOT_NUMBERS] + [("nbf", None)],
    ids=repr,
)
def test_time_claims_must_be_numbers(claim: str, value: Any) -> None:
    reason = refusal(f"JWT {sign(claims_for(**{claim: value}))}")
    assert f"claim {claim} must be a number" in reason


@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN"])
def test_time_claims_must_be_finite(claim: str, value: str) -> None:
    # JSON has no such numbers, but Python's json module reads them, so a hostile client can send them.
    payload = json.dumps(claims_for()).rstrip("}") + f', "{claim}": {value}}}'
    token = hand_made({"alg": "HS256"}, {}, secret=SECRET).split(".")
    signing_input = f"{token[0]}.{b64(payload.encode())}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert "must be a finite number" in refusal(f"JWT {signing_input}.{b64(signature)}")


def test_context_qsh() -> None:
    reason = refusal(f"JWT {sign(claims_for(qsh='context-qsh'))}")
    assert "context tokens are not accepted for calls into Jira" in reason


@pytest.mark.parametrize("qsh", [42, ["x"], {"qsh": "x"}, True])
def test_qsh_not_a_string(qsh: Any) -> None:
    assert "qsh must be a string" in refusal(f"JWT {sign(claims_for(qsh=qsh))}")


def test_wrong_qsh_names_the_expected_canonical_request() -> None:
    token = sign(claims_for(method="GET", path="/rest/x", query="a=1"))
    reason = refusal(f"JWT {token}", method="DELETE", path="/rest/x/", query="b=2&a=1&jwt=zzz")
    expected = query_string_hash("DELETE", "/rest/x", "a=1&b=2")
    assert reason.startswith("qsh mismatch: expected the hash of canonical request")
    assert f"'DELETE&/rest/x&a=1&b=2' ({expected})" in reason


def test_qsh_in_upper_case_hex_is_wrong() -> None:
    token = sign(claims_for(qsh=query_string_hash("GET", PATH, "").upper()))
    assert "qsh mismatch" in refusal(f"JWT {token}")


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("JWT", "no token"),
        ("JWT ", "no token"),
        ("JWT  abc.def.ghi", "exactly one space"),
        ("JWT\tabc.def.ghi", "exactly one space"),
        ("JWT abc.def ghi", "whitespace"),
        ("JWT abc.def\nghi", "whitespace"),
        ("JWTabc.def.ghi", "unsupported Authorization scheme"),
        ("Bearer", "Bearer"),
    ],
)
def test_malformed_header(header: str, reason: str) -> None:
    assert reason in refusal(header)


def test_parse_jwt_authorization() -> None:
    assert parse_jwt_authorization("JWT a.b.c") == "a.b.c"
    assert parse_jwt_authorization("jWt a.b.c") == "a.b.c"
    with pytest.raises(AuthError) as caught:
        parse_jwt_authorization(None)
    assert caught.value.status == 401


def test_huge_token() -> None:
    reason = refusal("JWT " + "a" * 1_000_000)
    assert "1000000 characters" in reason


def test_huge_well_formed_token() -> None:
    reason = refusal(f"JWT {sign(claims_for(padding='x' * 1_000_000))}")
    assert "characters long" in reason


def _deep(depth: int) -> str:
    return b64(("[" * depth + "]" * depth).encode())


HS256_HEADER = b64(b'{"alg":"HS256"}')
EMPTY = b64(b"{}")


GARBAGE = {
    "one-segment": "abc",
    "two-segments": "abc.def",
    "four-segments": "a.b.c.d",
    "dots": "...",
    "bad-base64": "!!!.###.$$$",
    "not-json": f"{b64(b'hello')}.{b64(b'world')}.x",
    "header-array": f"{b64(b'[1,2]')}.{b64(b'{}')}.x",
    "header-null": f"{b64(b'null')}.{b64(b'{}')}.x",
    "header-string": f"{b64(json.dumps('HS256').encode())}.{b64(b'{}')}.x",
    "payload-array": hand_made({"alg": "HS256"}, [1, 2, 3], secret=SECRET),
    "payload-string": hand_made({"alg": "HS256"}, "claims", secret=SECRET),
    "payload-not-utf8": ".".join([HS256_HEADER, b64(b"\xff\xfe"), "x"]),
    "deep-header": ".".join([_deep(100_000), EMPTY, "x"]),
    "deep-payload": ".".join([HS256_HEADER, _deep(100_000), "x"]),
    "huge-int-header": ".".join([b64(b'{"alg":' + b"9" * 5000 + b"}"), EMPTY, "x"]),
    "huge-int-payload": ".".join([HS256_HEADER, b64(b'{"iss":"my-app","exp":' + b"9" * 5000 + b"}"), "x"]),
    "unicode": "☃.☃.☃",
    "lone-surrogate": "\ud800.\udcff.x",
    "nul": "a\x00.b.c",
    "kid-not-string": hand_made({"alg": "HS256", "kid": 5}, claims_for(), secret=SECRET),
    "crit": hand_made({"alg": "HS256", "crit": ["exp"]}, claims_for(), secret=SECRET),
    "b64-false": hand_made({"alg": "HS256", "b64": False}, claims_for(), secret=SECRET),
}


@pytest.mark.parametrize("token", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_tokens(token: str) -> None:
    reason = refusal(f"JWT {token}")
    assert reason.isascii() and reason.isprintable()


def test_reasons_are_header_safe() -> None:
    token = sign(claims_for(iss="évil\r\nSet-Cookie: x"))
    reason = refusal(f"JWT {token}")
    assert reason.isascii() and reason.isprintable()


def test_huge_int_time_claim() -> None:
    reason = refusal(f"JWT {sign(claims_for(exp=-(10**4000)))}")
    assert "token expired at" in reason and len(reason) < 300


# --- properties ------------------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec=None, categories=None))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
CLAIM_VALUES = st.one_of(JSON, st.integers(NOW - 100, NOW + 100), st.just(APP_KEY), st.just("context-qsh"))
CLAIMS = st.dictionaries(
    st.sampled_from(["iss", "iat", "exp", "nbf", "qsh", "aud", "sub", "jti", "context"]), CLAIM_VALUES
)


@given(st.one_of(ANY_TEXT, ANY_TEXT.map(lambda text: f"JWT {text}")), ANY_TEXT, ANY_TEXT)
@example("JWT \ud800", "/", "")
@example("JWT a.b.c", "/\udcff", "jwt=\ud800")
def test_any_header_only_raises_auth_error(header: str, path: str, query: str) -> None:
    try:
        verify(header, path=path, query=query)
    except AuthError as error:
        assert error.status == 401
        assert error.reason.isascii() and error.reason.isprintable()


@given(st.one_of(ANY_TEXT, ANY_TEXT.map(lambda text: f"JWT {text}")))
@example("JWT a.b.c")
@example("JWT a.b\u2028c")
@example("JWT a.b\x1cc")
@example("JWT  a.b.c")
@example("JWT ")
def test_the_usual_header_is_read_as_any_other(header: str) -> None:
    """A header with whitespace around it is read by the general rules (which strip it): same answer."""

    def answer(value: str) -> str:
        try:
            return parse_jwt_authorization(value)
        except AuthError as error:
            return error.reason

    assert answer(header) == answer(f"\t{header}\t")


@given(st.one_of(JSON, st.just({"alg": "HS256"})), st.one_of(JSON, CLAIMS), ANY_TEXT)
def test_any_signed_json_only_raises_auth_error(header: Any, payload: Any, path: str) -> None:
    token = hand_made(header, payload, secret=SECRET)
    try:
        result = verify(f"JWT {token}", path=path)
    except AuthError as error:
        assert error.status == 401
        assert error.reason.isascii() and error.reason.isprintable()
    else:
        assert result.app_key == APP_KEY


@given(st.text(max_size=30), st.text(max_size=30), st.sampled_from(["GET", "POST", "DELETE"]))
def test_any_request_signed_correctly_verifies(path: str, query: str, method: str) -> None:
    path = "/" + quote(path)
    token = sign(claims_for(method=method, path=path, query=query))
    assert verify(f"JWT {token}", method=method, path=path, query=query).qsh_form == "raw"


def test_the_request_cache_skips_only_the_signature_check() -> None:
    """A request verified before still has its lifetime checked, its token is refused on another request,
    and a changed secret means no hit."""
    from emulator.auth.connect import TokenCache

    cache = TokenCache(size=2)
    secrets = {"app": "s" * 40}
    now = 1_750_000_000
    tok = jwt.encode(
        {"iss": "app", "iat": now, "exp": now + 60, "qsh": query_string_hash("GET", "/a", "")}, secrets["app"], "HS256"
    )

    def verify(path: str = "/a", at: float = now) -> VerifiedToken:
        return verify_connect_request(
            f"JWT {tok}", method="GET", raw_path=path, raw_query="", secret_for=secrets.get, now=at, cache=cache
        )

    assert verify().app_key == "app"
    assert cache.kept_header("GET", "/a", "") == f"JWT {tok}"  # kept from its first verification
    assert verify().app_key == "app"  # a hit
    with pytest.raises(AuthError, match="qsh mismatch"):
        verify("/b")
    with pytest.raises(AuthError, match="expired"):
        verify(at=now + 91)
    secrets["app"] = "t" * 40  # the app was re-installed with a new secret
    with pytest.raises(AuthError, match="signature"):
        verify()
