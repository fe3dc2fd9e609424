"""JSON-shaped input checked against msgspec Structs, with every problem named by its path.

``msgspec.convert`` is fast but stops at the first problem and does not show the value it refused. When
it refuses an input, ``convert`` here walks the input along the Struct's field types and collects every
problem, each with its path (``("sites", 0, "baseUrl")``), a message and the value refused, so a user
fixing a fixture or a control-surface body sees all that is wrong at once. Valid input never walks:
the walk costs only when there is something to report.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
Loc = tuple[str | int, ...]

_UNIONS = (typing.Union, types.UnionType)


class Problem:
    """One problem: where (``loc``), what kind (``unknown``, ``missing``, ``invalid``), the message, the value."""

    __slots__ = ("input", "kind", "loc", "message")

    def __init__(self, loc: Loc, kind: str, message: str, input: Any = None) -> None:
        self.loc, self.kind, self.message, self.input = loc, kind, message, input

    @property
    def path(self) -> str:
        """``sites.0.baseUrl``; empty for the input as a whole."""
        return ".".join(str(p) for p in self.loc)

    def __repr__(self) -> str:
        return f"Problem({self.loc!r}, {self.kind!r}, {self.message!r}, {self.input!r})"


class Invalid(ValueError):
    """The input does not fit the Struct; ``problems`` names every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.path or 'body'}: {p.message}" for p in problems))
        self.problems = problems


def show(value: Any) -> str:
    """The value as JSON (as the user wrote it), or its repr when it is not JSON."""
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)


def hint(key: str, known: Sequence[str]) -> str:
    """``did you mean 'status'?``, or the list of known keys when none is close."""
    import difflib  # only on a typo

    close = difflib.get_close_matches(key, known, n=1)
    return f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(known)


def convert(raw: Any, kind: type[T], *, strict: bool = True, prepare: Callable[[Any, Any], Any] | None = None) -> T:
    """``raw`` as a ``kind``; ``Invalid`` naming every problem when it is not one.

    ``prepare(raw, kind)``, when given, rewrites an input the Struct refuses before it is tried again (the
    fixtures' aliases and app descriptors); valid input in the canonical form never goes through it.
    """
    try:
        return msgspec.convert(raw, kind, strict=strict)
    except msgspec.ValidationError as exc:
        error = exc
    if prepare is not None:
        raw = prepare(raw, kind)
        try:
            return msgspec.convert(raw, kind, strict=strict)
        except msgspec.ValidationError as exc:
            error = exc
    # the walk names what msgspec refused; should it find nothing, msgspec's own message still counts
    raise Invalid(problems_of(raw, kind, strict=strict) or [Problem((), "invalid", str(error), raw)])


def problems_of(value: Any, kind: Any, *, strict: bool = True, loc: Loc = ()) -> list[Problem]:
    """Every problem of ``value`` as a ``kind`` (a Struct, or any type msgspec converts to)."""
    base = strip(kind)
    if is_struct(base) and isinstance(value, dict):
        return _struct_problems(value, base, strict, loc)
    try:
        msgspec.convert(value, kind, strict=strict)
        return []
    except msgspec.ValidationError as exc:
        error = exc
    origin = typing.get_origin(base)
    found: list[Problem] = []
    if origin in _UNIONS:
        fitting = [m for m in typing.get_args(base) if _fits(strip(m), value)]
        if len(fitting) == 1:
            found = problems_of(value, fitting[0], strict=strict, loc=loc)
    elif origin is list and isinstance(value, list):
        (item,) = typing.get_args(base)
        found = [p for i, v in enumerate(value) for p in problems_of(v, item, strict=strict, loc=(*loc, i))]
    elif origin is dict and isinstance(value, dict):
        key_kind, value_kind = typing.get_args(base)
        for k, v in value.items():
            found += problems_of(k, key_kind, strict=strict, loc=(*loc, k))
            found += problems_of(v, value_kind, strict=strict, loc=(*loc, k))
    return found or [Problem(loc, "invalid", _message(error, base, value), value)]


def _struct_problems(value: dict[str, Any], cls: type[msgspec.Struct], strict: bool, loc: Loc) -> list[Problem]:
    found: list[Problem] = []
    fields = msgspec.structs.fields(cls)
    for f in fields:
        if f.encode_name in value:
            found += problems_of(value[f.encode_name], f.type, strict=strict, loc=(*loc, f.encode_name))
        elif f.required:
            found.append(Problem((*loc, f.encode_name), "missing", "this field is required"))
    if cls.__struct_config__.forbid_unknown_fields:
        known = [f.encode_name for f in fields]
        for key in value:
            if key not in known:
                found.append(Problem((*loc, key), "unknown", f"unknown key ({hint(str(key), known)})", value[key]))
    if not found:  # every field fits: what is left is a check across fields (__post_init__)
        try:
            msgspec.convert(value, cls, strict=strict)
        except msgspec.ValidationError as exc:
            found.append(Problem(loc, "invalid", _bare(exc), value))
    return found


def prepare_aliases(value: Any, kind: Any) -> Any:
    """A copy of ``value`` in which every Struct object also accepts its fields' Python names
    (``max_issue_number`` for ``maxIssueNumber``) and has gone through the Struct's ``before`` hook."""
    base = strip(kind)
    if is_struct(base):
        if not isinstance(value, dict):
            return value
        before = getattr(base, "before", None)
        value = dict(before(value) if before is not None else value)
        for f in msgspec.structs.fields(base):
            if f.name != f.encode_name and f.name in value and f.encode_name not in value:
                value[f.encode_name] = value.pop(f.name)
            if f.encode_name in value:
                value[f.encode_name] = prepare_aliases(value[f.encode_name], f.type)
        return value
    origin = typing.get_origin(base)
    if origin in _UNIONS:
        fitting = [m for m in typing.get_args(base) if _fits(strip(m), value)]
        return prepare_aliases(value, fitting[0]) if len(fitting) == 1 else value
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(base)
        return [prepare_aliases(v, item) for v in value]
    if origin is dict and isinstance(value, dict):
        value_kind = typing.get_args(base)[1]
        return {k: prepare_aliases(v, value_kind) for k, v in value.items()}
    return value


def strip(kind: Any) -> Any:
    """``kind`` without its ``Annotated`` constraints."""
    while typing.get_origin(kind) is typing.Annotated:
        kind = kind.__origin__
    return kind


def is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _fits(base: Any, value: Any) -> bool:
    """Whether ``value`` has the JSON shape of ``base`` (an object for a Struct or dict, an array for a list)."""
    origin = typing.get_origin(base) or base
    if isinstance(value, dict):
        return is_struct(base) or origin is dict
    if isinstance(value, list):
        return origin is list
    return False


def _bare(error: msgspec.ValidationError) -> str:
    """msgspec's message without its `` - at `$...` `` suffix (the path is given separately)."""
    return str(error).split(" - at `", 1)[0]


def _message(error: msgspec.ValidationError, base: Any, value: Any) -> str:
    members = typing.get_args(base) if typing.get_origin(base) in _UNIONS else (base,)
    choices = [c for m in members if typing.get_origin(strip(m)) is typing.Literal for c in typing.get_args(strip(m))]
    if choices:
        text = "must be one of " + ", ".join(show(c) for c in choices)
        if type(None) in members:
            text += " (or null)"
    else:
        text = _bare(error)
    return text if ", got `" in text else f"{text}, got {show(value)}"
