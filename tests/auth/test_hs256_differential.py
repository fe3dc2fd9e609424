"""The HS256 fast path against PyJWT alone: the same verdict for every token (issue 20).

``emulator.auth.hs256`` verifies the usual Connect token without PyJWT, which stays the verifier of record:
the fast path may only say "valid" where PyJWT does, with the same claims, and leaves every other token to
PyJWT. Each token here is verified twice, as the emulator does (the fast path first) and with
``pyjwt_only=True``, and the two verdicts must be equal: accepted with the same app, qsh form and claims,
or refused with the same status and reason. The tokens are the JWT attack suite (tests/robustness/
test_jwt_attacks.py, tests/auth/test_connect.py) and hypothesis-made ones (tests/auth/token_strategies.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import warnings
from typing import Any

import jwt
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from emulator.auth import hs256
from emulator.auth.connect import TokenCache, verify_connect_request
from emulator.auth.connect_token import DECODE_OPTIONS
from emulator.auth.qsh import query_string_hash
from emulator.auth.refusals import AuthError
from tests.auth import test_connect
from tests.auth.token_strategies import APP, METHOD, NOW, PATH, QSH, SECRETS, tokens
from tests.helpers import SECRETS as SITE_SECRETS
from tests.robustness.test_jwt_attacks import CONNECT_CASES

ALL_SECRETS = {**SITE_SECRETS, **SECRETS, test_connect.APP_KEY: test_connect.SECRET}
Verdict = tuple[Any, ...]


def verdict(
    authorization: str | None,
    *,
    pyjwt_only: bool,
    method: str = METHOD,
    query: str = "",
    now: float = NOW,
    cache: TokenCache | None = None,
    path: str = PATH,
) -> Verdict:
    """("verified", app, qsh form, claims) or ("refused", status, reason): all a caller learns."""
    try:
        verified = verify_connect_request(
            authorization,
            method=method,
            raw_path=path,
            raw_query=query,
            secret_for=ALL_SECRETS.get,
            now=now,
            cache=cache,
            pyjwt_only=pyjwt_only,
        )
    except AuthError as refusal:
        return ("refused", refusal.status, refusal.reason)
    # repr: NaN claims are equal only in writing
    return ("verified", verified.app_key, verified.qsh_form, repr(verified.claims))


def same_verdict(authorization: str | None, **kwargs: Any) -> Verdict:
    fast = verdict(authorization, pyjwt_only=False, **kwargs)
    assert fast == verdict(authorization, pyjwt_only=True, **kwargs)
    return fast


def pyjwt_claims(token: str, secret: str) -> dict[str, Any]:
    """What PyJWT, the verifier of record, returns for ``token`` with the emulator's options."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.decode(token, secret, algorithms=["HS256"], options=DECODE_OPTIONS)


def fast_claims(token: str, secret: str) -> dict[str, Any] | None:
    found = hs256.verified(token, lambda issuer: secret)
    return None if found is None else found[2]


# --- the attack suite -----------------------------------------------------------------------------------


class Clock:
    """All the attack suite's token builders ask of a running emulator: the time."""

    def now(self) -> float:
        return float(NOW)


@pytest.mark.parametrize("case", CONNECT_CASES, ids=str)
def test_the_jwt_attack_suite_gets_the_same_verdict(case: str) -> None:
    spec = CONNECT_CASES[case]
    headers, query = spec.build(Clock())
    authorization = next((value.decode("latin-1") for name, value in headers if name.lower() == b"authorization"), None)
    found = same_verdict(authorization, query=query.decode("utf-8", "replace"))
    assert (found[0] == "verified") == (spec.status != 401), found  # 403: verified, then refused for its scope


@pytest.mark.parametrize("token", test_connect.GARBAGE.values(), ids=test_connect.GARBAGE.keys())
def test_garbage_tokens_get_the_same_verdict(token: str) -> None:
    assert same_verdict(f"JWT {token}", method="GET", now=test_connect.NOW)[0] == "refused"


@pytest.mark.parametrize("value", [*test_connect.NOT_NUMBERS, None, 1.5, float("nan"), float("inf"), 10**40])
@pytest.mark.parametrize("claim", ["iat", "exp", "nbf"])
def test_time_claims_of_any_type_get_the_same_verdict(claim: str, value: Any) -> None:
    token = signed(json.dumps({"iss": APP, "iat": NOW, "exp": NOW + 60, "qsh": QSH, claim: value}))
    same_verdict(f"JWT {token}")


# --- tokens the fast path takes itself --------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(payload: str | bytes, header: str = '{"alg":"HS256","typ":"JWT"}', secret: str = SECRETS[APP]) -> str:
    """A token of exactly this header and payload (text in UTF-8, or bytes), signed with HMAC-SHA256."""
    data = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
    signing_input = f"{b64(header.encode())}.{b64(data)}"
    return f"{signing_input}.{b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())}"


USUAL = json.dumps({"iss": APP, "iat": NOW - 10, "exp": NOW + 60, "qsh": QSH})
ODD_BUT_VALID = {
    "usual": signed(USUAL),
    "header-alg-only": signed(USUAL, '{"alg":"HS256"}'),
    "header-typ-a-number": signed(USUAL, '{"alg":"HS256","typ":7}'),
    "header-kid": signed(USUAL, '{"kid":"../../dev/null","alg":"HS256"}'),
    "header-duplicate-alg": signed(USUAL, '{"alg":"none","alg":"HS256"}'),
    "header-escaped": signed(USUAL, '{"\\u0061lg":"HS\\u0032\\u0035\\u0036"}'),
    "duplicate-iss": signed('{"iss":"someone-else",' + USUAL[1:]),
    "float-times": signed(json.dumps({"iss": APP, "iat": NOW - 0.5, "exp": NOW + 60.25, "qsh": QSH})),
    "nan-iat": signed(USUAL.replace(f'"iat": {NOW - 10}', '"iat": NaN')),
    "infinite-exp": signed(USUAL.replace(f'"exp": {NOW + 60}', '"exp": Infinity')),
    "huge-exp": signed(USUAL.replace(f'"exp": {NOW + 60}', '"exp": ' + "9" * 4000)),
    "bool-times": signed(json.dumps({"iss": APP, "iat": True, "exp": False, "qsh": QSH})),
    "unicode-claims": signed(json.dumps({"iss": APP, "iat": NOW, "exp": NOW + 1, "qsh": QSH, "n": "宮崎 \ud800"})),
    "short-secret": signed(json.dumps({"iss": "short-app", "iat": NOW, "exp": NOW + 1, "qsh": QSH}), secret="short"),
    "unicode-secret": signed(
        json.dumps({"iss": "unicode-app", "iat": NOW, "exp": NOW + 1, "qsh": QSH}), secret=SECRETS["unicode-app"]
    ),
    "block-long-secret": signed(
        json.dumps({"iss": "block-app", "iat": NOW, "exp": NOW + 1, "qsh": QSH}), secret=SECRETS["block-app"]
    ),
    "longer-than-a-block-secret": signed(
        json.dumps({"iss": "wide-app", "iat": NOW, "exp": NOW + 1, "qsh": QSH}), secret=SECRETS["wide-app"]
    ),
}


@pytest.mark.parametrize("token", ODD_BUT_VALID.values(), ids=ODD_BUT_VALID.keys())
def test_the_fast_path_takes_the_usual_and_odd_but_valid_tokens_as_pyjwt_does(token: str) -> None:
    secret = _secret_of(token)
    fast = fast_claims(token, secret)
    assert fast is not None, "left to PyJWT"
    assert repr(fast) == repr(pyjwt_claims(token, secret))
    same_verdict(f"JWT {token}")


# Valid for PyJWT, but not the usual: the emulator accepts them all the same (PyJWT verifies them).
VALID_BUT_UNUSUAL = {
    "long-secret": signed(
        json.dumps({"iss": "long-app", "iat": NOW, "exp": NOW + 1, "qsh": QSH}), secret=SECRETS["long-app"]
    ),
    "padded-segments": ".".join(part + "=" * (-len(part) % 4) for part in signed(USUAL).split(".")),
    "header-jku": signed(USUAL, '{"alg":"HS256","jku":"http://127.0.0.1:9/keys"}'),
    "whitespace-around-json": signed(f" {USUAL}\n", ' {"alg":"HS256"} '),
    "utf-16-payload": signed(USUAL.encode("utf-16")),
}


@pytest.mark.parametrize("token", VALID_BUT_UNUSUAL.values(), ids=VALID_BUT_UNUSUAL.keys())
def test_valid_but_unusual_tokens_are_accepted_as_pyjwt_accepts_them(token: str) -> None:
    assert same_verdict(f"JWT {token}")[0] == "verified"


def _secret_of(token: str) -> str:
    iss = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["iss"]
    return ALL_SECRETS[iss]


# --- hypothesis ---------------------------------------------------------------------------------------------


@given(tokens(), st.sampled_from([APP] * 5 + sorted(SECRETS)))
@settings(max_examples=1000)
def test_the_fast_path_accepts_only_what_pyjwt_accepts_with_the_same_claims(token: str, app: str) -> None:
    fast = fast_claims(token, SECRETS[app])
    event("fast path" if fast is not None else "left to PyJWT")
    if fast is not None:
        assert repr(fast) == repr(pyjwt_claims(token, SECRETS[app]))  # raises if PyJWT refuses it


@given(tokens())
@settings(max_examples=1000)
def test_any_token_gets_the_same_verdict(token: str) -> None:
    event(same_verdict(f"JWT {token}")[0])


@given(tokens())
@settings(max_examples=200)
def test_any_token_gets_the_same_verdicts_through_the_token_cache(token: str) -> None:
    fast, pyjwt = TokenCache(), TokenCache()
    for now in (NOW, NOW + 120, NOW):  # verified, expired by then, and a hit again
        assert verdict(f"JWT {token}", pyjwt_only=False, now=now, cache=fast) == verdict(
            f"JWT {token}", pyjwt_only=True, now=now, cache=pyjwt
        )


# --- a segment's JSON, as json.loads reads it -----------------------------------------------------------------

_JSON_TEXT = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None), max_size=8),  # surrogates and control characters too
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
).map(lambda value: json.dumps(value, ensure_ascii=False, allow_nan=True))
_ODD_SPELLINGS = st.sampled_from(
    ['{"a":1,"a":2}', '{"a":1e400}', '{"a":-0.0}', '{"a":01}', '{"a":1.}', '{"a":"\x01"}', ' {"a":1}\n',
     '{"a":1} x', "\ufeff{}", '{"a":' + "9" * 4400 + "}", '{"a":1' + "0" * 30 + "}", "[" * 2000 + "]" * 2000]
)  # fmt: skip


@given(_JSON_TEXT | _ODD_SPELLINGS, st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]))
@settings(max_examples=500)
def test_a_segment_reads_as_json_loads_reads_it_or_not_at_all(text: str, encoding: str) -> None:
    data = text.encode(encoding, "surrogatepass")
    segment = base64.urlsafe_b64encode(data).rstrip(b"=")
    read = hs256._json_object(segment)
    event("read" if read is not None else "left to PyJWT")
    if read is not None:
        assert repr(read) == repr(json.loads(data))


# --- the usual request, checked in one pass ---------------------------------------------------------------

_RAW_PATH, _DECODED_PATH = "/rest/deployments/0.1/bulk%7Eold", "/rest/deployments/0.1/bulk~old"
_EDGES = [NOW - 31, NOW - 30, NOW, NOW + 30, NOW + 31]  # the leeway is 30 s either side of NOW
_ODD_TIMES = [NOW + 0.5, float(NOW), True]
_QSHS = [query_string_hash(METHOD, _RAW_PATH, ""), query_string_hash(METHOD, _DECODED_PATH, ""), "context-qsh", QSH, 7]


def test_the_usual_request_gets_the_verdict_of_the_rules_one_by_one() -> None:
    """Every combination of times at the edges of the window and of odd types, with and without nbf, and
    of a qsh of the request as sent, as decoded, of another request or not a string: the one-pass check of
    the usual request answers exactly as the rules do one by one (``pyjwt_only``), without the cache, with
    it, and for a repeat served from it (kept from its first verification)."""
    answers: dict[str, int] = {}
    for iat, exp, nbf, qsh in itertools.product(_EDGES + _ODD_TIMES, _EDGES, [None, *_EDGES, *_ODD_TIMES], _QSHS):
        claims = {"iss": APP, "iat": iat, "exp": exp, "qsh": qsh} | ({} if nbf is None else {"nbf": nbf})
        authorization = "JWT " + signed(json.dumps(claims))
        fast, pyjwt = TokenCache(), TokenCache()
        for caches in [(None, None), (fast, pyjwt), (fast, pyjwt), (fast, pyjwt)]:
            one_pass, one_by_one = (
                verdict(authorization, pyjwt_only=only, cache=cache, path=_RAW_PATH)
                for only, cache in zip((False, True), caches, strict=True)
            )
            assert one_pass == one_by_one, claims
        answers[one_pass[0]] = answers.get(one_pass[0], 0) + 1
    assert answers["verified"] > 50, answers
