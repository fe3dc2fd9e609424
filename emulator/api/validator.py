"""The full validator of a submit request: pydantic models derived from the family's declaration.

``Parser.parse`` (``submissions.py``) calls it for every request its fast path leaves, which is every request
with a problem, so this module is imported on first need, not at start-up. A problem that stops the request
from being processed item by item raises ``RequestInvalid`` (a 400); any other problem inside one entity
rejects only that entity, with one message per problem.

Where Jira is silent, this module decides (each decision is explained where it is made): null means
absent; int64 fields also take integral floats and decimal strings; string lengths count code points;
duplicate JSON keys keep the last value; unknown keys are dropped from ``data``; lone surrogate escapes and
numbers over 1000 characters make the request a 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from emulator.api import messages
from emulator.api.bodies.derive import model, tag_values
from emulator.api.bodies.types import MAX_NUMBER_CHARS
from emulator.api.submissions import RejectedInput, RequestInvalid, Shapes, Submission, as_text
from emulator.domain.model import EntityInput, Key

_TEMPLATES: dict[str, str] = {
    "missing": messages.REQUIRED,
    "string_type": messages.MUST_BE_STRING,
    "int_type": messages.MUST_BE_INTEGER,
    "model_type": messages.MUST_BE_OBJECT,
    "model_attributes_type": messages.MUST_BE_OBJECT,
    "dict_type": messages.MUST_BE_OBJECT,
    "list_type": messages.MUST_BE_ARRAY,
    "greater_than_equal": messages.INT64_RANGE,
    "less_than_equal": messages.INT64_RANGE,
    "literal_error": messages.ONE_OF,
    "union_tag_invalid": messages.ONE_OF,
    "union_tag_not_found": messages.REQUIRED,
    "string_too_long": messages.TOO_LONG,
    "string_pattern_mismatch": messages.PATTERN_MISMATCH,
    "too_short": messages.TOO_FEW_ITEMS,
    "too_long": messages.TOO_MANY_ITEMS,
    "uri_format": messages.INVALID_URI,
    "date_time_format": messages.INVALID_DATE_TIME,
    "association_values_total": messages.TOO_MANY_ASSOCIATION_VALUES,
}
_QUOTED = re.compile(r"'([^']*)'")


@dataclass(frozen=True)
class _Checked:
    """One entity validated once: its key, and the model or the validation error."""

    key: Key
    item: Any | None
    error: ValidationError | None


class Validator:
    """Validates one family's submit requests in full, with a message for every problem."""

    def __init__(self, shapes: Shapes) -> None:
        self.shapes = shapes
        self.request = TypeAdapter(model(shapes.request))
        self.item = TypeAdapter(model(shapes.item))
        self.key = TypeAdapter(model(shapes.key_fields))
        self.tags = tag_values(shapes.item)  # a union member's tag, which pydantic puts in an error's loc
        self.max_items = shapes.max_items
        required_any = getattr(shapes.item, "required_any", ())
        self.either = messages.EITHER.format(*required_any) if required_any else None

    def validate(self, body: bytes) -> Submission:
        """The submission; RequestInvalid when it is a 400 as a whole."""
        document = _load_json(body)
        if not isinstance(document, dict):
            raise RequestInvalid([messages.BODY_NOT_OBJECT])
        if b"null" in body:
            document = _without_nulls(document, top=True)
        request, problems = self._validate_request(document)
        raw_items = document.get(self.shapes.items_field)
        checked: list[_Checked] = []
        if isinstance(raw_items, list) and len(raw_items) <= self.max_items:
            checked, item_problems = self._check_items(raw_items)
            problems += [p for p in item_problems if p not in problems]
        if problems or request is None or not isinstance(raw_items, list):
            raise RequestInvalid(problems)
        metadata = request.provider_metadata
        return Submission(
            properties=as_text(request.properties),
            items=[self._parse_item(raw, item) for raw, item in zip(raw_items, checked, strict=True)],
            provider_metadata=None if metadata is None else metadata.model_dump(mode="json", exclude_unset=True),
            deprecated_issue_keys_used=any(raw.get("issueKeys") is not None for raw in raw_items),
        )

    def _validate_request(self, document: dict[str, Any]) -> tuple[Any, list[str]]:
        try:
            return self.request.validate_python(document), []
        except ValidationError as error:
            return None, self._messages(error, document)

    def _check_items(self, raw_items: list[Any]) -> tuple[list[_Checked], list[str]]:
        """Validate each entity once; where that fails, see whether at least its key can be read."""
        checked: list[_Checked] = []
        problems: list[str] = []
        for index, raw in enumerate(raw_items):
            try:
                item = self.item.validate_python(raw)
                checked.append(_Checked(self.shapes.key_of(item), item, None))
            except ValidationError as error:
                try:
                    checked.append(_Checked(self.shapes.key_of(self.key.validate_python(raw)), None, error))
                except ValidationError as key_error:
                    problems += self._messages(key_error, raw, (self.shapes.items_field, index))
            if _has_empty_association_values(raw) and messages.EMPTY_ASSOCIATION_VALUES not in problems:
                problems.append(messages.EMPTY_ASSOCIATION_VALUES)
        return checked, problems

    def _parse_item(self, raw: dict[str, Any], checked: _Checked) -> EntityInput | RejectedInput:
        problems = self._messages(checked.error, raw) if checked.error is not None else []
        required_any = getattr(self.shapes.item, "required_any", ())
        if required_any and all(raw.get(name) is None for name in required_any):
            problems.append(self.either)  # type: ignore[arg-type]
        if checked.item is None or problems:
            return RejectedInput(checked.key, problems)
        data = checked.item.model_dump(mode="json", exclude_unset=True)
        return self.shapes.full_input(data, checked.item)

    # -- pydantic errors to Jira-style messages ----------------------------------------------------------

    def _messages(self, error: ValidationError, document: Any, prefix: tuple[str | int, ...] = ()) -> list[str]:
        """One message per problem. A value that fits no member of a union (a property's value: a string or
        a whole number) gets one message naming what each member wants."""
        found: list[str] = []
        alternatives: dict[str, list[str]] = {}  # a union's field -> what each of its members wants
        for detail in error.errors(include_url=False, include_input=False):
            loc = self._without_union_tags(detail["loc"])
            within = _within_document(document, loc)
            text = self._message({**detail, "loc": loc[:within]}, document, prefix)
            if within < len(loc):  # the rest of loc names a union's member, not a place in the document
                field = f"'{_path(prefix + loc[:within])}' "
                alternatives.setdefault(field, []).append(text.removeprefix(field))
                text = field + " or ".join(alternatives[field])
                found = [t for t in found if not t.startswith(field)]
            if text not in found:
                found.append(text)
        return found

    def _message(self, detail: ErrorDetails, document: Any, prefix: tuple[str | int, ...]) -> str:
        loc = detail["loc"]
        ctx: dict[str, Any] = dict(detail.get("ctx") or {})
        kind = detail["type"]
        if loc and loc[-1] == "[key]":
            return messages.PROPERTY_KEY_INVALID.format(field=_path(prefix + loc[:-2]), key=loc[-2])
        if kind.startswith("union_tag"):
            loc += (_QUOTED.findall(ctx["discriminator"])[-1],)
        if "expected" in ctx or "expected_tags" in ctx:
            ctx["allowed"] = ", ".join(_QUOTED.findall(ctx.get("expected") or ctx["expected_tags"]))
        own = self.shapes.messages
        if kind == "too_short" and ctx.get("min_length") == 1 and "too_short:1" in own:
            return own["too_short:1"].format(field=_path(prefix + loc))
        if kind in ("too_short", "too_long"):
            limit = ctx.get("min_length", ctx.get("max_length"))
            ctx["noun"] = "item" if limit == 1 else "items"
            if ctx.get("field_type") == "Dictionary":
                ctx["noun"] = "entries"
            if ctx.get("actual_length") is None:  # pydantic does not count a dict's entries
                ctx["actual_length"] = _length_at(document, loc)
        template = own.get(kind) or _TEMPLATES.get(kind, messages.INVALID)
        return template.format(field=_path(prefix + loc), **ctx)

    def _without_union_tags(self, loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
        # pydantic puts the chosen tag after the list index: ('associations', 0, 'commit', 'values').
        kept: list[str | int] = []
        for part in loc:
            if not (kept and isinstance(kept[-1], int) and part in self.tags):
                kept.append(part)
        return tuple(kept)


def _path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _within_document(document: Any, loc: tuple[str | int, ...]) -> int:
    """How many leading parts of ``loc`` are places in ``document``: pydantic adds a union member's label (such
    as ``constrained-str``) after the place of a value that fits none."""
    for depth, part in enumerate(loc):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and isinstance(part, int) and 0 <= part < len(document):
            document = document[part]
        elif isinstance(part, str) and part != "[key]" and depth and not isinstance(document, dict):
            return depth  # a label: a value (not an object) has no member of that name
        else:
            return len(loc)  # a member the object lacks (a required field), or a key's own problem
    return len(loc)


def _length_at(document: Any, loc: tuple[str | int, ...]) -> int | str:
    try:
        for part in loc:
            document = document[part]
        return len(document)
    except (LookupError, TypeError):
        return "more"


def _has_empty_association_values(raw: Any) -> bool:
    groups = raw.get("associations") if isinstance(raw, dict) else None
    return isinstance(groups, list) and any(isinstance(g, dict) and g.get("values") == [] for g in groups)


def _without_nulls(value: Any, *, top: bool = False) -> Any:
    """Jackson maps an explicit null onto an absent property: a null required field is missing, a null
    optional one is left out of `data`. Every object of the request is a model except ``properties``,
    whose null values stay (and are refused as not strings)."""
    if isinstance(value, dict):
        return {k: (v if top and k == "properties" else _without_nulls(v)) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# -- the body as JSON --------------------------------------------------------------------------------


def _load_json(body: bytes) -> Any:
    try:
        # utf-8-sig: Jackson skips a byte order mark, so we do too.
        text = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestInvalid([messages.BODY_NOT_UTF8]) from None
    try:
        # The length check on integers costs a Python call per number: only pay it when a long run of
        # digits exists at all (in a string or a number).
        hook = _parse_int if _LONG_DIGITS.search(text) else None
        document = json.loads(text, parse_int=hook, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestInvalid([messages.BODY_TOO_DEEP]) from None
    except ValueError as error:  # JSONDecodeError, and the two hooks below
        raise RequestInvalid([messages.BODY_NOT_JSON.format(reason=error)]) from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
        # Lone surrogates are not Unicode text: nothing could store or answer them as UTF-8.
        raise RequestInvalid([messages.BODY_UNPAIRED_SURROGATE])
    return document


_LONG_DIGITS = re.compile(f"[0-9]{{{MAX_NUMBER_CHARS}}}")  # a number of MAX_NUMBER_CHARS may carry a sign


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(messages.NUMBER_TOO_LONG.format(max_digits=MAX_NUMBER_CHARS))
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(messages.NOT_A_JSON_NUMBER.format(constant=name))


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(document: Any) -> bool:
    # Iterative: the document may be nested right up to the recursion limit. After json.loads any
    # surrogate left in a str is unpaired (a valid pair became one astral character).
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and _SURROGATE.search(value):
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
