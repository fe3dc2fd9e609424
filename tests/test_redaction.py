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
