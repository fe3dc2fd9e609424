"""The entity store: one partition per (kind, site, provider), each with a property and a pipeline index.

A partition keeps ``records`` (key -> stored entity), ``by_property`` ((name, value) -> keys whose stored
properties have that pair) and ``by_pipeline`` (pipeline id -> its keys). Delete-by-properties intersects
the candidate sets starting from the smallest, so it costs what it matches, not what the store holds;
listing one pipeline reads its keys, not the partition. Dropping a partition (uninstall, reset of a
site) is O(1) for the caller.

A record's key strings are replaced by their ``sys.intern``-ed copies when it is stored: a store holds
few distinct pipeline and environment ids, repeated by every entity of a pipeline, and each parsed
request brings new copies of them. Sharing them saves memory per stored entity and, as a key's hash
reads its strings, spares lookups the cache misses of reading a separate copy per key. ``sys.intern``
drops a string once nothing refers to it, so ids that go away do not pile up.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeVar

from msgspec import Struct, field

from emulator.domain.model import Key, Provider, StoredEntity

PartitionId = tuple[str, str, Provider]  # (kind, site name, provider)
Entry = TypeVar("Entry")  # an index's entry: a (name, value) property pair, or a pipeline id


class Partition(Struct):
    records: dict[Key, StoredEntity] = field(default_factory=dict)
    by_property: dict[tuple[str, str], set[Key]] = field(default_factory=dict)
    by_pipeline: dict[str, set[Key]] = field(default_factory=dict)

    def put(self, record: StoredEntity) -> None:
        key = record.key = shared_key(record.key)
        old = self.records.get(key)
        if old is not None:
            self._unindex_properties(old)
        else:
            self.by_pipeline.setdefault(key[0], set()).add(key)
        self.records[key] = record
        for pair in record.properties.items():
            self.by_property.setdefault(pair, set()).add(key)

    def remove(self, key: Key) -> StoredEntity | None:
        old = self.records.pop(key, None)
        if old is not None:
            self._unindex_properties(old)
            _discard(self.by_pipeline, key[0], (key,))
        return old

    def _unindex_properties(self, record: StoredEntity) -> None:
        for pair in record.properties.items():
            _discard(self.by_property, pair, (record.key,))

    def matching(self, properties: Mapping[str, str]) -> list[Key]:
        """Keys whose stored properties contain every given pair (AND), in no particular order.

        The smallest candidate set is intersected with the others by ``set.intersection``, which walks
        the smaller set in C: each probe into a large set is a likely cache miss, and a C loop lets the
        processor wait for several at once where a Python loop waits for them one by one."""
        sets = []
        for pair in properties.items():
            keys = self.by_property.get(pair)
            if keys is None:
                return []
            sets.append(keys)
        if len(sets) < 2:
            return list(sets[0]) if sets else []
        sets.sort(key=len)
        return list(sets[0].intersection(*sets[1:]))

    def remove_all(self, keys: list[Key]) -> None:
        """Remove records that are all present (``matching``'s answer), as ``remove`` one by one would.

        The records go in one C loop (``map(dict.pop)``), and they leave each index set in one
        ``difference_update``, again a C loop: the records of one request share their properties dict,
        so each of its pairs loses all of them at once, instead of a lookup and a discard per record."""
        by_properties: dict[int, tuple[Mapping[str, str], list[Key]]] = {}
        for old in map(self.records.pop, keys):
            found = by_properties.get(id(old.properties))
            if found is None:
                by_properties[id(old.properties)] = (old.properties, [old.key])
            else:
                found[1].append(old.key)
        for properties, gone in by_properties.values():
            for pair in properties.items():
                _discard(self.by_property, pair, gone)
        by_pipeline: dict[str, list[Key]] = {}
        for key in keys:
            by_pipeline.setdefault(key[0], []).append(key)
        for pipeline, gone in by_pipeline.items():
            _discard(self.by_pipeline, pipeline, gone)

    def of_pipeline(self, pipeline: str) -> Iterable[Key]:
        """The keys of one pipeline, in no particular order."""
        return self.by_pipeline.get(pipeline, ())


def _discard(index: dict[Entry, set[Key]], entry: Entry, keys: Iterable[Key]) -> None:
    """Take ``keys`` out of ``index[entry]``, and the entry out of the index once it has none left."""
    remaining = index.get(entry)
    if remaining is not None:
        remaining.difference_update(keys)
        if not remaining:
            del index[entry]


def _shared(text: object) -> object:
    """The one interned copy of a string (other values, and str subclasses, which cannot be interned,
    stay as they are)."""
    return sys.intern(text) if type(text) is str else text


def shared_key(key: Key) -> Key:
    """``key`` with its strings replaced by their interned copies (of the same NamedTuple type); ``key``
    itself when they are those already, as a submitted key's are: the store then holds the key object that
    the entity's later writes carry (the submit parser's key table), and finds it by identity."""
    shared = tuple(map(_shared, key))
    return key if all(map(operator.is_, shared, key)) else tuple.__new__(type(key), shared)


def newest_first(keys: Iterable[Key]) -> list[Key]:
    """Keys by pipeline, then environment (for deployments), then number, newest first."""
    return sorted(keys, key=lambda key: (key[:-1], -key[-1]))


class EntityStore:
    """All applied entities of every kind, site and provider."""

    def __init__(self) -> None:
        self._partitions: dict[PartitionId, Partition] = {}

    def partition(self, kind: str, site: str, provider: Provider) -> Partition:
        part = self._partitions.get((kind, site, provider))
        if part is None:
            part = self._partitions[(kind, site, provider)] = Partition()
        return part

    def get(self, kind: str, site: str, provider: Provider, key: Key) -> StoredEntity | None:
        part = self._partitions.get((kind, site, provider))
        return None if part is None else part.records.get(key)

    def records_of(self, kind: str, site: str, provider: Provider) -> Mapping[Key, StoredEntity]:
        """A provider's records of one kind on a site, to read (empty, without making a partition)."""
        part = self._partitions.get((kind, site, provider))
        return {} if part is None else part.records

    def partitions(self) -> Iterator[tuple[PartitionId, Partition]]:
        yield from self._partitions.items()

    def drop(self, site: str, provider: Provider | None = None) -> dict[str, int]:
        """Forget a provider's data on a site (or every provider's), of every kind; how many records of each
        kind went."""
        doomed = [pid for pid in self._partitions if pid[1] == site and (provider is None or pid[2] == provider)]
        gone: dict[str, int] = {}
        for pid in doomed:
            gone[pid[0]] = gone.get(pid[0], 0) + len(self._partitions.pop(pid).records)
        return gone

    def clear(self) -> None:
        self._partitions = {}

    def __len__(self) -> int:
        return sum(len(p.records) for p in self._partitions.values())
