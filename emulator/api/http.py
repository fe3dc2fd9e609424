"""Small HTTP helpers of the Jira surface: headers, bodies, prepared JSON answers, a dropped connection."""

from __future__ import annotations

import asyncio

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from emulator.api import errors
from emulator.api.calls import ClientGone

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UNREAD_BODY_WAIT = 1.0  # seconds a refusal waits for the body it journals; a stalled client gets it anyway
_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class BodyTooLarge(Exception):
    pass


def header(request: Request, name: bytes) -> str | None:
    """The first value of a header (``name`` lower-case, as ASGI servers give names), like
    ``request.headers.get`` without building the Headers object."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def parse_int64(text: str) -> int | None:
    stripped = text.strip()
    # an int64 has at most 19 digits: refuse longer text before int() (which gives up past 4300 digits)
    if not stripped or len(stripped) > 21 or not stripped.lstrip("+-").isdigit() or not stripped.isascii():
        return None
    value = int(stripped)
    return value if INT64_MIN <= value <= INT64_MAX else None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (without reading on) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)


async def unread_body(request: Request, limit: int) -> bytes | None:
    """For the journal, the body of a call refused before its handler read it: None when there is none, it
    has been read (or partly read) already, it passes ``limit``, the client has gone, or it has not arrived
    within ``UNREAD_BODY_WAIT`` (the refusal is not held up longer by a client that stalls)."""
    length = header(request, b"content-length")
    if (length is None or length == "0") and header(request, b"transfer-encoding") is None:
        return None  # no body: a GET's 404 (a client polling for its write) does not wait on receive()
    try:
        return await asyncio.wait_for(read_body(request, limit), UNREAD_BODY_WAIT) or None
    except (BodyTooLarge, ClientGone, RuntimeError, TimeoutError):  # RuntimeError: Starlette's "Stream consumed"
        return None


class JSONBytes(Response):
    """``Response(body, media_type="application/json")`` for a body already serialised: the same status,
    headers (content-length, content-type) and body, without Starlette's generic header assembly."""

    media_type = "application/json"

    def __init__(self, body: bytes, status_code: int = 200) -> None:
        self.status_code = status_code
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode("latin-1")), _JSON_CONTENT_TYPE]


async def drop_connection(request: Request) -> Response:
    """Close the TCP connection without an answer. uvicorn's ``send`` is a bound method of its request
    cycle, which holds the transport; an in-process client has none, and gets a 503 instead."""
    send = request.scope.get("emulator.send")
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return errors.error_response(503, errors.UNAVAILABLE, reason="dropConnection needs a real server; answered 503")
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn see the disconnect, so it sends nothing more
    return Response(status_code=499)
