"""Query string hash: auth.md's vectors, edge cases, robustness, and agreement with PyPI's atlassian-jwt."""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlencode

import pytest
from atlassian_jwt.url_utils import canonicalize_request, hash_url
from hypothesis import example, given
from hypothesis import strategies as st

from emulator.auth.qsh import canonical_query, canonical_request, canonical_uri, query_string_hash

# (id, method, path, raw query, canonical request, qsh) -- every row of auth.md section 2.
VECTORS = [
    (
        "simple",
        "GET",
        "/test",
        "param=value",
        "GET&/test&param=value",
        "be16910858a41fd19ea5c1b4e9decca9a784d1024cb00b2158defe2f29dc86dd",
    ),
    (
        "plus-spaces",
        "GET",
        "/test",
        "param=some+spaces+in+this+parameter",
        "GET&/test&param=some%20spaces%20in%20this%20parameter",
        "ef4097d05395eaf1a133956f140116a9c411afad768d4f06daac9e305764265d",
    ),
    (
        "star",
        "GET",
        "/test",
        "query=connect*",
        "GET&/test&query=connect%2A",
        "0d28bc10d1972d9cab59e123ce17976eb32aad6957a13cfb8b97ced6d3fc8a29",
    ),
    (
        "unicode",
        "GET",
        "/test",
        "director=%E5%AE%AE%E5%B4%8E+%E9%A7%BF",
        "GET&/test&director=%E5%AE%AE%E5%B4%8E%20%E9%A7%BF",
        "44d6354ffe8f963972a7fc59e98b2c3dfe4b493295c5b89edd974a339e61ac89",
    ),
    (
        "tuples",
        "GET",
        "/test",
        "tuples=1%2C2%2C3&tuples=6%2C5%2C4&tuples=7%2C9%2C8",
        "GET&/test&tuples=1%2C2%2C3,6%2C5%2C4,7%2C9%2C8",
        "f9f62bb61191dff1b219e9ade8ac38fcfa46272ea76d9545410db6559fd8e7bd",
    ),
    (
        "encoded-plus",
        "GET",
        "/test",
        "title=1+%2B+1+equals+3",
        "GET&/test&title=1%20%2B%201%20equals%203",
        "ce0a866ce0c34cbde70deb63f6915192f58500d2b49b12e1ffc8cdf91edabc91",
    ),
    (
        "tilde",
        "GET",
        "/test",
        "eta=in+%7E3+days",
        "GET&/test&eta=in%20~3%20days",
        "5c5f97cdfe3abd8feb48f6f0240a71ef5c111289a5bf77ddf645250b3951ec63",
    ),
    (
        "blank-value",
        "GET",
        "/test",
        "notmuch=",
        "GET&/test&notmuch=",
        "20fecded9951516a3447b1b556d0eb350de29770505253a30dc739502e05ddc7",
    ),
    (
        "values-sorted",
        "GET",
        "/test",
        "ids=.1&ids=.2&ids=%3A1&ids=%3A2",
        "GET&/test&ids=.1,.2,%3A1,%3A2",
        "f0524d42e0f8661862e1f1e9add8757972a0043bb7136d641735d21874c5a056",
    ),
    (
        "odd-values",
        "GET",
        "/test",
        "c=&c=+&c=%2520&c=%2B",
        "GET&/test&c=,%20,%2520,%2B",
        "cbbcac9a6a02f3ad96c5ab5bf876dd9f79b2c61ceec5660a1c9d73a3b102ec2c",
    ),
    (
        "names-sorted",
        "GET",
        "/test",
        "a10=1&a1=2&b1=3&b10=4",
        "GET&/test&a1=2&a10=1&b1=3&b10=4",
        "159cc3d3003f067c3ae263d19ded42dedd28221cce4d4757b13fc7722a24408f",
    ),
    (
        "upper-before-lower",
        "GET",
        "/test",
        "A=A&a=a&b=b&B=B",
        "GET&/test&A=A&B=B&a=a&b=b",
        "539adc2b0aef2ec8659825893b8b92e6a53c9483e2150b8185b08490d8b6de60",
    ),
    (
        "empty-query",
        "GET",
        "/test",
        "",
        "GET&/test&",
        "bad328fac990349a8c88393c1755bc4f984a9c387202229b8ed52e04ff7e9fec",
    ),
    (
        "trailing-slash",
        "GET",
        "/endsWithDelimiter/",
        "a=b",
        "GET&/endsWithDelimiter&a=b",
        "8f77c6a0e6bf25041121ee44480d3c97ae9cca4b7a007ea6e1d648d9a26e5d1d",
    ),
    (
        "path-sub-delims",
        "GET",
        "/path!$&'()*+,;=",
        "a=b",
        "GET&/path!$%26'()*+,;=&a=b",
        "9ef803f9cb8dea4f7f875caff8d31e95962c6e8bd44d64a848d6ebb055b2144b",
    ),
    ("no-query", "GET", "/path", "", "GET&/path&", "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"),
    ("root", "GET", "/", "", "GET&/&", "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"),
    ("no-path", "GET", "", "", "GET&/&", "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"),
    (
        "post-bulk",
        "POST",
        "/rest/deployments/0.1/bulk",
        "",
        "POST&/rest/deployments/0.1/bulk&",
        "e50a1fc975925dfc3652c2ea120c1d37f5581e16d5a167a5adbeda3bda7ab589",
    ),
    (
        "delete-by-properties",
        "DELETE",
        "/rest/deployments/0.1/bulkByProperties",
        "accountId=account-123&createdBy=user-456",
        "DELETE&/rest/deployments/0.1/bulkByProperties&accountId=account-123&createdBy=user-456",
        "97c38f4c812b8861400bd873b1e4a4dc63546c3bf9ec1f7ba68e404195b557bf",
    ),
    (
        "get-deployment",
        "GET",
        "/rest/deployments/0.1/pipelines/my-pipeline/environments/prod-env/deployments/42",
        "",
        "GET&/rest/deployments/0.1/pipelines/my-pipeline/environments/prod-env/deployments/42&",
        "c1b1e90ba91742276d6246bba34b1b48be26144401c4733d44860a4c17af3a80",
    ),
    (
        "jwt-dropped",
        "GET",
        "/rest/x",
        "b=2&a=1&a=0&jwt=abc",
        "GET&/rest/x&a=0,1&b=2",
        "47b6d7d5d206e25baa4c886efd0d57f55df7b684de5c1fee0ab6a04ce5b50165",
    ),
    (
        "plus-vs-encoded-plus",
        "GET",
        "/rest/x",
        "k=a%2Bb&k2=a+b&k3=%7E*",
        "GET&/rest/x&k=a%2Bb&k2=a%20b&k3=~%2A",
        "94430ed9253dc42e238ba3ed20cf2504af1af4985c24ed753e6639c743a015ed",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "canonical", "qsh"), [v[1:] for v in VECTORS], ids=[v[0] for v in VECTORS]
)
def test_vector(method: str, path: str, query: str, canonical: str, qsh: str) -> None:
    assert canonical_request(method, path, query) == canonical
    assert query_string_hash(method, path, query) == qsh
    assert hashlib.sha256(canonical.encode()).hexdigest() == qsh


def test_method_is_upper_cased() -> None:
    assert canonical_request("post", "/a", "") == "POST&/a&"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/", "/a"),
        ("//", "/"),
        ("/a//", "/a/"),
        ("", "/"),
        ("/a&b&c", "/a%26b%26c"),
        ("/a%2Fb%20c", "/a%2Fb%20c"),
        ("/a b", "/a b"),
        ("/宮", "/宮"),
    ],
)
def test_canonical_uri(path: str, expected: str) -> None:
    assert canonical_uri(path) == expected


@pytest.mark.parametrize(
    ("raw_query", "expected"),
    [
        ("a=%zz", "a=%25zz"),  # an invalid escape is literal text
        ("a=%", "a=%25"),
        ("a=%E5", "a=%E5"),  # a byte that is not UTF-8 comes back as it went in
        ("a=%e5%ae%ae", "a=%E5%AE%AE"),  # upper-case hex
        ("a=\udcff", "a=%FF"),  # a surrogate escape stands for its byte
        ("a=\ud800", "a=%ED%A0%80"),  # any other lone surrogate must not raise
        ("a=宮", "a=%E5%AE%AE"),  # unencoded non-ASCII text is UTF-8 encoded
        ("a", "a="),
        ("=x", "=x"),
        ("a=1&&b=2&", "a=1&b=2"),
        ("a=b=c", "a=b%3Dc"),
        ("a=1,2", "a=1%2C2"),
        ("jwt=x&JWT=y", "JWT=y"),  # only the exact name jwt is the token
        ("a=1;b=2", "a=1%3Bb%3D2"),  # ";" is not a separator
        ("a%3D=1", "a%3D=1"),
        ("x=2&x=10&x=1", "x=1,10,2"),
        ("b=1&a+b=2", "a%20b=2&b=1"),
    ],
)
def test_canonical_query_edges(raw_query: str, expected: str) -> None:
    assert canonical_query(raw_query) == expected


def test_values_sort_in_utf16_code_unit_order() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16 and so sorts before U+FF21 (as in Java and JS),
    # though its code point is larger.
    assert canonical_query("k=%EF%BC%A1&k=%F0%9F%98%80") == "k=%F0%9F%98%80,%EF%BC%A1"


def test_atlassian_jwt_sorts_those_values_by_code_point() -> None:
    # The one value-order disagreement with PyPI's atlassian-jwt; auth.md's "code-unit order" decides for us.
    theirs = canonicalize_request("GET", "/a?k=%EF%BC%A1&k=%F0%9F%98%80")
    assert theirs == "GET&/a&k=%EF%BC%A1,%F0%9F%98%80"


def test_atlassian_jwt_replaces_bytes_that_are_not_utf8() -> None:
    # atlassian-jwt decodes with errors="replace" (U+FFFD); auth.md only says percent-decode, and we keep the
    # byte as sent, so a client hashing what it sent still matches.
    assert canonicalize_request("GET", "/a?k=%FF") == "GET&/a&k=%EF%BF%BD"
    assert canonical_request("GET", "/a", "k=%FF") == "GET&/a&k=%FF"


def test_atlassian_jwt_strips_every_outer_slash() -> None:
    # auth.md removes one trailing "/" only.
    assert canonicalize_request("GET", "/a//") == "GET&/a&"
    assert canonical_request("GET", "/a//", "") == "GET&/a/&"


ANY_TEXT = st.text(st.characters(codec=None, categories=None))
QUERYISH = st.text(st.sampled_from(list("ab=&%+;,~* 09AFaf\u00e9\udcff\ud800\u5bae")), max_size=40)


@given(st.one_of(ANY_TEXT, QUERYISH))
@example("%")
@example("%%%&&&===+++")
@example("\udc80\ud800\U0010ffff")
def test_canonical_query_never_raises_and_is_ascii(raw_query: str) -> None:
    result = canonical_query(raw_query)
    assert result.isascii()
    assert not any(pair.startswith("jwt=") for pair in result.split("&"))


@given(st.one_of(ANY_TEXT, QUERYISH), ANY_TEXT, ANY_TEXT)
def test_hash_never_raises(path: str, raw_query: str, method: str) -> None:
    assert len(query_string_hash(method, path, raw_query)) == 64


@given(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=6), st.text(min_size=1))
def test_jwt_parameter_never_counts(pairs: list[tuple[str, str]], token: str) -> None:
    query = urlencode(pairs)
    with_token = f"{query}&jwt={quote(token)}" if query else f"jwt={quote(token)}"
    assert canonical_query(with_token) == canonical_query(query)


# Where atlassian-jwt is well-defined: its URL parser must not see a scheme (":"), path params (";"),
# a fragment ("#") or "?" inside the path, and it strips every leading and trailing "/" where auth.md
# removes only one trailing "/" (so "/a//" is "/a/" for us and "/a" for it): paths avoid "//". Queries are
# encoded from text, so no percent-encoded byte is invalid UTF-8 (which it turns into U+FFFD; see above).
SEGMENT = st.lists(
    st.sampled_from(list("abzAZ09-._~!$'()*+,=@&") + ["%2F", "%20", "%25", "%E5%AE%AE"]),
    min_size=1,
    max_size=8,
).map("".join)
PATHS = st.builds(
    lambda segments, slash: "/" + "/".join(segments) + slash,
    st.lists(SEGMENT, max_size=4),
    st.sampled_from(["", "/"]),
)
# No astral characters: they sort differently there (see test_atlassian_jwt_sorts_those_values_by_code_point).
BMP_TEXT = st.text(st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]), max_size=8)
NAMES = st.one_of(BMP_TEXT, st.sampled_from(["a", "A", "a1", "a10", "b", "jwt", "~", "*"]))
PAIRS = st.lists(st.tuples(NAMES, BMP_TEXT), max_size=6)


def _encode_query(pairs: list[tuple[str, str]], style: str) -> str:
    if style == "plus":
        return urlencode(pairs)
    if style == "percent":
        return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)
    # Lenient: what sloppy clients send, with "*", "~", "," and "@" left unencoded.
    return "&".join(f"{quote(name, safe='*~,@')}={quote(value, safe='*~,@')}" for name, value in pairs)


STYLES = st.sampled_from(["plus", "percent", "lenient"])


@given(PATHS, PAIRS, STYLES, st.sampled_from(["GET", "post", "DELETE"]))
def test_agrees_with_atlassian_jwt(path: str, pairs: list[tuple[str, str]], style: str, method: str) -> None:
    query = _encode_query(pairs, style)
    url = f"{path}?{query}" if query else path
    assert canonical_request(method, path, query) == canonicalize_request(method, url)
    assert query_string_hash(method, path, query) == hash_url(method, url)
