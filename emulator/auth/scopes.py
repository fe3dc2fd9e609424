"""Connect app scopes and their implication: ADMIN ⊃ PROJECT_ADMIN ⊃ DELETE ⊃ WRITE ⊃ READ (auth.md)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

HIERARCHY = ("READ", "WRITE", "DELETE", "PROJECT_ADMIN", "ADMIN")

_RANK = {scope: rank for rank, scope in enumerate(HIERARCHY)}


def normalize_scope(scope: str) -> str:
    """Upper-case a scope name; ASCII only, so look-alikes such as "wrıte" (dotless i) do not become WRITE."""
    return scope.upper() if scope.isascii() else scope


def scope_satisfies(granted: Iterable[str], required: str) -> bool:
    """Whether the granted scopes include required or a scope that implies it; unknown names grant nothing.

    An unknown required scope is a programming error and raises ValueError.
    """
    needed = _RANK.get(normalize_scope(required))
    if needed is None:
        raise ValueError(f"unknown required scope {required!r}; expected one of {', '.join(HIERARCHY)}")
    if isinstance(granted, frozenset):  # what installed apps hold: the answer is remembered
        return _satisfies(granted, needed)
    return any(_rank(scope) >= needed for scope in granted)


@lru_cache(maxsize=1024)
def _satisfies(granted: frozenset[object], needed: int) -> bool:
    return any(_rank(scope) >= needed for scope in granted)


def _rank(scope: object) -> int:
    # Descriptors are JSON, so a granted entry may not even be a string; such entries grant nothing.
    return _RANK.get(normalize_scope(scope), -1) if isinstance(scope, str) else -1
