"""The fast decoder's structs: the declared ones with their items' string patterns lifted out, and the
check of those patterns over all of a request's items at once.

msgspec checks a ``Meta(pattern=...)`` by calling the regex once for each value it decodes; for a request
of a hundred deployments with a few issue keys each, those calls cost as much as decoding everything else
of their associations. The fast path therefore decodes into copies of the declared structs in which an
item's patterned string is a plain string (every other limit kept), then collects each pattern's values
from the decoded items, level by level and only from the structs that declare the pattern, and checks the
distinct ones as msgspec's ``re.search`` would (``all_match``: one regex call for the issue-key patterns).
A value that fails sends the request to the full validator, exactly as msgspec's own refusal would. The
copies encode to the same JSON as the declared structs: the same fields, names, order, defaults and tags.
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from typing import Annotated, Any

import msgspec
from msgspec import NODEFAULT, Meta, Struct

from emulator.api.bodies.types import all_match
from emulator.api.submissions import keep_newest

_META_ATTRIBUTES = (
    "gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "tz", "title", "description", "examples",
    "extra_json_schema", "extra",
)  # fmt: skip
_UNIONS = (typing.Union, types.UnionType)

Step = str | frozenset[type]  # an attribute; "*" for each item of a list; the struct types to keep
Found = tuple[str | type, ...]  # a route as the declaration is read: a struct type where a union is passed


@dataclass(frozen=True)
class Route:
    """Where one pattern's values are, from a request's list of items: attributes, list levels ("*", the
    first of which is the items themselves), and (below a union of structs) the struct types that declare
    the next attribute."""

    steps: tuple[Step, ...]

    def values(self, items: list[Any]) -> Iterable[Any]:
        level: Iterable[Any] = [items]
        for step in self.steps:
            if step == "*":
                level = chain.from_iterable(filter(None, level))  # absent (None) and empty lists add nothing
            elif isinstance(step, frozenset):
                level = [value for value in level if type(value) in step]
            else:
                level = map(operator.attrgetter(step), level)
        return level


MATCHED_KEPT = 1024  # values of each pattern known to match it, kept from one request to the next


class Unpatterned:
    """The fast decoder's copy of a request struct, and where the patterns it lifted out apply. It keeps the
    newest ``MATCHED_KEPT`` values of each pattern that matched it: a client names the same issues again and
    again, and a value known to match is not matched again."""

    def __init__(self, request: type[Struct], items_attribute: str) -> None:
        self._copies: dict[type, type] = {}  # a declared struct -> its copy
        self._items_attribute = items_attribute
        self._found: dict[str, list[Found]] = {}  # pattern -> routes naming declared structs
        self.request: type[Struct] = self._type(request, None)
        self.routes = {  # pattern -> the routes to its values, through the copies
            pattern: _merged([tuple(self._resolved(step) for step in steps) for steps in found])
            for pattern, found in self._found.items()
        }
        self._matched: dict[str, dict[Any, None]] = {pattern: {} for pattern in self.routes}  # insertion order

    def _resolved(self, step: str | type) -> Step:
        return frozenset({self._copies.get(step, step)}) if isinstance(step, type) else step

    def hold(self, items: list[Any]) -> bool:
        """Whether every patterned value of the decoded items matches its pattern."""
        for pattern, routes in self.routes.items():
            values: set[Any] = set()
            for route in routes:
                values.update(route.values(items))
            values.discard(None)
            matched = self._matched[pattern]
            unknown = values - matched.keys()
            if unknown:
                if not all_match(pattern, unknown):
                    return False
                matched.update(dict.fromkeys(unknown))
                keep_newest(matched, MATCHED_KEPT)
        return True

    # -- copying the declaration ----------------------------------------------------------------------

    def _type(self, kind: Any, steps: Found | None) -> Any:
        """``kind`` without patterns. ``steps`` is the route from an item to a value of ``kind``, or None
        outside the items (the request's own fields keep their patterns: msgspec checks them)."""
        origin = typing.get_origin(kind)
        if origin is Annotated:
            return self._annotated(kind, steps)
        if origin in _UNIONS:
            return self._union(kind, steps)
        args = typing.get_args(kind)
        if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            item = self._type(args[0], None if steps is None else (*steps, "*"))
            if item is args[0]:
                return kind
            return list[item] if origin is list else tuple[item, ...]  # type: ignore[valid-type]
        if isinstance(kind, type) and issubclass(kind, Struct):
            return self._struct(kind, steps)
        return kind

    def _annotated(self, kind: Any, steps: Found | None) -> Any:
        base, *metas = typing.get_args(kind)
        pattern = next((m.pattern for m in metas if isinstance(m, Meta) and m.pattern), None)
        if pattern is None or steps is None:
            copied = self._type(base, steps)
            return kind if copied is base else Annotated[(copied, *metas)]
        self._found.setdefault(pattern, []).append(steps)
        kept = [_without_pattern(m) if isinstance(m, Meta) else m for m in metas]
        return Annotated[(base, *kept)]

    def _union(self, kind: Any, steps: Found | None) -> Any:
        members = typing.get_args(kind)
        others = [m for m in members if m is not type(None)]
        copied = []
        for member in members:
            # below a union with other members than None, a route keeps only the values of the struct it
            # passes through (a value of another member has not the struct's attributes)
            is_struct = isinstance(member, type) and issubclass(member, Struct)
            own = (*steps, member) if steps is not None and is_struct and len(others) > 1 else steps
            copied.append(self._type(member, own))
        if all(c is m for c, m in zip(copied, members, strict=True)):
            return kind
        return typing.Union[tuple(copied)]  # noqa: UP007

    def _struct(self, struct: type[Struct], steps: Found | None) -> Any:
        """A struct's copy with its fields' patterns lifted out (the struct itself when it holds none). Of the
        request's own fields, only the items' are copied: the routes start there."""
        hints = typing.get_type_hints(struct, include_extras=True)
        fields = msgspec.structs.fields(struct)
        copied_types = []
        for info in fields:
            at: Found | None
            if steps is None:
                at = () if info.name == self._items_attribute else None
            else:
                at = (*steps, info.name)
            copied_types.append(self._type(hints[info.name], at))
        if all(c is hints[f.name] for c, f in zip(copied_types, fields, strict=True)):
            return struct
        return self._copy(struct, fields, copied_types)

    def _copy(self, struct: type[Struct], fields: tuple[Any, ...], kinds: list[Any]) -> type[Struct]:
        config = struct.__struct_config__
        specs = [(f.name, kind, _default(f)) for f, kind in zip(fields, kinds, strict=True)]
        copy = msgspec.defstruct(
            struct.__name__,
            specs,
            module=struct.__module__,
            rename={f.name: f.encode_name for f in fields},
            tag=config.tag,
            tag_field=config.tag_field,
            omit_defaults=config.omit_defaults,
            forbid_unknown_fields=config.forbid_unknown_fields,
            gc=config.gc,
            kw_only=True,
        )
        self._copies[struct] = copy
        return copy


def _merged(found: list[tuple[Step, ...]]) -> list[Route]:
    """One route for the routes that differ only in the struct types they keep (the members of one union
    that declare the same attribute): the items are walked once for them."""
    merged: dict[tuple[Step, ...], list[Step]] = {}
    for steps in found:
        shape = tuple("" if isinstance(step, frozenset) else step for step in steps)
        kept = merged.setdefault(shape, list(steps))
        for index, step in enumerate(steps):
            previous = kept[index]
            if isinstance(step, frozenset) and isinstance(previous, frozenset):
                kept[index] = previous | step
    return [Route(tuple(steps)) for steps in merged.values()]


def _default(info: Any) -> Any:
    if info.default_factory is not NODEFAULT:
        return msgspec.field(default_factory=info.default_factory)
    return msgspec.field(default=info.default) if info.default is not NODEFAULT else msgspec.field()


def _without_pattern(meta: Meta) -> Meta:
    return Meta(**{name: getattr(meta, name) for name in _META_ATTRIBUTES if getattr(meta, name) is not None})
