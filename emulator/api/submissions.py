"""A submit request's parser, for any family: a fast path for requests valid as a whole, and the full one.

``Parser.parse`` first decodes the body with msgspec into the family's declared structs (``bodies/``), which
carry every limit of the 2026 schema, with unknown members, nulls where a value is required, coercions and
anything else unusual refused (the items' string patterns are matched after decoding, all values of a
pattern at once: ``patterns.py``). A request that passes, and whose formats (``check`` in the declaration) and
cross-field rules hold, is accepted whole: the result is what the full validator would give, and each
entity's stored body is encoded straight from its struct. Every other request goes to the full validator
(``validator.py``, pydantic, imported on first use), which alone decides what is a 400 and words every
message. Both are derived from the one declaration; tests hold their answers equal.
"""

from __future__ import annotations

import operator
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from msgspec import Meta, Struct

from emulator.api.bodies.types import all_date_times, all_uris
from emulator.domain.model import EntityInput, Key

if TYPE_CHECKING:
    from emulator.api.patterns import Unpatterned


class RequestInvalid(Exception):
    """The whole request is a 400: Jira answers a bare JSON array of {"message": ...}."""

    messages: list[str]

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class RejectedInput(Struct, frozen=True):
    key: Key
    messages: list[str]


class Submission(Struct, frozen=True):
    properties: dict[str, str]
    items: list[EntityInput | RejectedInput]
    provider_metadata: dict[str, Any] | None
    deprecated_issue_keys_used: bool


@dataclass(frozen=True)
class Shapes:
    """What the parser needs of one family's submit request, besides its declared structs."""

    request: type[Struct]  # the request's struct; its ClassVar ``items_field`` names the list of entities
    key_fields: type[Struct]  # the part of an item that must be readable for a rejection of it alone
    key_of: Callable[[Any], Key]  # an item's key, from a validated key_fields model
    # a decoded item, its body encoded into the buffer, its key the one in the key table (added if missing)
    fast_input: Callable[[Any, bytearray, dict[Key, Key]], EntityInput]
    full_input: Callable[[dict[str, Any], Any], EntityInput]  # an item's data as GET returns it, its model
    messages: Mapping[str, str] = field(default_factory=dict)  # the family's own texts, by pydantic error type
    item: type[Struct] = field(init=False)

    def __post_init__(self) -> None:
        items = typing.get_type_hints(self.request, include_extras=True)[self.items_attribute]
        object.__setattr__(self, "item", _strip(typing.get_args(_strip(items))[0]))

    @property
    def items_field(self) -> str:
        return str(self.request.items_field)  # type: ignore[attr-defined]

    @cached_property
    def items_attribute(self) -> str:
        """The attribute of the request struct that holds the entities (read on every request)."""
        return _snake(self.items_field)

    @property
    def max_items(self) -> int:
        """The most entities one request may submit (its list's declared ``max_length``)."""
        items = typing.get_type_hints(self.request, include_extras=True)[self.items_attribute]
        return next(m.max_length for m in typing.get_args(items)[1:] if isinstance(m, Meta) and m.max_length)


KEY_TABLE_SIZE = 256  # entity keys a parser's key table keeps from one request to the next


class Parser:
    """Parses one family's submit requests.

    Its key table holds the key objects of the entities it read lately, each the key of itself: a client
    submits an entity several times (in progress, then done), and its writes then share one key object,
    which the queue's and the store's dicts find by identity, without comparing tuples. Before each request
    the table lets go of its oldest keys past ``KEY_TABLE_SIZE``, so that it holds a constant number once
    full, whatever the store holds; keys are immutable values, so sharing them changes nothing else."""

    def __init__(self, shapes: Shapes) -> None:
        self.shapes = shapes
        self._keys: dict[Key, Key] = {}

    def parse(self, body: bytes) -> Submission:
        """The submission; RequestInvalid when it is a 400 as a whole."""
        fast = self.parse_valid(body)
        if fast is not None:
            return fast
        return self.validator.validate(body)

    @cached_property
    def validator(self) -> Any:
        from emulator.api.validator import Validator  # pydantic: on the first request with a problem

        return Validator(self.shapes)

    @cached_property
    def _unpatterned(self) -> Unpatterned:
        """The request's structs as the fast decoder reads them, their items' patterns checked apart (made
        on the first submit, as the decoder is)."""
        from emulator.api.patterns import Unpatterned

        return Unpatterned(self.shapes.request, self.shapes.items_attribute)

    @cached_property
    def _decoder(self) -> msgspec.json.Decoder[Any]:
        """Built on the first submit: msgspec reads every struct's field types then, time start-up does not need."""
        return msgspec.json.Decoder(self._unpatterned.request)

    @cached_property
    def _rules(self) -> _ItemRules:
        return _ItemRules.of(self.shapes.item)

    def parse_valid(self, body: bytes) -> Submission | None:
        """The fast path: the Submission of a request every entity of which is valid and plainly spelled, or
        None to leave the request to the full validator."""
        try:
            request = self._decoder.decode(body)
        except (msgspec.MsgspecError, ValueError):  # ValueError: UnicodeDecodeError on invalid UTF-8
            return None
        items = getattr(request, self.shapes.items_attribute)
        if not (self._rules.hold(items) and self._unpatterned.hold(items)):
            return None
        buffer = bytearray()  # each entity is encoded into it, then copied out at its exact size
        fast_input, keys = self.shapes.fast_input, self._keys
        keep_newest(keys, KEY_TABLE_SIZE)
        entities: list[EntityInput | RejectedInput] = [fast_input(item, buffer, keys) for item in items]
        metadata = request.provider_metadata
        product = None if metadata is None else metadata.product
        return Submission(
            properties=as_text(request.properties),
            items=entities,
            provider_metadata=None if metadata is None else ({} if product is None else {"product": product}),
            deprecated_issue_keys_used=self._rules.uses_issue_keys(items),
        )


class _ItemRules(Struct, frozen=True):
    """What msgspec does not check of decoded items, read from their declaration: formats (``check``), a group
    total (``max_total_values``), and that one of ``required_any`` is given. Each rule reads all of a request's
    items in one ``map`` (a C loop) where it can: a request holds up to a hundred."""

    formats: dict[str, list[Callable[[Any], Any]]]  # format -> getters of one value per item (None: absent)
    walks: dict[str, list[tuple[str, ...]]]  # format -> paths through lists, walked item by item
    totals: tuple[tuple[Callable[[Any], Any], int], ...]  # (the item's groups, most values of all of them)
    required_any: Callable[[Any], tuple[Any, ...]] | None  # the members of which one must be given
    absent: tuple[None, ...]  # what required_any reads when none is given
    required_each: tuple[Callable[[Any], Any], ...]  # each of those members alone
    issue_keys: Callable[[Any], Any] | None  # the deprecated issueKeys member (never empty when given)

    @classmethod
    def of(cls, item: type[Struct]) -> _ItemRules:
        formats: dict[str, list[Callable[[Any], Any]]] = {"uri": [], "date-time": []}
        walks: dict[str, list[tuple[str, ...]]] = {"uri": [], "date-time": []}
        totals = []
        for path, meta in _checked(item, ()):
            extra = meta.extra or {}
            if "check" in extra and "*" in path:
                walks[extra["check"]].append(path)
            elif "check" in extra:
                formats[extra["check"]].append(operator.attrgetter(".".join(path)))
            if "max_total_values" in extra:
                totals.append((operator.attrgetter(".".join(path)), extra["max_total_values"]))
        required = [_snake(name) for name in getattr(item, "required_any", ())]
        required_any = operator.attrgetter(*required) if len(required) > 1 else None
        issue_keys = operator.attrgetter("issue_keys") if "issue_keys" in item.__struct_fields__ else None
        each = tuple(operator.attrgetter(name) for name in required) if required_any is not None else ()
        return cls(formats, walks, tuple(totals), required_any, (None,) * len(required), each, issue_keys)

    def hold(self, items: list[Any]) -> bool:
        if self.lacks_required(items):
            return False  # a rejection: the full validator words it
        for groups_of, limit in self.totals:
            if _all_values(map(groups_of, items)) <= limit:
                continue  # all of the request's values together are within one item's limit
            for groups in filter(None, map(groups_of, items)):
                if len(groups) > 1 and sum(map(len, map(_VALUES, groups))) > limit:
                    return False  # one group is bounded by its own limit: only several can pass the total
        return all_uris(list(self._values("uri", items))) and all_date_times(self._values("date-time", items))

    def lacks_required(self, items: list[Any]) -> bool:
        """Whether an item gives none of ``required_any``. A member that every item gives settles it at once:
        a client mostly sends the same members with each."""
        if all(None in map(given, items) for given in self.required_each):
            return self.required_any is not None and self.absent in map(self.required_any, items)
        return False

    def _values(self, check: str, items: list[Any]) -> set[str]:
        """The distinct values of a request's items that must pass ``check`` (items mostly share some)."""
        values: set[str] = set()
        for get in self.formats[check]:
            values.update(map(get, items))
        for path in self.walks[check]:
            for item in items:
                _walk(item, path, values)
        values.discard(None)
        return values

    def uses_issue_keys(self, items: list[Any]) -> bool:
        return self.issue_keys is not None and any(map(self.issue_keys, items))


_VALUES = operator.attrgetter("values")


def _all_values(groups_of_items: Iterable[Any]) -> int:
    """How many values the items' groups (each item's list of groups, or None) hold together."""
    total = 0
    for groups in groups_of_items:
        if groups:
            for group in groups:
                total += len(group.values)
    return total


def _checked(struct: type[Struct], path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Meta]]:
    """(attribute path, Meta) of every annotated field of ``struct``, down through structs and lists; a
    list's items are ``*`` in the path."""
    hints = typing.get_type_hints(struct, include_extras=True)
    for info in msgspec.structs.fields(struct):
        yield from _checked_type(hints[info.name], (*path, info.name))


def _checked_type(kind: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Meta]]:
    origin = typing.get_origin(kind)
    if origin is Annotated:
        base, *metas = typing.get_args(kind)
        yield from ((path, meta) for meta in metas if isinstance(meta, Meta))
        yield from _checked_type(base, path)
    elif origin in (typing.Union, types.UnionType):
        for member in typing.get_args(kind):
            yield from _checked_type(member, path)
    elif origin in (list, tuple):
        yield from _checked_type(typing.get_args(kind)[0], (*path, "*"))
    elif isinstance(kind, type) and issubclass(kind, Struct):
        yield from _checked(kind, path)


def _walk(value: Any, path: tuple[str, ...], found: set[Any]) -> None:
    """The values at ``path`` (``*``: each item of a list) below ``value``, absent (None) members skipped."""
    if value is None:
        return
    if not path:
        found.add(value)
    elif path[0] == "*":
        for each in value:
            _walk(each, path[1:], found)
    else:
        _walk(getattr(value, path[0]), path[1:], found)


def _strip(kind: Any) -> Any:
    while typing.get_origin(kind) is Annotated:
        kind = typing.get_args(kind)[0]
    return kind


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def keep_newest(table: dict[Any, Any], size: int) -> None:
    """Let go of a table's oldest entries (first added) past ``size``: a memo that holds a constant number of
    entries once full, whatever comes through it. Parsers are shared by the emulators of one process, which
    may run in threads: the keys are copied in one call (iterating the table could meet another thread's
    change), and an entry another thread let go of first is no error."""
    excess = len(table) - size
    if excess > 0:
        for oldest in list(table)[:excess]:
            table.pop(oldest, None)


# -- what both paths share ---------------------------------------------------------------------------


def as_text(properties: Mapping[str, Any] | None) -> dict[str, str]:
    """A request's properties as they are stored and matched: a numeric value (a family may take one) as its
    decimal text."""
    return {name: value if type(value) is str else str(value) for name, value in (properties or {}).items()}


TextPath = tuple[str, ...]  # JSON member names from the request down to a string; "*" for any property name


@cache
def text_limits(request: type[Struct]) -> dict[TextPath, int]:
    """The most characters each limited string of a request may hold, by its path of member names (list
    positions left out), read from its declaration."""
    import msgspec.inspect as mi

    limits: dict[TextPath, int] = {}
    _limits(mi.type_info(request), (), limits)
    return limits


def _limits(info: Any, path: TextPath, limits: dict[TextPath, int]) -> None:
    import msgspec.inspect as mi

    if isinstance(info, mi.StrType):
        if info.max_length is not None:
            limits[path] = min(limits.get(path, info.max_length), info.max_length)
        return
    inner: list[tuple[Any, TextPath]] = []  # the types within, each at its path
    if isinstance(info, mi.Metadata):
        inner = [(info.type, path)]
    elif isinstance(info, mi.StructType):
        inner = [(field_info.type, (*path, field_info.encode_name)) for field_info in info.fields]
    elif isinstance(info, (mi.ListType, mi.VarTupleType)):
        inner = [(info.item_type, path)]
    elif isinstance(info, mi.DictType):
        inner = [(info.value_type, (*path, "*"))]
    elif isinstance(info, mi.UnionType):
        inner = [(member, path) for member in info.types]
    for kind, at in inner:
        _limits(kind, at, limits)


_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # UTF-8 lead bytes of U+10000 and above
_ESCAPED_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB]")


def may_hold_astral(body: bytes) -> bool:
    """Whether a request body can hold a character outside the Basic Multilingual Plane (an emoji, say):
    in UTF-8, which starts with a byte F0 to F4, or as an escaped surrogate pair. Each search is a memchr,
    and the regex runs only on a body that has a ``\\u`` escape at all."""
    if not body.isascii() and any(lead in body for lead in _ASTRAL_LEADS):
        return True
    return b"\\" in body and b"\\u" in body and _ESCAPED_HIGH_SURROGATE.search(body) is not None


_ENCODER = msgspec.json.Encoder()
encode_json = _ENCODER.encode  # compact UTF-8 JSON
encode_into = _ENCODER.encode_into
