"""Matching the Jira surface on the raw (still percent-encoded) path, with the routes the declarations make.

Starlette's router matches the decoded path, where a ``%2F`` inside a pipeline id has become a ``/`` and
splits the id in two. Real clients do send such ids, so the Jira surface is matched here, segment by
segment on the raw path, and each parameter is decoded on its own. The routes are made from
``families.OPERATIONS``: every family's site prefix and gateway prefix, and below each, every operation's
path; one path may hold several operations (GET and DELETE of a key).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from types import MappingProxyType
from typing import Literal
from urllib.parse import unquote

from msgspec import Struct

from emulator.api.families import Family, Operation

PathFamily = Literal["site", "gateway"]
# Paths up to this long are remembered (a bounded number of them): a match is a pure function of the path.
_CACHED_PATH_CHARS = 1024


class PathEncodingError(ValueError):
    """A path parameter is not valid percent-encoded UTF-8."""


class Match(Struct, frozen=True):
    """The operations at a path (by method), the family they belong to, and the path's parameters."""

    via: PathFamily  # "site" (Connect) or "gateway" (OAuth 2.0)
    family: Family
    operations: MappingProxyType[str, Operation]  # method -> operation at this path
    params: dict[str, str]  # decoded path parameters, the cloudId among them on the gateway


class _Route(Struct, frozen=True):
    via: PathFamily
    family: Family
    segments: tuple[str, ...]  # literal segments, and "{name}" for a parameter
    operations: MappingProxyType[str, Operation]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params = {}
        for part, segment in zip(parts, self.segments, strict=True):
            if segment[0] == "{":
                params[segment[1:-1]] = part
            elif part != segment:
                return None
        return {name: _decode(value) for name, value in params.items()}


def _routes(operations: Iterable[Operation]) -> tuple[_Route, ...]:
    by_path: dict[tuple[PathFamily, Family, tuple[str, ...]], dict[str, Operation]] = {}
    for operation in operations:
        family = operation.family
        prefixes: tuple[tuple[PathFamily, str], ...] = (
            ("site", family.site_prefix),
            ("gateway", family.gateway_prefix),
        )
        for via, prefix in prefixes:
            segments = tuple(f"{prefix}/{operation.full_path}".split("/")[1:])
            by_path.setdefault((via, family, segments), {})[operation.method] = operation
    return tuple(_Route(via, family, path, MappingProxyType(ops)) for (via, family, path), ops in by_path.items())


class Router:
    """The Jira surface's routes; ``match`` answers which operations a raw path names."""

    def __init__(self, operations: Iterable[Operation]) -> None:
        self.routes = _routes(operations)
        self._remembered = lru_cache(maxsize=4096)(self._match)  # a refusal (PathEncodingError) is not kept

    def match(self, raw_path: str) -> Match | None:
        """The operations at ``raw_path`` (site-relative, context path removed), or None;
        PathEncodingError when a parameter is not percent-encoded UTF-8."""
        if len(raw_path) <= _CACHED_PATH_CHARS:
            return self._remembered(raw_path)
        return self._match(raw_path)

    def _match(self, raw_path: str) -> Match | None:
        parts = raw_path.split("/")[1:]
        if len(parts) > 1 and parts[-1] == "":  # one trailing slash is the same path
            parts = parts[:-1]
        for route in self.routes:
            params = route.match(parts)
            if params is not None:
                return Match(route.via, route.family, route.operations, params)
        return None


def _decode(segment: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise PathEncodingError(segment) from exc
