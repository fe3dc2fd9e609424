"""Scopes: the implication hierarchy, case-insensitive names, unknown names grant nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.auth.scopes import HIERARCHY, normalize_scope, scope_satisfies


def test_hierarchy_order() -> None:
    assert HIERARCHY == ("READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN")


@pytest.mark.parametrize(
    ("granted", "required", "expected"),
    [
        ("READ", "READ", True),
        ("READ", "WRITE", False),
        ("WRITE", "READ", True),
        ("WRITE", "DELETE", False),
        ("DELETE", "WRITE", True),
        ("DELETE", "READ", True),
        ("PROJECT_ADMIN", "DELETE", True),
        ("PROJECT_ADMIN", "ADMIN", False),
        ("ADMIN", "DELETE", True),
        ("ADMIN", "PROJECT_ADMIN", True),
    ],
)
def test_implication(granted: str, required: str, expected: bool) -> None:
    assert scope_satisfies([granted], required) is expected


@pytest.mark.parametrize(("name", "normal"), [("read", "READ"), ("Write", "WRITE"), ("project_admin", "PROJECT_ADMIN")])
def test_normalize_scope(name: str, normal: str) -> None:
    assert normalize_scope(name) == normal


def test_lower_case_names_on_both_sides() -> None:
    assert scope_satisfies(["read", "write"], "write")
    assert scope_satisfies(["delete"], "WRITE")
    assert scope_satisfies(["DELETE"], "delete")
    assert not scope_satisfies(["write"], "delete")


@pytest.mark.parametrize(
    "granted",
    [
        [],
        ["ACT_AS_USER"],
        ["ACCESS_EMAIL_ADDRESSES"],
        ["SUPERUSER"],
        ["READ_WRITE"],
        [" ADMIN"],
        ["PROJECT-ADMIN"],
        ["ADMİN"],  # dotted capital I, must not pass as ADMIN
        ["wrıte"],  # dotless i upper-cases to I; still not WRITE
        [None, 3, ["ADMIN"]],
    ],
    ids=repr,
)
def test_unknown_scopes_grant_nothing(granted: list[str]) -> None:
    assert not any(scope_satisfies(granted, required) for required in HIERARCHY)


def test_unknown_required_scope_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown required scope"):
        scope_satisfies(["ADMIN"], "EVERYTHING")


def test_granted_may_be_any_iterable() -> None:
    assert scope_satisfies(iter(("READ", "DELETE")), "WRITE")
    assert scope_satisfies(frozenset({"admin"}), "READ")


@given(
    st.lists(st.sampled_from(HIERARCHY + tuple(s.lower() for s in HIERARCHY) + ("NOPE",))), st.sampled_from(HIERARCHY)
)
def test_satisfied_iff_some_granted_scope_ranks_at_least_as_high(granted: list[str], required: str) -> None:
    ranks = [HIERARCHY.index(s.upper()) for s in granted if s.upper() in HIERARCHY]
    assert scope_satisfies(granted, required) is any(rank >= HIERARCHY.index(required) for rank in ranks)
