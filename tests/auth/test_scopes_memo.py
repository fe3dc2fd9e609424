"""Installed apps hold their scopes as a frozenset, whose answers are remembered: they must be the answers
of any other iterable of the same scopes."""

from __future__ import annotations

import itertools

import pytest

from emulator.auth.scopes import HIERARCHY, scope_satisfies

NAMES = [*HIERARCHY, "read", "wrıte", "OTHER", ""]


@pytest.mark.parametrize("required", HIERARCHY)
def test_a_frozenset_answers_as_a_list_does(required: str) -> None:
    for size in range(3):
        for granted in itertools.combinations(NAMES, size):
            expected = scope_satisfies(list(granted), required)
            assert scope_satisfies(frozenset(granted), required) is expected
            assert scope_satisfies(frozenset(granted), required) is expected  # remembered


def test_non_string_entries_grant_nothing_in_a_frozenset_too() -> None:
    assert scope_satisfies(frozenset({1, None, ("READ",)}), "READ") is False


def test_an_unknown_required_scope_still_raises() -> None:
    with pytest.raises(ValueError, match="unknown required scope"):
        scope_satisfies(frozenset({"READ"}), "BOGUS")
