"""Fault injection and per-site rate limits for the Jira surface: pure rules, asked once per call.

The HTTP layer asks ``FaultSet.match`` and ``RateLimits.check`` before it handles a call, then answers,
waits or drops the connection as told. Nothing here does I/O or sleeps: time comes in as ``now`` (epoch
seconds) and chance from an injectable ``random.Random``. Every method is synchronous and runs on the
event loop, so no lock is needed. Rate limits are off until a site is given one (mockforge#79).
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

from msgspec import Meta, Struct
from msgspec.structs import asdict

if TYPE_CHECKING:
    from emulator.validation import Problem

DEFAULT_RETRY_AFTER = 1  # seconds, for a 429 rule that names none
EPSILON = 1e-9  # token slack for float rounding, so a client that waits the advertised time gets in

# \Z, not $: Python's $ also matches before a trailing newline
_TOKEN = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z"  # RFC 9110 header name
_NO_CONTROLS = r"^[^\x00-\x08\x0a-\x1f\x7f]*\Z"  # a header value cannot smuggle in CR or LF


class FaultSpecError(ValueError):
    """A fault rule or a rate limit is not valid; the message says exactly what is wrong."""


class _Spec(Struct, rename="camel", forbid_unknown_fields=True, frozen=True):
    """A rule as posted (camelCase keys, strict JSON types: no "5" for 5, no 5.0 for 5)."""

    operation: Annotated[str, Meta(min_length=1)] | None = None
    method: Annotated[str, Meta(pattern=r"^[A-Za-z]+\Z")] | None = None
    site: Annotated[str, Meta(min_length=1)] | None = None
    provider: Annotated[str, Meta(pattern=r"^(connect|oauth):.+\Z")] | None = None
    status: Annotated[int, Meta(ge=100, le=599)] | None = None
    body: Any = None
    headers: dict[Annotated[str, Meta(pattern=_TOKEN)], Annotated[str, Meta(pattern=_NO_CONTROLS)]] = {}
    retry_after: Annotated[int, Meta(ge=1)] | None = None
    latency_ms: Annotated[int, Meta(ge=0)] = 0
    drop_connection: bool = False
    probability: Annotated[float, Meta(gt=0, le=1)] = 1.0
    times: Annotated[int, Meta(ge=1)] | None = None


SPEC_KEYS = tuple(sorted(_Spec.__struct_encode_fields__))
_EXPECTED = {
    "operation": "an operationId of the Jira surface, such as submitDeployments (or null for any)",
    "method": "an HTTP method name such as GET (or null for any)",
    "site": "a site name (or null for any)",
    "provider": "'connect:<appKey>' or 'oauth:<clientId>' (or null for any)",
    "status": "an HTTP status from 100 to 599 (or null for latency only)",
    "headers": "an object of header names to header values, all strings without control characters",
    "retryAfter": "a whole number of seconds >= 1",
    "latencyMs": "a whole number of milliseconds >= 0",
    "dropConnection": "true or false",
    "probability": "a number greater than 0 and at most 1",
    "times": "a whole number >= 1 (or null for unlimited)",
}


def _show(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.title() for part in rest)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _message(problem: Problem) -> str:
    key = str(problem.loc[0])
    if problem.kind == "unknown":
        from emulator.validation import hint

        return f"unknown key {key!r} ({hint(key, SPEC_KEYS)})"
    return f"{key} must be {_EXPECTED[key]}, got {_show(problem.input)}"


def _parse(spec: Mapping[str, Any], operations: Mapping[str, str]) -> _Spec:
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"a fault rule must be a JSON object, got {_show(spec)}")
    from emulator.validation import Invalid, convert  # adding a rule is never start-up work

    try:
        s = convert(dict(spec), _Spec, strict=True)
    except Invalid as exc:
        raise FaultSpecError("; ".join(_message(p) for p in exc.problems)) from None
    _check_answer(s)
    _check_operation(s, operations)
    if s.status is None and s.latency_ms == 0 and not s.drop_connection:
        raise FaultSpecError("the rule does nothing: give a status, a latencyMs above 0, or dropConnection")
    return s


def _check_answer(s: _Spec) -> None:
    """A rule answers with a status, or drops the connection, or only waits: its parts must fit which."""
    if s.drop_connection and s.status is not None:
        raise FaultSpecError("dropConnection sends no answer, so it takes no status")
    if s.status is None:
        for key, value in (("body", s.body), ("headers", s.headers or None), ("retryAfter", s.retry_after)):
            if value is not None:
                raise FaultSpecError(f"{key} needs a status to answer with")
    if s.retry_after is not None and s.status not in (429, 503):
        raise FaultSpecError(f"retryAfter applies only to status 429 or 503, not {s.status}")


def _check_operation(s: _Spec, operations: Mapping[str, str]) -> None:
    """A rule's operation is one the Jira surface declares, and its method can be that operation's."""
    if s.operation is not None and s.operation not in operations:
        known = ", ".join(operations)
        raise FaultSpecError(f"operation must be one of {known} (or null for any), got {_show(s.operation)}")
    expected = operations.get(s.operation or "")
    if s.method and expected and s.method.upper() != expected:
        raise FaultSpecError(f"method {s.method.upper()} never matches {s.operation}, which is {expected}")


class FaultRule(Struct):
    """One rule: which calls it matches (None = any) and what it does to them.

    A msgspec Struct rather than a dataclass: the same fields, init, repr and eq, without generating
    code at import time."""

    id: str
    operation: str | None = None
    method: str | None = None
    site: str | None = None
    provider: str | None = None
    status: int | None = None
    body: Any | None = None
    headers: dict[str, str] = {}  # a new dict for each rule
    retry_after: int | None = None
    latency_ms: int = 0
    drop_connection: bool = False
    probability: float = 1.0
    times: int | None = None
    hits: int = 0

    def matches(self, *, operation: str | None, method: str, site: str | None, provider: str | None) -> bool:
        """Whether every filter of the rule accepts this call (the probability is not drawn here)."""
        return (
            (self.operation is None or self.operation == operation)
            and (self.method is None or self.method == method.upper())
            and (self.site is None or self.site == site)
            and (self.provider is None or self.provider == provider)
        )

    def to_json(self) -> dict[str, Any]:
        """The rule as ``GET /_emulator/faults`` shows it (camelCase, nulls kept)."""
        out = {_camel(name): getattr(self, name) for name in self.__struct_fields__}
        out.update(body=copy.deepcopy(self.body), headers=dict(self.headers))
        return out


class FaultSet:
    """The fault rules in insertion order; ids ("f1", "f2", ...) are never reused, even after clear()."""

    def __init__(self, rng: random.Random | None = None, *, operations: Mapping[str, str] | None = None) -> None:
        """``operations``: the operationIds a rule may name, each with its method."""
        self._rng = rng if rng is not None else random.Random()
        self.operations = dict(operations or {})
        self._rules: dict[str, FaultRule] = {}
        self._next = 1

    def add(self, spec: Mapping[str, Any]) -> FaultRule:
        """Validate a rule as a user posts it (camelCase JSON) and append it; FaultSpecError if invalid."""
        s = _parse(spec, self.operations)
        data = asdict(s)  # snake_case, the FaultRule field names
        data.update(method=s.method.upper() if s.method else None, body=copy.deepcopy(s.body))
        if s.status == 429 and s.retry_after is None:
            data["retry_after"] = DEFAULT_RETRY_AFTER
        rule = FaultRule(id=f"f{self._next}", **data)
        self._next += 1
        self._rules[rule.id] = rule
        return rule

    def rules(self) -> list[FaultRule]:
        return list(self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def remove(self, rule_id: str) -> bool:
        return self._rules.pop(rule_id, None) is not None

    def clear(self) -> None:
        self._rules.clear()

    def match(self, *, operation: str | None, method: str, site: str | None, provider: str | None) -> FaultRule | None:
        """The first matching rule whose draw succeeds; it counts the hit and goes once its times run out."""
        for rule in self._rules.values():
            if not rule.matches(operation=operation, method=method, site=site, provider=provider):
                continue
            # a certain rule draws nothing, so adding one does not shift the seeded sequence for the others
            if rule.probability < 1 and self._rng.random() >= rule.probability:
                continue
            rule.hits += 1
            if rule.times is not None:
                rule.times -= 1
                if rule.times == 0:
                    del self._rules[rule.id]
            return rule
        return None


class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; each allowed call takes one."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        assert rate > 0 and math.isfinite(rate), "rate must be a positive number"
        assert burst >= 1, "burst must be at least 1"
        self.rate, self.burst = float(rate), burst
        self._tokens, self._at = float(burst), now

    @property
    def tokens(self) -> float:
        """The tokens as of the last call (no refill)."""
        return self._tokens

    def available(self, now: float) -> float:
        """The tokens at ``now`` (a clock that goes back adds nothing)."""
        if now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
        return self._tokens

    def take(self, now: float) -> float:
        """0.0 when a token was taken; else the seconds until one is (a refused call takes nothing)."""
        tokens = self.available(now)
        if tokens >= 1 - EPSILON:
            self._tokens = tokens - 1
            return 0.0
        return (1 - tokens) / self.rate


class RateLimits:
    """Per-site token buckets; a site without one is never limited."""

    def __init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}

    def set(self, site: str, *, rate: float, burst: int, now: float) -> None:
        """Limit ``site`` (replacing any limit it had, with a full bucket); FaultSpecError on bad values."""
        if not isinstance(site, str) or not site:
            raise FaultSpecError(f"site must be a site name, got {_show(site)}")
        if not _is_number(rate) or not math.isfinite(rate) or rate <= 0:
            raise FaultSpecError(f"rate must be a number of calls per second above 0, got {_show(rate)}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise FaultSpecError(f"burst must be a whole number >= 1, got {_show(burst)}")
        self._buckets[site] = TokenBucket(rate, burst, now)

    def clear(self, site: str | None = None) -> None:
        if site is None:
            self._buckets.clear()
        else:
            self._buckets.pop(site, None)

    def get(self, site: str, now: float | None = None) -> dict[str, Any] | None:
        """``{"rate", "burst", "available"}`` for the control surface; ``now`` refills first."""
        bucket = self._buckets.get(site)
        if bucket is None:
            return None
        available = bucket.available(now) if now is not None else bucket.tokens
        return {"rate": bucket.rate, "burst": bucket.burst, "available": round(max(available, 0.0), 3)}

    def sites(self) -> list[str]:
        return sorted(self._buckets)

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, site: str, now: float) -> float:
        """0.0 when the call may go on (or the site has no limit); else the seconds to wait."""
        bucket = self._buckets.get(site)
        return 0.0 if bucket is None else bucket.take(now)

    def registry_changing(self, change: str, *args: Any) -> None:
        """An observer of the sites (``Registry.before_change``): a removed site's limit goes with it, so a site
        added again under its name starts unlimited, and sites added and removed leave nothing behind."""
        if change == "site-remove":
            self.clear(args[0])


def retry_after_headers(seconds: float, now: float) -> dict[str, str]:
    """``Retry-After`` (whole seconds, at least 1) and ``X-RateLimit-Reset`` (yyyy-MM-ddTHH:mmZ, api.md §4).

    The reset is rounded up to the minute, so a client that waits until it is never early.
    """
    wait = max(1, math.ceil(seconds))
    reset = datetime.fromtimestamp(now + wait, tz=UTC)
    if reset.second or reset.microsecond:
        reset = reset.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return {"Retry-After": str(wait), "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%MZ")}
