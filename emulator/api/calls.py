"""What passes between the steps of the call pipeline: the call's record, a refusal, an operation's answer.

A step that refuses a call raises ``Refusal`` with the answer to send and the precise reason; the pipeline
writes that reason into the call's record, which the journal and the log read once the call is over.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from msgspec import Struct
from starlette.requests import Request
from starlette.responses import Response

from emulator.api import errors
from emulator.contract import Finding
from emulator.domain.model import Key, Provider


class Refusal(Exception):
    """The call ends here, answered with ``response``; ``reason`` says exactly why, for humans."""

    def __init__(self, response: Response, reason: str | None) -> None:
        super().__init__(reason)
        self.response = response
        self.reason = reason

    @classmethod
    def site(
        cls, status: int, messages: list[str] | str, reason: str, *, headers: dict[str, str] | None = None
    ) -> Refusal:
        """Jira's error on the site path family: a bare array of messages."""
        return cls(errors.error_response(status, messages, reason=reason, headers=headers), reason)

    @classmethod
    def gateway(cls, status: int, text: str, reason: str) -> Refusal:
        """The api.atlassian.com gateway's own error shape, ``{"code": 401, "message": "Unauthorized"}``."""
        return cls(errors.gateway_error(status, text, reason=reason), reason)

    @classmethod
    def invalid(cls, messages: list[str] | str) -> Refusal:
        """A 400 whose messages are also the reason."""
        reason = messages if isinstance(messages, str) else "; ".join(messages)
        return cls.site(400, messages, reason)


class ClientGone(Exception):
    """The client closed the connection before its body was complete: nobody is left to answer."""


class Answer(Struct):
    """What an operation answered, and what the journal and the log say of it."""

    response: Response
    touched: Sequence[Key] | Any = ()  # keys, or the journal's marker that its answer lists them
    summary: str = ""
    reason: str | None = None


class Call:
    """What one call to the Jira surface was and did: the journal and the log read it when it is over.

    The pipeline writes it as its steps go (``operation``, ``site``, ``provider``, contract findings in
    ``found``), and once at the end (status, reason, answer); the operation's context writes the request
    body it read."""

    __slots__ = (
        "found", "headers", "latency_ms", "method", "operation", "provider", "raw_path", "raw_query", "reason",
        "request_body", "response_body", "site", "site_note", "started", "status", "summary", "touched",
    )  # fmt: skip

    def __init__(self, method: str, raw_path: str, raw_query: str, started: float, headers: Any = ()) -> None:
        self.method, self.raw_path, self.raw_query, self.started = method, raw_path, raw_query, started
        self.headers = headers  # the request's headers, as the server gave them
        self.operation: str | None = None
        self.site: str | None = None
        self.provider: Provider | None = None
        self.status = 0
        self.reason: str | None = None
        self.touched: Sequence[Key] | Any = ()
        self.summary = ""
        self.latency_ms = 0.0
        self.request_body: bytes | None = None
        self.response_body: bytes | None = None
        self.found: Sequence[Finding] = ()  # a list once the call has any
        self.site_note: str | None = None  # why the default site answers a host that names no site

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The contract findings as the journal and the log show them."""
        return [finding.to_json() for finding in self.found]

    def note(self, findings: Sequence[Finding]) -> None:
        """Keep contract findings of the call."""
        if findings:
            self.found = [*self.found, *findings]

    @classmethod
    def of(cls, request: Request) -> Call:
        scope = request.scope
        raw_path = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0]
        raw_query = scope.get("query_string", b"").decode("utf-8", "replace")
        return cls(request.method, raw_path.decode("latin-1"), raw_query, time.perf_counter(), scope["headers"])

    def answered(self, response: Response, reason: str | None) -> None:
        """The call's outcome, as it ends."""
        if reason is not None:
            self.reason = reason
        if self.site_note is not None:  # the log and the journal say which site answered, and why
            self.reason = self.site_note if self.reason is None else f"{self.reason}; {self.site_note}"
        self.status = response.status_code
        self.response_body = response.body if isinstance(response.body, bytes) else None
        self.latency_ms = (time.perf_counter() - self.started) * 1000
