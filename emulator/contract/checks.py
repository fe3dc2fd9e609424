"""The checks of one submitted entity that need no memory: data equal but for the updateSequenceNumber, a
lastUpdated out of time, a string over its limit in UTF-16 code units, and the highest number per group."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from emulator.contract.rules import Finding
from emulator.domain.clock import iso
from emulator.domain.model import EntityInput, Key

UNSEEN: Any = object()


def epoch(text: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(text).replace("z", "Z")).timestamp()
    except ValueError:
        return None


def _without_usn(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "updateSequenceNumber"}


# In a compact body the top-level member comes first (it is the second field); inside a string its quotes
# would be escaped, so the pattern cannot match there.
_USN_MEMBER = re.compile(rb'"updateSequenceNumber":-?[0-9]+')


def same_apart_from_usn(a: Any, b: Any) -> bool:
    """Whether two writes (DeploymentInput or StoredDeployment) carry the same data but for the
    updateSequenceNumber. Their bodies are one canonical encoding, so equal bytes settle it without
    decoding; unequal bytes may still be equal data in another key order, which the dicts settle."""
    if _USN_MEMBER.split(a.body, 1) == _USN_MEMBER.split(b.body, 1):  # the bytes before it, and after it
        return True
    return _without_usn(a.data) == _without_usn(b.data)


def overruns(
    value: Any, path: tuple[str, ...], shown: str, limits: dict[tuple[str, ...], int], owner: str
) -> list[Finding]:
    """``utf16-length`` findings for the strings in ``value`` (at ``path``, shown as ``shown``)."""
    if isinstance(value, str):
        limit = limits.get(path)
        if limit is None or len(value) > limit:  # unlimited, or already refused as too long
            return []
        units = len(value.encode("utf-16-le", "surrogatepass")) // 2
        if units <= limit:
            return []
        detail = f"{owner}: {shown} has {len(value)} characters but {units} UTF-16 code units (limit {limit})"
        return [Finding("utf16-length", detail)]
    found: list[Finding] = []
    if isinstance(value, dict):
        for name, item in value.items():
            found += overruns(item, (*path, name), f"{shown}.{name}" if shown else name, limits, owner)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += overruns(item, path, f"{shown}[{index}]", limits, owner)
    return found


def highest_per_group(keys: Sequence[Key]) -> dict[Key, int]:
    """The highest number of each group (a key without its number) among ``keys``."""
    if keys:
        # the keys' columns: a request's keys mostly share their group, and then its columns tell at once
        *groups, numbers = zip(*keys, strict=True)
        if all(column.count(column[0]) == len(column) for column in groups):
            return {keys[0][:-1]: max(numbers)}
    highest: dict[Key, int] = {}
    group, top = None, 0
    for key in keys:
        if key[:-1] != group:  # a run of keys of one group needs no dict
            if group is not None:
                highest[group] = max(highest.get(group, top), top)
            group, top = key[:-1], key[-1]
        elif key[-1] > top:
            top = key[-1]
    if group is not None:
        highest[group] = max(highest.get(group, top), top)
    return highest


def lost_update(dep: EntityInput, usn: int) -> Finding:
    grew = f"updateSequenceNumber {dep.update_sequence_number} does not grow past {usn}"
    return Finding("lost-update", f"{show(dep.key)}: {grew}, and the data differs")


def out_of_time(dep: EntityInput, updated: float, now: float) -> Finding:
    """The finding of a lastUpdated too far ahead of ``now`` (a mistake) or behind it (a risk)."""
    if updated > now:
        return Finding(
            "last-updated-in-future", f"{show(dep.key)}: lastUpdated {dep.last_updated} is ahead of {iso(now)}"
        )
    return Finding("last-updated-far-past", f"{show(dep.key)}: lastUpdated {dep.last_updated}")


def show(key: Key) -> str:
    return "(" + ", ".join(map(repr, key)) + ")"
