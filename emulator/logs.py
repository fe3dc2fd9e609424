"""One log line per call to the Jira surface: human-readable by default, JSON when asked.

A call's line goes through ``logging`` (the ``emulator.calls`` logger), which is how a user sets its level
and where it goes, with one exception that writes the same bytes for less: when the logger's records would
reach the command line's own handler (``CallLineHandler``) and nothing else, unfiltered and formatted as
the command line set it up, the message is formatted here and handed to that handler, which writes the
lines of one event-loop turn together (``emulator.log_stream``). What logging's record path does per call
(a ``LogRecord``, the caller found, the time formatted, a write and a flush per line) is skipped then.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from emulator.log_stream import sole_call_line_handler


class Finding(Protocol):
    """A contract finding, of which the log names the rule (``emulator.contract.Finding``)."""

    @property
    def rule(self) -> str: ...


class Call(Protocol):
    """What the log reads of one call to the Jira surface (``emulator.api.calls.Call``)."""

    method: str
    raw_path: str
    operation: str | None
    site: str | None
    provider: Any
    status: int
    latency_ms: float
    summary: str
    reason: str | None

    @property
    def found(self) -> Sequence[Finding]: ...


log = logging.getLogger("emulator.calls")

TEXT_LINE = "%s %s -> %d%s %.1fms%s%s%s"  # method, path, status, provider, latency, summary, reason, findings


def call_fields(call: Call) -> dict[str, Any]:
    return {
        "method": call.method,
        "path": call.raw_path,
        "operation": call.operation,
        "site": call.site,
        "provider": str(call.provider) if call.provider else None,
        "status": call.status,
        "latencyMs": round(call.latency_ms, 2),
        "summary": call.summary or None,
        "reason": call.reason,
        "findings": [f.rule for f in call.found] or None,
    }


JSON_ENCODER = json.JSONEncoder(ensure_ascii=False)  # what json.dumps(..., ensure_ascii=False) makes per call


def json_line(call: Call) -> str:
    return JSON_ENCODER.encode({k: v for k, v in call_fields(call).items() if v is not None})


def text_arguments(call: Call) -> tuple[Any, ...]:
    """The arguments of ``TEXT_LINE`` for a call (a record's ``args``, for a user's own formatter)."""
    found = call.found
    return (
        call.method,
        call.raw_path,
        call.status,
        f" {call.provider}" if call.provider else "",
        call.latency_ms,
        f" {call.summary}" if call.summary else "",
        f" reason: {call.reason}" if call.reason else "",
        f" findings: {', '.join(f.rule for f in found)}" if found else "",
    )


class CallLogger:
    def __init__(self, fmt: str = "text") -> None:
        assert fmt in ("text", "json"), "log format is text or json"
        self.fmt = fmt

    def __call__(self, call: Call) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        handler = sole_call_line_handler(log)
        if self.fmt == "json":
            line = json_line(call)
            if handler is None:
                log.info(line)
            else:
                handler.write_call_line(line, log.name)
        elif handler is None:
            log.info(TEXT_LINE, *text_arguments(call))
        else:
            handler.write_call_line(TEXT_LINE % text_arguments(call), log.name)
