"""Matching the Jira surface on the raw (still percent-encoded) path.

Starlette's router matches the decoded path, where a ``%2F`` inside a pipeline id has become a
``/`` and splits the id in two. Real clients do send such ids, so the Jira surface is matched
here, segment by segment on the raw path, and each parameter is decoded on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

SITE_PREFIX = ("rest", "deployments", "0.1")
GATEWAY_PREFIX = ("jira", "deployments", "0.1", "cloud")

OPERATIONS = {
    "submitDeployments": "POST",
    "deleteDeploymentsByProperty": "DELETE",
    "getDeploymentByKey": "GET",
    "deleteDeploymentByKey": "DELETE",
    "getDeploymentGatingStatusByKey": "GET",
}


# The operations at each kind of path; shared by every Match, read-only.
_BULK = {"POST": "submitDeployments"}
_BULK_BY_PROPERTIES = {"DELETE": "deleteDeploymentsByProperty"}
_DEPLOYMENT = {"GET": "getDeploymentByKey", "DELETE": "deleteDeploymentByKey"}
_GATING_STATUS = {"GET": "getDeploymentGatingStatusByKey"}
# Paths up to this long are remembered (a bounded number of them): a match is a pure function of the path.
_CACHED_PATH_CHARS = 1024


class PathEncodingError(ValueError):
    """A path parameter is not valid percent-encoded UTF-8."""


@dataclass(frozen=True, slots=True)
class Match:
    family: str  # "site" or "gateway"
    operations: dict[str, str]  # method -> operationId at this path (shared: never to be changed)
    pipeline_id: str | None = None
    environment_id: str | None = None
    sequence_number: str | None = None  # as sent; the handler decides what a non-number means
    cloud_id: str | None = None


def _decode(segment: str) -> str:
    try:
        return unquote(segment, errors="strict")
    except UnicodeDecodeError as exc:
        raise PathEncodingError(segment) from exc


def match(raw_path: str) -> Match | None:
    """The Jira operation(s) at ``raw_path`` (site-relative, context path removed), or None;
    PathEncodingError when a parameter is not percent-encoded UTF-8."""
    if len(raw_path) <= _CACHED_PATH_CHARS:
        return _remembered(raw_path)
    return _match(raw_path)


def _match(raw_path: str) -> Match | None:
    parts = raw_path.split("/")[1:]
    if parts and parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    cloud_id = None
    if tuple(parts[:3]) == SITE_PREFIX:
        family, rest = "site", parts[3:]
    elif tuple(parts[:4]) == GATEWAY_PREFIX and len(parts) > 4:
        family, cloud_id, rest = "gateway", _decode(parts[4]), parts[5:]
    else:
        return None
    if rest == ["bulk"]:
        return Match(family, _BULK, cloud_id=cloud_id)
    if rest == ["bulkByProperties"]:
        return Match(family, _BULK_BY_PROPERTIES, cloud_id=cloud_id)
    if len(rest) in (6, 7) and rest[0] == "pipelines" and rest[2] == "environments" and rest[4] == "deployments":
        if len(rest) == 7 and rest[6] != "gating-status":
            return None
        ops = _GATING_STATUS if len(rest) == 7 else _DEPLOYMENT
        return Match(family, ops, _decode(rest[1]), _decode(rest[3]), _decode(rest[5]), cloud_id)
    return None


# A refusal (PathEncodingError) is not remembered: lru_cache keeps only returned values.
_remembered = lru_cache(maxsize=4096)(_match)
