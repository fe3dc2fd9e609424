"""A refused Connect request (AuthError) and the safe rendering of hostile values in its reason.

Reasons end up in response headers and log lines, so every value from a token is shown as short printable
ASCII, whatever it was.
"""

from __future__ import annotations

from typing import Any

_SHOW_LIMIT = 80


class AuthError(Exception):
    """A refused request: status 401 or 403, and the precise reason for humans (log + response header)."""

    status: int
    reason: str

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


def show(value: Any) -> str:
    """A short rendering of a hostile value, safe for a log line or a response header."""
    if isinstance(value, str):
        text = printable(value)
        return f"'{text}'" if len(text) <= _SHOW_LIMIT else f"'{text[:_SHOW_LIMIT]}...'"
    try:
        text = printable(repr(value))
    except ValueError:  # an int beyond Python's digit limit for str()
        text = f"an integer of {value.bit_length()} bits"
    return text if len(text) <= _SHOW_LIMIT else f"{text[:_SHOW_LIMIT]}..."


def number(value: float) -> str:
    """A time claim or clock reading: whole seconds without a fraction, anything else as ``show`` has it."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return show(value)


def describe(error: Exception) -> str:
    """An exception's message (a library's, about a hostile token), short and printable."""
    message = printable(str(error) or type(error).__name__)
    return message if len(message) <= 2 * _SHOW_LIMIT else f"{message[: 2 * _SHOW_LIMIT]}..."


def printable(text: str) -> str:
    """ASCII without control characters: reasons end up in response headers and log lines."""
    return text.encode("unicode_escape").decode("ascii")
