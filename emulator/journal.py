"""The request journal: a bounded ring of every call to the Jira surface, for assertions and the UI.

Bounded by entries (``--journal-size``, oldest dropped first) and by the bytes kept per entry (bodies up to
``BODY_KEPT``, request headers up to ``redaction.HEADERS_KEPT``), so a long load run cannot grow it without
limit. Request headers are shown with no credential in clear (``emulator.redaction``).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from emulator.domain.clock import iso
from emulator.redaction import shown_headers

BODY_KEPT = 16 * 1024  # bytes of request and response body kept per entry
FILTERS = ("family", "method", "operation", "status", "provider", "site", "since", "limit")


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
    "request_headers",
)
_POSITION = {name: position for position, name in enumerate(FIELDS)}

# The fields ``Journal.record`` may be given without
_DEFAULTS: dict[str, Any] = {
    "findings": (),
    "request_body": None,  # clipped to BODY_KEPT bytes; decoded only when read
    "response_body": None,
    "request_size": 0,
    "response_size": 0,
    "request_headers": (),
}


class Entry:
    """One journalled call. Recording one is on every call's path and reading one is rare, so an entry
    keeps the fields it was recorded with as they came (one tuple, in ``FIELDS`` order) and shows them
    when read."""

    __slots__ = ("_fields", "_journal", "id")

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

    def __init__(self, id: int, fields: tuple[Any, ...], journal: Journal | None = None) -> None:
        self.id = id
        self._fields = fields
        self._journal = journal

    @property
    def family(self) -> str | None:
        """The API family of the call's operation (None for a call no operation was found for)."""
        return None if self._journal is None else self._journal.families.get(self.operation)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        # only called for what is not a slot, i.e. every recorded field (and "_fields" of an entry made
        # without __init__, by copy or pickle, which must not recurse)
        if name.startswith("_"):
            raise AttributeError(name)
        fields = self._fields
        position = _POSITION.get(name)
        if position is None:
            raise AttributeError(f"journal entry has no field {name!r}")
        value = fields[position]
        if name == "touched":
            return self._touched(value, fields[_POSITION["response_body"]], fields[_POSITION["operation"]])
        if name == "provider" and value is not None:
            return str(value)  # recorded as the Provider, shown as "connect:app-key"
        if name == "findings":
            return list(value)
        return value

    def __repr__(self) -> str:
        pairs = zip(FIELDS, self._fields, strict=True)
        return f"Entry(id={self.id}, {', '.join(f'{k}={v!r}' for k, v in pairs)})"

    def to_json(self, *, bodies: bool = False) -> dict[str, Any]:
        out = {
            "id": self.id,
            "time": iso(self.time),
            "family": self.family,
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
            "requestHeaders": shown_headers(self.request_headers),
        }
        if bodies:
            out["requestBody"] = _text(self.request_body, self.request_size)
            out["responseBody"] = _text(self.response_body, self.response_size)
        return out

    def _touched(self, keys: Any, response_body: bytes | None, operation: str | None) -> list[Any]:
        """Touched entities are recorded as their keys, or as an AcceptedInResponse, and shown as objects: a
        submit touches up to 100, and most entries are never read."""
        if isinstance(keys, AcceptedInResponse):
            found: list[dict[str, Any]] = json.loads(response_body or b"{}").get(keys.field, [])
            return found
        render = None if self._journal is None else self._journal.key_json
        if render is None:
            return [key if isinstance(key, dict) else list(key) for key in keys]
        return [key if isinstance(key, dict) else render(operation, key) for key in keys]


class AcceptedInResponse:
    """What a submit records as its touched entities when its whole answer is journalled: they are that
    answer's list of accepted keys (``field``), read from it when the entry is read. A thousand journalled
    submits would otherwise hold 100,000 keys, each call freeing the 100 of the entry it pushed out."""

    __slots__ = ("field",)

    def __init__(self, field: str) -> None:
        self.field = field


KeyJson = Callable[[str | None, Any], dict[str, Any]] | None  # (operation, key) -> the key as Jira writes it


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
    def __init__(
        self, capacity: int = 1000, key_json: KeyJson = None, families: Mapping[str, str] | None = None
    ) -> None:
        """``key_json(operation, key)`` shows a touched key as the operation's family writes it; ``families``
        names the API family of each operation (``submitBuilds`` -> ``builds``)."""
        assert capacity >= 1, "the journal keeps at least one entry"
        self.capacity = capacity
        self.key_json = key_json
        self.families = dict(families or {})
        # The calls' fields, oldest first; an Entry is made only when one is read. The ring holds one tuple per
        # call and no Entry: a server under load turns a thousand entries over, and each object an entry holds
        # costs throughput (the performance page's journal paragraph).
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=capacity)
        self.recorded = 0  # calls journalled since the start: the id of the newest entry
        self.dropped = 0

    def record(self, **fields: Any) -> Entry:
        """Journal one call; ``fields`` are Entry's (time, method, path, ... response_size), the ones of
        ``_DEFAULTS`` optional."""
        entry_id = self.record_values(tuple(fields[name] if name in fields else _DEFAULTS[name] for name in FIELDS))
        return Entry(entry_id, self._entries[-1], self)

    def record_values(self, values: tuple[Any, ...]) -> int:
        """Journal one call from all its fields, in ``FIELDS`` order, and give its id: what the emulator does
        on every call (a tuple is a fraction of the memory of the same fields as a dict)."""
        assert len(values) == len(FIELDS), "record_values takes every field, in FIELDS order"
        if len(self._entries) == self.capacity:
            self.dropped += 1
        self._entries.append(values)
        self.recorded += 1
        return self.recorded

    def get(self, entry_id: int) -> Entry | None:
        """The entry with this id, while the ring still holds it (ids count every call journalled)."""
        index = entry_id - self._first_id()
        if not 0 <= index < len(self._entries):
            return None
        return Entry(entry_id, self._entries[index], self)

    def query(self, filters: Mapping[str, str]) -> list[Entry]:
        """Newest first; filters as the control surface takes them (all optional, ANDed)."""
        unknown = set(filters) - set(FILTERS)
        if unknown:
            raise QueryError(f"unknown filter(s): {', '.join(sorted(unknown))}; use {', '.join(FILTERS)}")
        families = sorted(set(self.families.values()))
        if "family" in filters and families and filters["family"] not in families:
            raise QueryError(f"family must be one of {', '.join(families)}, got {filters['family']!r}")
        found: Iterable[Entry] = self._newest_first()
        for name, value in filters.items():
            if name in _MATCHES:
                found = _matching(found, _MATCHES[name](value))
        result = list(found)
        if "limit" in filters:
            if not filters["limit"].isdigit():
                raise QueryError("limit must be a whole number")
            result = result[: int(filters["limit"])]
        return result

    def clear(self) -> None:
        self._entries.clear()

    def __iter__(self) -> Iterator[Entry]:
        first = self._first_id()
        return iter([Entry(first + index, fields, self) for index, fields in enumerate(self._entries)])

    def _newest_first(self) -> Iterator[Entry]:
        newest = self.recorded
        for offset, fields in enumerate(reversed(self._entries)):
            yield Entry(newest - offset, fields, self)

    def _first_id(self) -> int:
        return self.recorded - len(self._entries) + 1

    def __len__(self) -> int:
        return len(self._entries)


def _matching(entries: Iterable[Entry], keep: Callable[[Entry], bool]) -> Iterator[Entry]:
    return (entry for entry in entries if keep(entry))


def _since(value: str) -> Callable[[Entry], bool]:
    since = parse_since(value)
    return lambda e: e.time >= since


def _status_filter(wanted: str) -> Callable[[Entry], bool]:
    """``404``, or a class such as ``4xx``."""
    if len(wanted) == 3 and wanted.endswith("xx") and wanted[0].isdigit():
        code_class = int(wanted[0])
        return lambda e: e.status // 100 == code_class
    if not wanted.isdigit():
        raise QueryError(f"status must be a code like 404 or a class like 4xx, got {wanted!r}")
    code = int(wanted)
    return lambda e: e.status == code


# Each filter but ``limit``: its value -> whether an entry passes. Values are checked when the filter is
# made, so a bad one is refused even when the journal is empty.
_MATCHES: dict[str, Callable[[str], Callable[[Entry], bool]]] = {
    "family": lambda v: lambda e: e.family == v,
    "method": lambda v: lambda e: e.method == v.upper(),
    "operation": lambda v: lambda e: e.operation == v,
    "status": _status_filter,
    "provider": lambda v: lambda e: e.provider == v,
    "site": lambda v: lambda e: e.site == v,
    "since": _since,
}
