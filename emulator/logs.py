"""One log line per call to the Jira surface: human-readable by default, JSON when asked."""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol


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
    def findings(self) -> list[dict[str, Any]]: ...


log = logging.getLogger("emulator.calls")


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
        "findings": [f["rule"] for f in call.findings] or None,
    }


class CallLogger:
    def __init__(self, fmt: str = "text") -> None:
        assert fmt in ("text", "json"), "log format is text or json"
        self.fmt = fmt

    def __call__(self, call: Call) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        if self.fmt == "json":
            log.info(json.dumps({k: v for k, v in call_fields(call).items() if v is not None}, ensure_ascii=False))
            return
        who = f" {call.provider}" if call.provider else ""
        extra = f" {call.summary}" if call.summary else ""
        why = f" reason: {call.reason}" if call.reason else ""
        found = f" findings: {', '.join(f['rule'] for f in call.findings)}" if call.findings else ""
        log.info(
            "%s %s -> %d%s %.1fms%s%s%s",
            call.method,
            call.raw_path,
            call.status,
            who,
            call.latency_ms,
            extra,
            why,
            found,
        )
