"""What a site knows: the associations of a submitted entity split into known and unknown ones.

A site may declare its projects (issue-key prefixes, optionally with a highest issue number) and its
services. A key is known when its project is declared (and its number is in range); a site that
declares no projects knows every well-formed key, and likewise for services. Commits and repositories
are always known (see "where Jira is silent").
"""

from __future__ import annotations

from typing import Any

from emulator.domain.model import (
    ISSUE_ASSOCIATION_TYPES,
    SERVICE_ASSOCIATION_TYPE,
    Association,
    EntityInput,
)
from emulator.domain.sites import Site

Memo = dict[tuple[str, Any], bool]


class Unknown:
    """The unknown values of one request, each listed once, where it first appears."""

    def __init__(self) -> None:
        self.issue_keys: list[str] = []
        self.groups: dict[str, list[Any]] = {}

    def issue_keys_once(self) -> list[str]:
        return _once(self.issue_keys)

    def associations_once(self) -> list[dict[str, Any]]:
        return [{"associationType": kind, "values": _once(values)} for kind, values in self.groups.items()]


def known_part(site: Site, entity: EntityInput, unknown: Unknown, memo: Memo) -> EntityInput | None:
    """The entity with only the associations ``site`` knows (reporting the others in ``unknown``), or None
    when nothing valid is left. ``memo`` keeps the answers for the values of one request."""
    known_keys: list[str] = []
    for value in entity.issue_keys:
        (known_keys if _knows(site, "issueKeys", value, memo) else unknown.issue_keys).append(value)
    known_groups: list[Association] = []
    for group in entity.associations:
        keep = []
        for value in group.values:
            if _knows(site, group.type, value, memo):
                keep.append(value)
            else:
                unknown.groups.setdefault(group.type, []).append(value)
        if keep:
            known_groups.append(Association(group.type, tuple(keep)))
    if not known_keys and not known_groups:
        return None
    if len(known_keys) == len(entity.issue_keys) and known_groups == list(entity.associations):
        return entity
    return _with_known(entity, known_keys, known_groups)


def _with_known(entity: EntityInput, known_keys: list[str], known_groups: list[Association]) -> EntityInput:
    data = dict(entity.data)
    if "issueKeys" in data:
        data["issueKeys"] = known_keys
        if not known_keys:
            del data["issueKeys"]
    if "associations" in data:
        data["associations"] = [{"associationType": g.type, "values": list(g.values)} for g in known_groups]
        if not known_groups:
            del data["associations"]
    return entity.with_known(data, tuple(known_keys), tuple(known_groups))


def _once(values: list[Any]) -> list[Any]:
    """Each value once, where it first appears: an unknown key several entities of a request name is one
    unknown key (see "where Jira is silent")."""
    try:
        return list(dict.fromkeys(values))
    except TypeError:  # an unhashable value (the full validator lets no such unknown value through)
        kept: list[Any] = []
        for value in values:
            if value not in kept:
                kept.append(value)
        return kept


def _knows(site: Site, kind: str, value: Any, memo: Memo) -> bool:
    if kind in ISSUE_ASSOCIATION_TYPES:
        if not isinstance(value, str):
            return False
        found = memo.get(("issue", value))
        if found is None:
            found = memo[("issue", value)] = site.knows_issue(value)
        return found
    if kind == SERVICE_ASSOCIATION_TYPE:
        return isinstance(value, str) and site.knows_service(value)
    return True
