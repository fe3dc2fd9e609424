"""The request journal: a bounded ring of every call to the Jira surface, for assertions and the UI.

Bounded twice: by entries (``--journal-size``, oldest dropped first) and by the body bytes kept per
entry, so a long load run cannot grow it without limit.
"""

from __future__ import annotations

import itertools
import json
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

BODY_KEPT = 16 * 1024  # bytes of request and response body kept per entry
FILTERS = ("method", "operation", "status", "provider", "site", "since", "limit")


# Every field of an entry, in the order record_values takes them
FIELDS = (
    "time",
    "method",
    "path",
    "query",
    "operation",
    "site",
    "provider",
    "status",
    "latency_ms",
    "reason",
    "touched",
    "findings",
    "request_body",
    "response_body",
    "request_size",
    "response_size",
)
_POSITION = {name: position for position, name in enumerate(FIELDS)}

# The fields a caller may leave out (findings, when left out, are a new empty list)
_DEFAULTS: dict[str, Any] = {
    "request_body": None,  # clipped to BODY_KEPT bytes; decoded only when read
    "response_body": None,
    "request_size": 0,
    "response_size": 0,
}


class Entry:
    """One journalled call. Recording one is on every call's path and reading one is rare, so an entry
    keeps the fields it was recorded with as they came (one dict) and looks them up when read."""

    __slots__ = ("_fields", "id")

    id: int
    time: float
    method: str
    path: str
    query: str
    operation: str | None
    site: str | None
    provider: str | None
    status: int
    latency_ms: float
    reason: str | None
    touched: list[dict[str, Any]]  # recorded as key tuples (or objects), read as objects
    findings: list[dict[str, Any]]
    request_body: bytes | None
    response_body: bytes | None
    request_size: int
    response_size: int

    def __init__(self, id: int, fields: dict[str, Any] | tuple[Any, ...]) -> None:
        self.id = id
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        # only called for what is not a slot, i.e. every recorded field (and "_fields" of an entry made
        # without __init__, by copy or pickle, which must not recurse)
        if name.startswith("_"):
            raise AttributeError(name)
        fields = self._fields
        if type(fields) is tuple:  # recorded by record_values: every field, in FIELDS order
            position = _POSITION.get(name)
            if position is None:
                raise AttributeError(f"journal entry has no field {name!r}")
            value = fields[position]
            if name == "touched":
                return _touched_json(value, fields[_POSITION["response_body"]])
            if name == "provider" and value is not None:
                return str(value)  # recorded as the Provider, shown as "connect:app-key"
            return value
        try:
            value = fields[name]
        except KeyError:
            pass
        else:
            return _touched_json(value, fields.get("response_body")) if name == "touched" else value
        if name == "findings":
            return []
        if name in _DEFAULTS:
            return _DEFAULTS[name]
        raise AttributeError(f"journal entry has no field {name!r}")

    def __repr__(self) -> str:
        fields = self._fields
        pairs = zip(FIELDS, fields, strict=True) if type(fields) is tuple else fields.items()
        return f"Entry(id={self.id}, {', '.join(f'{k}={v!r}' for k, v in pairs)})"

    def to_json(self, *, bodies: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "time": iso(self.time),
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "operation": self.operation,
            "site": self.site,
            "provider": self.provider,
            "status": self.status,
            "latencyMs": round(self.latency_ms, 3),
            "reason": self.reason,
            "touched": self.touched,
            "findings": self.findings,
        }
        if bodies:
            out["requestBody"] = _text(self.request_body, self.request_size)
            out["responseBody"] = _text(self.response_body, self.response_size)
        return out


# What a submit records as its touched deployments when its whole answer is journalled: they are that
# answer's acceptedDeployments, read from it when the entry is read. Kept as keys, a thousand journalled
# submits held 100,000 of them, and each call freed the 100 of the entry it pushed out, long out of the CPU
# cache: about 5% of a submit's time over HTTP.
ACCEPTED_IN_RESPONSE = ("acceptedDeployments",)


def _touched_json(keys: list[Any], response_body: bytes | None) -> list[dict[str, Any]]:
    """Touched deployments are recorded as their keys, (pipelineId, environmentId, deploymentSequenceNumber)
    tuples, or as ACCEPTED_IN_RESPONSE, and shown as objects: a submit touches up to 100, and most entries
    are never read."""
    if keys is ACCEPTED_IN_RESPONSE:
        return json.loads(response_body or b"{}").get("acceptedDeployments", [])  # type: ignore[no-any-return]
    return [
        key
        if isinstance(key, dict)
        else {"pipelineId": key[0], "environmentId": key[1], "deploymentSequenceNumber": key[2]}
        for key in keys
    ]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def clip(data: bytes | None) -> bytes | None:
    return data[:BODY_KEPT] if data else None


def _text(kept: bytes | None, size: int) -> str | None:
    if not kept:
        return None
    text = kept.decode("utf-8", "replace")
    return text if size <= len(kept) else text + f"... ({size} bytes in all)"


class QueryError(ValueError):
    pass


def parse_since(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise QueryError(f"since must be epoch seconds or an ISO 8601 time, got {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


class Journal:
    def __init__(self, capacity: int = 1000) -> None:
        assert capacity >= 1, "the journal keeps at least one entry"
        self.capacity = capacity
        self._entries: deque[Entry] = deque(maxlen=capacity)
        self._ids = itertools.count(1)
        self.dropped = 0

    def record(self, **fields: Any) -> Entry:
        """Journal one call; ``fields`` are Entry's (time, method, path, ... response_size)."""
        if len(self._entries) == self.capacity:
            self.dropped += 1
        entry = Entry(next(self._ids), fields)
        self._entries.append(entry)
        return entry

    def record_values(self, values: tuple[Any, ...]) -> Entry:
        """Journal one call from all its fields, in ``FIELDS`` order: what the emulator does on every call.
        A tuple of 16 is a sixth of the memory of the same fields as a dict, and in the running server the
        dict an entry used to make, and the one it pushed out of the ring, cost about 7 µs a call."""
        assert len(values) == len(FIELDS), "record_values takes every field, in FIELDS order"
        if len(self._entries) == self.capacity:
            self.dropped += 1
        entry = Entry(next(self._ids), values)  # type: ignore[arg-type]
        self._entries.append(entry)
        return entry

    def get(self, entry_id: int) -> Entry | None:
        return next((e for e in self._entries if e.id == entry_id), None)

    def query(self, filters: Mapping[str, str]) -> list[Entry]:
        """Newest first; filters as the control surface takes them (all optional, ANDed)."""
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise QueryError(f"unknown filter(s): {', '.join(sorted(unknown))}; use {', '.join(FILTERS)}")
        found: Iterable[Entry] = reversed(self._entries)
        if "method" in filters:
            found = (e for e in found if e.method == filters["method"].upper())
        if "operation" in filters:
            found = (e for e in found if e.operation == filters["operation"])
        if "status" in filters:
            found = (e for e in found if _status_matches(e.status, filters["status"]))
        if "provider" in filters:
            found = (e for e in found if e.provider == filters["provider"])
        if "site" in filters:
            found = (e for e in found if e.site == filters["site"])
        if "since" in filters:
            since = parse_since(filters["since"])
            found = (e for e in found if e.time >= since)
        result = list(found)
        if "limit" in filters:
            if not filters["limit"].isdigit():
                raise QueryError("limit must be a whole number")
            result = result[: int(filters["limit"])]
        return result

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[Entry]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def _status_matches(status: int, wanted: str) -> bool:
    """``404``, or a class such as ``4xx``."""
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        return status // 100 == int(wanted[0])
    if not wanted.isdigit():
        raise QueryError(f"status must be a code like 404 or a class like 4xx, got {wanted!r}")
    return status == int(wanted)
