"""The journal's copy of a request's headers: kept packed, shown as the request carried them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from emulator.redaction import HEADERS_KEPT, kept_headers, shown_headers

NAMES = st.one_of(st.sampled_from([b"host", b"authorization", b"cookie", b"x-emulator-control-token"]), st.binary())
HEADERS = st.lists(st.tuples(NAMES, st.binary(max_size=1500)), max_size=12)


@given(HEADERS)
def test_kept_headers_show_as_the_request_carried_them(headers: list[tuple[bytes, bytes]]) -> None:
    kept = kept_headers(headers)
    assert isinstance(kept, bytes)  # one object per journal entry
    shown = shown_headers(kept)
    if sum(len(name) + len(value) for name, value in headers) <= HEADERS_KEPT:
        assert shown == shown_headers(headers)
    else:
        assert shown[:-1] == shown_headers(headers)[: len(shown) - 1]
        assert shown[-1][0] == "..." and "not kept" in shown[-1][1]


def test_headers_of_exactly_the_limit_are_kept_whole_and_one_byte_more_is_not() -> None:
    # the packed document is larger than the names and values it holds: the limit is on the latter
    value = b"v" * (HEADERS_KEPT - len(b"host") - len(b"x-a") - 1)
    at_limit = [(b"host", b"h"), (b"x-a", value)]
    assert len(kept_headers(at_limit)) > HEADERS_KEPT
    assert shown_headers(kept_headers(at_limit)) == shown_headers(at_limit)
    over = [(b"host", b"h"), (b"x-a", value + b"v")]
    shown = shown_headers(kept_headers(over))
    assert shown[0] == ["host", "h"] and shown[-1][0] == "..."
