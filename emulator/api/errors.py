"""Jira's error bodies and texts, in one place.

The site path family answers errors as a bare JSON array of ``{"message": ...}``; the gateway
(OAuth) family answers 401 as ``{"code": 401, "message": "Unauthorized"}``. The precise reason a
request was refused travels separately, in the ``X-Emulator-Reason`` header and the log.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
from starlette.responses import Response

from emulator.api.bodies.common import ErrorMessage, GatewayError

REASON_HEADER = "X-Emulator-Reason"

UNAUTHORIZED = "Missing a JWT token, or token is invalid."
RATE_LIMITED = "API rate limit has been exceeded."
UNAVAILABLE = "Service is unavailable due to maintenance or other reasons."
UNEXPECTED = "An unexpected error occurred."
NO_RESOURCE = "No resource exists at this path."
NO_SITE = "There is no Jira site at this address."
METHOD_NOT_ALLOWED = "Method {method} is not allowed here."
PROPERTY_TWICE = "Property '{name}' is given more than once."
BAD_USN = "'_updateSequenceNumber' must be an int64."
BAD_PATH_ENCODING = "The path is not valid percent-encoded UTF-8."
INJECTED = "An error was injected by the emulator's fault rules."
# the texts of statuses every family words alike (a family words its 403, 404 and 413: families.Texts)
STATUS_TEXTS = {
    401: UNAUTHORIZED,
    429: RATE_LIMITED,
    500: UNEXPECTED,
    503: UNAVAILABLE,
}


def dumps(content: Any) -> bytes:
    return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_ENCODE = msgspec.json.Encoder().encode


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(content), status_code=status, headers=headers, media_type="application/json")


def error_response(
    status: int,
    messages: list[str] | str,
    *,
    reason: str | None = None,
    trace_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """The site family's error: a bare array of messages (``ErrorMessages``), the precise reason in a header."""
    texts = [messages] if isinstance(messages, str) else messages
    body = _ENCODE([ErrorMessage(text, trace_id) for text in texts])
    all_headers = dict(headers or {})
    if reason:
        all_headers[REASON_HEADER] = header_safe(reason)
    return Response(body, status_code=status, headers=all_headers, media_type="application/json")


def gateway_error(status: int, message: str, *, reason: str | None = None) -> Response:
    """The api.atlassian.com gateway's own error shape, e.g. ``{"code": 401, "message": "Unauthorized"}``."""
    headers = {REASON_HEADER: header_safe(reason)} if reason else None
    return Response(
        _ENCODE(GatewayError(status, message)), status_code=status, headers=headers, media_type="application/json"
    )


def header_safe(text: str, limit: int = 1000) -> str:
    """Header values are latin-1 on the wire and may hold no control character: escape the rest, fold
    white space, cap the length. Reasons quote client input, so this must hold for any text."""
    flat = " ".join(text.split())
    escaped = flat.encode("ascii", "backslashreplace").decode("ascii")
    visible = "".join(ch if " " <= ch <= "~" else f"\\x{ord(ch):02x}" for ch in escaped)
    return visible[:limit]
