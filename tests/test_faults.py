from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.api.families import OPERATIONS
from emulator.domain.clock import ManualClock
from emulator.faults import (
    SPEC_KEYS,
    FaultSet,
    FaultSpecError,
    RateLimits,
    TokenBucket,
    retry_after_headers,
)
from tests.strategies import json_values

CALL: dict[str, Any] = {
    "operation": "submitDeployments",
    "method": "POST",
    "site": "acme",
    "provider": "connect:my-app",
}


def fault_set(rng: random.Random | None = None) -> FaultSet:
    """Fault rules for the operations the Jira surface declares."""
    return FaultSet(rng, operations={op.id: op.method for op in OPERATIONS})


class ScriptedRandom(random.Random):
    """Hands out the given draws in order, and fails the test if asked for more."""

    def __init__(self, *draws: float) -> None:
        super().__init__(0)
        self.draws = list(draws)

    def random(self) -> float:
        assert self.draws, "drew more often than expected"
        return self.draws.pop(0)


def call(faults: FaultSet, **changes: Any) -> Any:
    return faults.match(**(CALL | changes))


# ---- matching -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "other"),
    [
        pytest.param({"operation": "submitDeployments"}, {"operation": "getDeploymentByKey"}, id="operation"),
        pytest.param({"method": "post"}, {"method": "GET"}, id="method"),
        pytest.param({"site": "acme"}, {"site": "globex"}, id="site"),
        pytest.param({"provider": "connect:my-app"}, {"provider": "oauth:my-app"}, id="provider"),
        pytest.param({"operation": "submitDeployments"}, {"operation": None}, id="operation-unknown-call"),
        pytest.param({"site": "acme"}, {"site": None}, id="site-unknown-call"),
        pytest.param({"provider": "connect:my-app"}, {"provider": None}, id="provider-unauthenticated-call"),
    ],
)
def test_each_filter_matches_its_value_only(spec: dict[str, Any], other: dict[str, Any]) -> None:
    faults = fault_set()
    rule = faults.add(spec | {"status": 503})
    assert call(faults) is rule
    assert call(faults, **other) is None


def test_method_filter_ignores_case_of_rule_and_call() -> None:
    faults = fault_set()
    rule = faults.add({"method": "delete", "status": 500})
    assert rule.method == "DELETE"
    assert call(faults, method="delete") is rule


def test_rule_without_filters_matches_any_call() -> None:
    faults = fault_set()
    rule = faults.add({"status": 500})
    assert call(faults, operation=None, method="PATCH", site=None, provider=None) is rule


def test_all_filters_must_match() -> None:
    faults = fault_set()
    faults.add(CALL | {"status": 500})
    assert call(faults) is not None
    for key, value in [("operation", "getDeploymentByKey"), ("site", "x"), ("provider", "oauth:c")]:
        assert call(faults, **{key: value}) is None, key


def test_first_matching_rule_in_insertion_order_wins() -> None:
    faults = fault_set()
    first = faults.add({"site": "acme", "status": 503})
    second = faults.add({"status": 500})
    assert call(faults) is first
    assert call(faults, site="globex") is second
    assert faults.remove(first.id)
    assert call(faults) is second


def test_times_counts_down_and_exhausted_rule_disappears() -> None:
    faults = fault_set()
    rule = faults.add({"status": 429, "times": 2})
    assert call(faults) is rule
    assert (rule.times, rule.hits) == (1, 1)
    assert call(faults) is rule
    assert (rule.times, rule.hits) == (0, 2)
    assert faults.rules() == []
    assert call(faults) is None


def test_non_matching_calls_do_not_consume_times() -> None:
    faults = fault_set()
    rule = faults.add({"site": "acme", "status": 500, "times": 1})
    assert call(faults, site="globex") is None
    assert (rule.times, rule.hits) == (1, 0)


def test_unlimited_rule_counts_hits_and_stays() -> None:
    faults = fault_set()
    rule = faults.add({"status": 500})
    for _ in range(5):
        call(faults)
    assert (rule.times, rule.hits) == (None, 5)
    assert faults.rules() == [rule]


def test_remove_and_clear_and_ids_are_never_reused() -> None:
    faults = fault_set()
    f1, f2 = faults.add({"status": 500}), faults.add({"status": 503})
    assert (f1.id, f2.id) == ("f1", "f2")
    assert faults.remove("f1") is True
    assert faults.remove("f1") is False
    assert faults.rules() == [f2]
    faults.clear()
    assert faults.rules() == []
    assert faults.add({"status": 500}).id == "f3"


# ---- probability ----------------------------------------------------------------------------------------


def test_probability_fires_about_that_often_with_a_seeded_rng() -> None:
    faults = fault_set(random.Random(20250101))
    rule = faults.add({"status": 503, "probability": 0.3})
    fired = sum(call(faults) is not None for _ in range(10_000))
    # the seed makes this exact; the bound (about 4.4 standard deviations) says it is also plausible
    assert abs(fired / 10_000 - 0.3) < 0.02
    assert rule.hits == fired


def test_failed_draw_does_not_consume_times() -> None:
    faults = fault_set(rng=ScriptedRandom(0.9, 0.1, 0.7, 0.2))
    rule = faults.add({"status": 500, "probability": 0.5, "times": 2})
    assert call(faults) is None
    assert (rule.times, rule.hits) == (2, 0)
    assert call(faults) is rule
    assert call(faults) is None
    assert call(faults) is rule
    assert faults.rules() == []


def test_failed_draw_falls_through_to_the_next_rule() -> None:
    faults = fault_set(rng=ScriptedRandom(0.99))
    faults.add({"status": 503, "probability": 0.5})
    second = faults.add({"status": 500})
    assert call(faults) is second


def test_certain_rule_draws_nothing() -> None:
    faults = fault_set(rng=ScriptedRandom())
    rule = faults.add({"status": 500, "probability": 1})
    assert call(faults) is rule


def test_draw_happens_only_for_rules_whose_filters_match() -> None:
    faults = fault_set(rng=ScriptedRandom())
    faults.add({"site": "other", "status": 500, "probability": 0.5})
    assert call(faults) is None


def test_probability_at_the_edge_of_the_draw() -> None:
    faults = fault_set(rng=ScriptedRandom(0.25, 0.2499))
    faults.add({"status": 500, "probability": 0.25})
    assert call(faults) is None
    assert call(faults) is not None


# ---- the rule as shown ----------------------------------------------------------------------------------


def test_to_json_shows_every_field_in_camel_case() -> None:
    faults = fault_set()
    spec = {
        "operation": "getDeploymentByKey",
        "method": "get",
        "site": "acme",
        "provider": "oauth:client-1",
        "status": 503,
        "body": [{"message": "down"}],
        "headers": {"X-Trace": "abc"},
        "retryAfter": 7,
        "latencyMs": 250,
        "probability": 0.5,
        "times": 3,
    }
    assert faults.add(spec).to_json() == spec | {
        "id": "f1",
        "method": "GET",
        "dropConnection": False,
        "hits": 0,
    }


def test_to_json_of_a_minimal_rule_keeps_nulls() -> None:
    assert fault_set().add({"latencyMs": 10}).to_json() == {
        "id": "f1",
        "operation": None,
        "method": None,
        "site": None,
        "provider": None,
        "status": None,
        "body": None,
        "headers": {},
        "retryAfter": None,
        "latencyMs": 10,
        "dropConnection": False,
        "probability": 1.0,
        "times": None,
        "hits": 0,
    }


@pytest.mark.parametrize(
    ("spec", "retry_after"),
    [
        pytest.param({"status": 429}, 1, id="429-defaults-to-1"),
        pytest.param({"status": 429, "retryAfter": 30}, 30, id="429-given"),
        pytest.param({"status": 503}, None, id="503-none-by-default"),
        pytest.param({"status": 503, "retryAfter": 5}, 5, id="503-given"),
        pytest.param({"status": 500}, None, id="500"),
    ],
)
def test_retry_after_default(spec: dict[str, Any], retry_after: int | None) -> None:
    assert fault_set().add(spec).retry_after == retry_after


def test_rule_keeps_its_own_copy_of_the_posted_body() -> None:
    body = {"errors": [{"message": "x"}]}
    rule = fault_set().add({"status": 400, "body": body})
    body["errors"].clear()
    assert rule.body == {"errors": [{"message": "x"}]}
    shown = rule.to_json()
    shown["body"]["errors"].clear()
    assert rule.body == {"errors": [{"message": "x"}]}


def test_shown_rule_can_be_posted_again() -> None:
    faults = fault_set()
    rule = faults.add({"site": "acme", "status": 429, "headers": {"X-A": "1"}, "times": 2})
    again = rule.to_json()
    del again["id"], again["hits"]
    assert faults.add(again).to_json() == rule.to_json() | {"id": "f2"}


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"latencyMs": 1}, id="latency-only"),
        pytest.param({"dropConnection": True}, id="drop-only"),
        pytest.param({"dropConnection": True, "latencyMs": 100}, id="drop-after-latency"),
        pytest.param({"status": 500, "latencyMs": 100}, id="status-after-latency"),
        pytest.param({"status": 500, "body": None, "headers": {}, "operation": None}, id="explicit-nulls"),
        pytest.param({"status": 100}, id="lowest-status"),
        pytest.param({"status": 599}, id="highest-status"),
        pytest.param({"status": 413, "body": "too big"}, id="any-json-body"),
        pytest.param({"status": 500, "probability": 1}, id="probability-as-integer"),
        pytest.param({"status": 500, "probability": 1e-9}, id="tiny-probability"),
        pytest.param({"status": 500, "method": "patch"}, id="any-method-without-operation"),
        pytest.param({"status": 500, "operation": "deleteDeploymentsByProperty", "method": "DELETE"}, id="m+op"),
    ],
)
def test_valid_specs_are_accepted(spec: dict[str, Any]) -> None:
    assert fault_set().add(spec).id == "f1"


# ---- spec validation ------------------------------------------------------------------------------------

ALL_KEYS = (
    "body, dropConnection, headers, latencyMs, method, operation, probability, provider, "
    "retryAfter, site, status, times"
)
OPS = (
    "one of submitDeployments, deleteDeploymentsByProperty, getDeploymentByKey, deleteDeploymentByKey, "
    "getDeploymentGatingStatusByKey (or null for any)"
)
STATUS = "status must be an HTTP status from 100 to 599 (or null for latency only), got "
PROBABILITY = "probability must be a number greater than 0 and at most 1, got "
LATENCY = "latencyMs must be a whole number of milliseconds >= 0, got "
TIMES = "times must be a whole number >= 1 (or null for unlimited), got "
HEADERS = "headers must be an object of header names to header values, all strings without control characters, got "
NOTHING = "the rule does nothing: give a status, a latencyMs above 0, or dropConnection"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param([1], "a fault rule must be a JSON object, got [1]", id="not-an-object"),
        pytest.param({"statusCode": 429}, "unknown key 'statusCode' (did you mean 'status'?)", id="typo"),
        pytest.param(
            {"status": 500, "latency_ms": 5},
            "unknown key 'latency_ms' (did you mean 'latencyMs'?)",
            id="snake-case",
        ),
        pytest.param({"status": 500, "id": "f9"}, f"unknown key 'id' (known keys: {ALL_KEYS})", id="id"),
        pytest.param({"status": 500, "operation": "submit"}, f'operation must be {OPS}, got "submit"', id="op"),
        pytest.param({"status": 600}, STATUS + "600", id="status-600"),
        pytest.param({"status": 99}, STATUS + "99", id="status-99"),
        pytest.param({"status": "429"}, STATUS + '"429"', id="status-string"),
        pytest.param({"status": 429.0}, STATUS + "429.0", id="status-float"),
        pytest.param({"status": True}, STATUS + "true", id="status-bool"),
        pytest.param({"status": 500, "probability": 0}, PROBABILITY + "0", id="probability-0"),
        pytest.param({"status": 500, "probability": 1.5}, PROBABILITY + "1.5", id="probability-above-1"),
        pytest.param({"status": 500, "probability": -0.1}, PROBABILITY + "-0.1", id="probability-negative"),
        pytest.param({"status": 500, "probability": "0.5"}, PROBABILITY + '"0.5"', id="probability-string"),
        pytest.param({"status": 500, "probability": math.nan}, PROBABILITY + "nan", id="probability-nan"),
        pytest.param({"status": 500, "probability": None}, PROBABILITY + "null", id="probability-null"),
        pytest.param({"latencyMs": -1}, LATENCY + "-1", id="latency-negative"),
        pytest.param({"latencyMs": 1.5}, LATENCY + "1.5", id="latency-fraction"),
        pytest.param({"status": 500, "times": 0}, TIMES + "0", id="times-0"),
        pytest.param({"status": 500, "times": -2}, TIMES + "-2", id="times-negative"),
        pytest.param(
            {"status": 429, "retryAfter": 0},
            "retryAfter must be a whole number of seconds >= 1, got 0",
            id="ra-0",
        ),
        pytest.param(
            {"status": 500, "method": "G ET"},
            'method must be an HTTP method name such as GET (or null for any), got "G ET"',
            id="method-space",
        ),
        pytest.param(
            {"status": 500, "provider": "my-app"},
            "provider must be 'connect:<appKey>' or 'oauth:<clientId>' (or null for any), got \"my-app\"",
            id="provider-without-kind",
        ),
        pytest.param(
            {"status": 500, "site": ""}, 'site must be a site name (or null for any), got ""', id="site-empty"
        ),
        pytest.param({"status": 500, "headers": {"Bad Name": "x"}}, HEADERS + '"Bad Name"', id="header-name"),
        pytest.param({"status": 500, "headers": {"X-A": "a\r\nB: c"}}, HEADERS + '"a\\r\\nB: c"', id="header-crlf"),
        pytest.param({"status": 500, "headers": {"X-A": "a\n"}}, HEADERS + '"a\\n"', id="header-trailing-lf"),
        pytest.param({"status": 500, "headers": {"X-A\n": "a"}}, HEADERS + '"X-A\\n"', id="header-name-trailing-lf"),
        pytest.param(
            {"status": 500, "method": "GET\n"},
            'method must be an HTTP method name such as GET (or null for any), got "GET\\n"',
            id="method-trailing-lf",
        ),
        pytest.param({"status": 500, "headers": {"X-A": 1}}, HEADERS + "1", id="header-number"),
        pytest.param({"status": 500, "headers": ["X-A"]}, HEADERS + '["X-A"]', id="headers-list"),
        pytest.param({"dropConnection": "yes"}, 'dropConnection must be true or false, got "yes"', id="drop-string"),
        pytest.param({"status": 600, "times": 0}, STATUS + "600; " + TIMES + "0", id="two-errors"),
        pytest.param({}, NOTHING, id="empty"),
        pytest.param({"operation": "submitDeployments", "times": 3}, NOTHING, id="filters-only"),
        pytest.param({"latencyMs": 0, "dropConnection": False}, NOTHING, id="zero-effects"),
        pytest.param(
            {"status": 500, "dropConnection": True},
            "dropConnection sends no answer, so it takes no status",
            id="drop-with-status",
        ),
        pytest.param({"latencyMs": 5, "body": {}}, "body needs a status to answer with", id="body-no-status"),
        pytest.param(
            {"latencyMs": 5, "headers": {"X-A": "1"}},
            "headers needs a status to answer with",
            id="headers-no-status",
        ),
        pytest.param(
            {"dropConnection": True, "retryAfter": 3},
            "retryAfter needs a status to answer with",
            id="ra-no-status",
        ),
        pytest.param(
            {"status": 500, "retryAfter": 3},
            "retryAfter applies only to status 429 or 503, not 500",
            id="ra-500",
        ),
        pytest.param(
            {"status": 500, "operation": "getDeploymentByKey", "method": "post"},
            "method POST never matches getDeploymentByKey, which is GET",
            id="method-against-operation",
        ),
    ],
)
def test_invalid_spec_is_refused_with_a_precise_message(spec: Any, message: str) -> None:
    faults = fault_set()
    with pytest.raises(FaultSpecError) as caught:
        faults.add(spec)
    assert str(caught.value) == message
    assert faults.rules() == []


@given(st.dictionaries(st.sampled_from([*SPEC_KEYS, "extra"]), json_values, max_size=8))
def test_any_json_spec_is_accepted_or_refused_with_fault_spec_error(spec: dict[str, Any]) -> None:
    try:
        rule = fault_set().add(spec)
    except FaultSpecError as exc:
        assert str(exc)
    else:
        assert rule.status is not None or rule.latency_ms > 0 or rule.drop_connection


def test_a_rule_names_a_declared_operation_by_its_own_method() -> None:
    faults = fault_set()
    for operation in OPERATIONS:
        faults.add({"operation": operation.id, "method": operation.method, "status": 500})
    with pytest.raises(FaultSpecError, match="never matches"):
        faults.add({"operation": "submitDeployments", "method": "GET", "status": 500})
    with pytest.raises(FaultSpecError, match="operation must be one of"):
        faults.add({"operation": "submitDeploymentz", "status": 500})


# ---- token bucket ---------------------------------------------------------------------------------------


def test_bucket_allows_a_burst_then_one_call_per_interval() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=2, burst=3, now=clock.now())
    assert [bucket.take(clock.now()) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(clock.now()) == 0.5
    clock.advance(0.25)
    assert bucket.take(clock.now()) == 0.25
    clock.advance(0.25)
    assert bucket.take(clock.now()) == 0.0
    assert bucket.take(clock.now()) == 0.5


def test_refused_call_takes_nothing() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=1, burst=1, now=clock.now())
    assert bucket.take(clock.now()) == 0.0
    assert [bucket.take(clock.now()) for _ in range(5)] == [1.0] * 5
    clock.advance(1)
    assert bucket.take(clock.now()) == 0.0


def test_bucket_refills_at_its_rate_up_to_the_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=10, burst=5, now=clock.now())
    for _ in range(5):
        bucket.take(clock.now())
    clock.advance(0.3)
    assert bucket.available(clock.now()) == pytest.approx(3)
    clock.advance(3600)
    assert bucket.available(clock.now()) == 5
    assert sum(bucket.take(clock.now()) == 0.0 for _ in range(10)) == 5


def test_steady_rate_after_the_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=4, burst=2, now=clock.now())
    allowed = 0
    for _ in range(400):  # 10 s in steps of 25 ms
        allowed += bucket.take(clock.now()) == 0.0
        clock.advance(0.025)
    assert allowed == 2 + 4 * 10 - 1  # the burst, then 4 per second; the last refill lands after the loop


def test_clock_going_back_adds_no_tokens() -> None:
    bucket = TokenBucket(rate=1, burst=1, now=100.0)
    assert bucket.take(100.0) == 0.0
    assert bucket.take(50.0) == 1.0
    assert bucket.take(100.5) == 0.5


def test_retry_after_of_a_refusal_is_the_ceiling_of_the_wait() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=0.4, burst=1, now=clock.now())
    bucket.take(clock.now())
    wait = bucket.take(clock.now())
    assert wait == 2.5
    assert retry_after_headers(wait, clock.now())["Retry-After"] == "3"
    clock.advance(3)
    assert bucket.take(clock.now()) == 0.0


times_and_bucket = st.tuples(
    st.floats(0.01, 1000),
    st.integers(1, 50),
    st.floats(0, 2e9),
    st.lists(st.floats(0, 5), min_size=1, max_size=60),
)


@given(times_and_bucket)
def test_bucket_never_allows_more_than_burst_plus_rate_times_elapsed(case: Any) -> None:
    rate, burst, start, steps = case
    bucket = TokenBucket(rate, burst, start)
    now, allowed_at = start, []
    for step in steps:
        now += step
        if bucket.take(now) == 0.0:
            allowed_at.append(now)
    # over every window [a, b] of the run, not only from the start
    for i, a in enumerate(allowed_at):
        for j in range(i, len(allowed_at)):
            assert j - i + 1 <= burst + rate * (allowed_at[j] - a) + 1e-6


@given(st.floats(0.01, 1000), st.integers(1, 20), st.floats(0, 1000), st.lists(st.floats(0, 2), max_size=40))
def test_waiting_the_advertised_time_is_always_enough(rate: float, burst: int, start: float, steps: Any) -> None:
    bucket = TokenBucket(rate, burst, start)
    now = start
    for step in steps:
        now += step
        wait = bucket.take(now)
        if wait:
            assert wait > 0
            assert bucket.take(now + wait) == 0.0
            now += wait


# ---- per-site rate limits -------------------------------------------------------------------------------


def test_rate_limits_are_off_by_default() -> None:
    limits = RateLimits()
    assert all(limits.check("acme", 1000.0) == 0.0 for _ in range(10_000))
    assert limits.get("acme") is None
    assert limits.sites() == []


def test_rate_limit_applies_to_its_site_only() -> None:
    clock = ManualClock()
    limits = RateLimits()
    limits.set("acme", rate=1, burst=2, now=clock.now())
    assert [limits.check("acme", clock.now()) for _ in range(3)] == [0.0, 0.0, 1.0]
    assert limits.check("globex", clock.now()) == 0.0
    assert limits.get("acme") == {"rate": 1.0, "burst": 2, "available": 0.0}
    clock.advance(1.5)
    assert limits.get("acme", clock.now()) == {"rate": 1.0, "burst": 2, "available": 1.5}


def test_setting_a_limit_again_replaces_it_with_a_full_bucket() -> None:
    limits = RateLimits()
    limits.set("acme", rate=1, burst=1, now=0.0)
    limits.check("acme", 0.0)
    limits.set("acme", rate=5, burst=3, now=0.0)
    assert limits.get("acme") == {"rate": 5.0, "burst": 3, "available": 3.0}


def test_clear_one_site_or_all() -> None:
    limits = RateLimits()
    for site in ("a", "b", "c"):
        limits.set(site, rate=1, burst=1, now=0.0)
        limits.check(site, 0.0)
    limits.clear("a")
    limits.clear("unknown")
    assert limits.sites() == ["b", "c"]
    assert limits.check("a", 0.0) == 0.0
    limits.clear()
    assert limits.sites() == []
    assert limits.check("b", 0.0) == 0.0


@pytest.mark.parametrize(
    ("site", "rate", "burst", "message"),
    [
        pytest.param("", 1, 1, 'site must be a site name, got ""', id="site-empty"),
        pytest.param(None, 1, 1, "site must be a site name, got null", id="site-null"),
        pytest.param("a", 0, 1, "rate must be a number of calls per second above 0, got 0", id="rate-0"),
        pytest.param("a", -1.5, 1, "rate must be a number of calls per second above 0, got -1.5", id="rate-neg"),
        pytest.param("a", math.inf, 1, "rate must be a number of calls per second above 0, got inf", id="rate-inf"),
        pytest.param("a", "2", 1, 'rate must be a number of calls per second above 0, got "2"', id="rate-str"),
        pytest.param("a", True, 1, "rate must be a number of calls per second above 0, got true", id="rate-bool"),
        pytest.param("a", 1, 0, "burst must be a whole number >= 1, got 0", id="burst-0"),
        pytest.param("a", 1, 2.5, "burst must be a whole number >= 1, got 2.5", id="burst-fraction"),
        pytest.param("a", 1, True, "burst must be a whole number >= 1, got true", id="burst-bool"),
    ],
)
def test_bad_rate_limit_is_refused(site: Any, rate: Any, burst: Any, message: str) -> None:
    limits = RateLimits()
    with pytest.raises(FaultSpecError) as caught:
        limits.set(site, rate=rate, burst=burst, now=0.0)
    assert str(caught.value) == message
    assert limits.sites() == []


# ---- Retry-After and X-RateLimit-Reset ------------------------------------------------------------------


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("seconds", "now", "retry_after", "reset"),
    [
        pytest.param(0.2, "2026-03-01T12:00:00", "1", "2026-03-01T12:01Z", id="fraction-rounds-up"),
        pytest.param(0.0, "2026-03-01T12:00:00", "1", "2026-03-01T12:01Z", id="at-least-one-second"),
        pytest.param(1.0, "2026-03-01T11:59:59", "1", "2026-03-01T12:00Z", id="exactly-on-the-minute"),
        pytest.param(2.5, "2026-03-01T12:00:10", "3", "2026-03-01T12:01Z", id="ceil"),
        pytest.param(90, "2026-12-31T23:59:30", "90", "2027-01-01T00:01Z", id="across-the-year"),
        pytest.param(1, "2026-03-01T11:59:59.5", "1", "2026-03-01T12:01Z", id="never-early"),
    ],
)
def test_retry_after_headers(seconds: float, now: str, retry_after: str, reset: str) -> None:
    assert retry_after_headers(seconds, at(now)) == {"Retry-After": retry_after, "X-RateLimit-Reset": reset}
