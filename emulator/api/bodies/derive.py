"""pydantic models derived from the msgspec declarations of the bodies: one declaration, two validators.

The msgspec structs of ``emulator.api.bodies`` are the one declaration of each body: the fast decoder uses
them as they are. This module turns each into the pydantic model that the full validator uses to word
every 400, and that generates the OpenAPI document's schemas: the same fields, names, types, limits,
patterns and formats, and the checks the fast path makes in Python (``check`` formats, int64 coercion,
a group's total of values). It is imported only by them, on first use: pydantic is no start-up cost.

How the declarations map:

- a struct is a model of the same name and docstring, its fields under their JSON names; unknown members
  are ignored (dropped), as Jira's Jackson binding does;
- ``Meta`` limits, patterns (``\\Z`` written as ``$``, which pydantic's regex reads as the very end) and
  ``extra_json_schema`` carry over; ``extra={"check": ...}`` adds the format's check, ``extra={"int64": True}``
  the coercion of a decimal string or integral float Jira's Java backend accepts, and
  ``extra={"max_total_values": N}`` a bound on the values of all of a field's groups together;
- a union of tagged structs is a discriminated union on the tag's field; a subclass that adds no field is
  another spelling of its parent's tag, and the parent's model takes both (the subclass's first);
- ``UNSET`` with ``extra={"default": value}`` is a field with that default;
- a struct's ``items_field`` (ClassVar) holds items validated one by one later: the list is not validated
  item by item here; ``required_any`` (ClassVar) becomes the schema's ``anyOf`` of required members.
"""

from __future__ import annotations

import re
import types
import typing
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import NODEFAULT, UNSET, Meta, Struct, UnsetType
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    SkipValidation,
    Strict,
    create_model,
)
from pydantic_core import PydanticCustomError

from emulator.api.bodies.common import Root
from emulator.api.bodies.types import CHECKS, INT64_MAX, INT64_MIN

_UNIONS = (typing.Union, types.UnionType)


class _Model(BaseModel):
    # Nulls are dropped from a request before validation (the full validator does it), not by a Python
    # validator on every model: validation then runs in pydantic-core alone.
    model_config = ConfigDict(extra="ignore", serialize_by_alias=True, frozen=True)


@cache
def model(struct: type[Struct]) -> type[BaseModel]:
    """The pydantic model of a declared struct."""
    hints = typing.get_type_hints(struct, include_extras=True)
    fields: dict[str, Any] = {}
    tag_field = struct.__struct_config__.tag_field
    if tag_field is not None:
        tags = (*(sub.__struct_config__.tag for sub in _spellings(struct)), struct.__struct_config__.tag)
        fields[_snake(tag_field)] = (Literal[tags], Field(alias=tag_field))
    items_field = getattr(struct, "items_field", None)
    for info in msgspec.structs.fields(struct):
        kind = hints[info.name]
        if info.encode_name == items_field:
            kind = _items_unchecked(kind)
        fields[info.name] = (annotation(kind), Field(_default(info, kind), alias=info.encode_name))
    config = dict(_Model.model_config)
    required_any = getattr(struct, "required_any", None)
    if required_any:
        config["json_schema_extra"] = {"anyOf": [{"required": [name]} for name in required_any]}
    base = type("_Base", (_Model,), {"model_config": config})
    made: type[BaseModel] = create_model(struct.__name__, __base__=base, __doc__=struct.__doc__, **fields)
    return made


@cache
def root_model(root: Root) -> type[BaseModel]:
    """The pydantic root model of a named non-object body."""
    root_type: Any = RootModel[annotation(root.annotation)]  # type: ignore[misc]  # a type made at run time
    made: type[BaseModel] = type(root.name, (root_type,), {"__doc__": root.doc})
    return made


def annotation(kind: Any) -> Any:
    """The pydantic annotation of a declared type."""
    origin = typing.get_origin(kind)
    if origin is Annotated:  # msgspec's Meta becomes pydantic's; other metadata (SkipValidation) stays
        base, *metas = typing.get_args(kind)
        kept = [m for m in metas if not isinstance(m, Meta)]
        found = _annotated(annotation(base), [m for m in metas if isinstance(m, Meta)])
        return Annotated[(found, *kept)] if kept else found
    if origin in _UNIONS:
        return _union([m for m in typing.get_args(kind) if m is not UnsetType])
    if origin in (list, tuple):
        return list[annotation(typing.get_args(kind)[0])]  # type: ignore[misc]
    if origin is dict:
        key, value = typing.get_args(kind)
        return dict[annotation(key), annotation(value)]  # type: ignore[misc]
    if isinstance(kind, type) and issubclass(kind, Struct):
        return model(kind)
    return kind


def _annotated(base: Any, metas: list[Meta]) -> Any:
    items: list[Any] = []
    for meta in metas:
        limits = {name: getattr(meta, name) for name in ("min_length", "max_length", "ge", "le")}
        limits = {name: value for name, value in limits.items() if value is not None}
        if meta.pattern is not None:
            limits["pattern"] = re.sub(r"\\Z$", "$", meta.pattern)
        extra = meta.extra or {}
        if extra.get("int64"):
            items.append(Strict())
        if limits or meta.extra_json_schema:
            items.append(Field(**limits, json_schema_extra=meta.extra_json_schema))
        if extra.get("int64"):
            items.append(BeforeValidator(_coerce_int64))
        if "check" in extra:
            items.append(AfterValidator(_format_check(extra["check"])))
        if "max_total_values" in extra:
            items.append(AfterValidator(_total_values_check(extra["max_total_values"])))
    return Annotated[(base, *items)] if items else base


def _union(members: list[Any]) -> Any:
    optional = type(None) in members
    members = [m for m in members if m is not type(None)]
    if len(members) > 1 and all(_is_tagged(m) for m in members):
        schemas = list(dict.fromkeys(_schema_of(m) for m in members))
        tag = _snake(str(schemas[0].__struct_config__.tag_field))
        union: Any = typing.Union[tuple(model(m) for m in schemas)]  # noqa: UP007
        found: Any = Annotated[union, Field(discriminator=tag)]
    else:
        found = typing.Union[tuple(annotation(m) for m in members)]  # noqa: UP007
    return found | None if optional else found


def _default(info: msgspec.structs.FieldInfo, kind: Any) -> Any:
    if info.default is UNSET:
        return _declared_default(kind)
    if info.default is not NODEFAULT:
        return info.default
    if info.default_factory is not NODEFAULT:
        return info.default_factory()
    return ...


def _declared_default(kind: Any) -> Any:
    """The ``extra={"default": value}`` of an UNSET field's declared type."""
    for member in typing.get_args(kind):
        for meta in typing.get_args(member)[1:] if typing.get_origin(member) is Annotated else ():
            if isinstance(meta, Meta) and meta.extra and "default" in meta.extra:
                return meta.extra["default"]
    raise TypeError(f"an UNSET field of type {kind} declares no default")


def _items_unchecked(kind: Any) -> Any:
    """``list[Item]`` (possibly annotated) as a list whose items pydantic does not validate."""
    if typing.get_origin(kind) is Annotated:
        base, *metas = typing.get_args(kind)
        return Annotated[(_items_unchecked(base), *metas)]
    return list[SkipValidation[model(typing.get_args(kind)[0])]]  # type: ignore[misc]


def tag_values(struct: type[Struct]) -> frozenset[str]:
    """The tags of every tagged struct a struct's fields reach (the values of ``associationType``, say)."""
    found: set[str] = set()
    seen: set[Any] = set()

    def walk(kind: Any) -> None:
        if kind in seen:
            return
        seen.add(kind)
        if isinstance(kind, type) and issubclass(kind, Struct):
            if kind.__struct_config__.tag is not None:
                found.add(str(kind.__struct_config__.tag))
            for each in typing.get_type_hints(kind, include_extras=True).values():
                walk(each)
        for each in typing.get_args(kind):
            walk(each)

    walk(struct)
    return frozenset(found)


def _is_tagged(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, Struct) and kind.__struct_config__.tag is not None


def _spellings(struct: type[Struct]) -> list[type[Struct]]:
    """Subclasses of a tagged struct that add no field: the same schema under another tag."""
    return [sub for sub in struct.__subclasses__() if sub.__struct_fields__ == struct.__struct_fields__]


def _schema_of(struct: type[Struct]) -> type[Struct]:
    """The struct whose model a tagged struct's tag belongs to (its parent, for another spelling)."""
    parent = struct.__mro__[1]
    return parent if _is_tagged(parent) and struct in _spellings(parent) else struct


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


_DECIMAL = re.compile(r"[+-]?[0-9]+")


def _coerce_int64(value: Any) -> Any:
    # Jira's Java backend coerces "63" to 63 (JavaScript clients send big int64s as strings) and
    # 63.0 to 63; anything else (bool, 63.5, " 63", "6.3e1") is left for the strict check to refuse.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        if len(value) > 25:
            return INT64_MIN - 1 if value.startswith("-") else INT64_MAX + 1
        return int(value)
    return value


@cache
def _format_check(name: str) -> Any:
    check = CHECKS[name]
    error = f"{name.replace('-', '_')}_format"

    def checked(value: str) -> str:
        if not check(value):
            raise PydanticCustomError(error, "not a valid {format}", {"format": name})
        return value

    return checked


@cache
def _total_values_check(limit: int) -> Any:
    def checked(groups: list[Any] | None) -> list[Any] | None:
        total = sum(len(group.values) for group in groups or ())
        if total > limit:
            raise PydanticCustomError(
                "association_values_total", "too many values", {"max_values": limit, "actual": total}
            )
        return groups

    return checked
