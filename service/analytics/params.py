"""Report parameters: parsed from the query string into a msgspec Struct, described for the catalog.

A report's parameters are a `ReportParams` subclass: field types, `Meta` bounds and defaults are
the validation, and the same declaration is what `GET /analytics` shows, so the two never drift.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeVar

import msgspec

Status = Literal["pending", "completed", "cancelled", "refunded"]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")]
# A naive timestamp would be read in whatever time zone the server runs in: demand an offset.
Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True)]


class ReportParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every report's parameters: unknown names are errors, not silently ignored."""


P = TypeVar("P", bound=ReportParams)


class ParamError(ValueError):
    """A parameter is missing, malformed or out of range; `field` names it as the client sent it."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


# msgspec names the field in one of these shapes; `__post_init__` checks use "name: message".
_FIELD_PATTERNS = (
    re.compile(r" - at `\$\.(\w+)`"),
    re.compile(r"(?:missing required|contains unknown) field `(\w+)`"),
    re.compile(r"^(\w+): "),
)


def parse_params(cls: type[P], items: Iterable[tuple[str, str]]) -> P:
    """Query-string pairs to a validated `cls`; a repeated name is ambiguous, hence an error."""
    values: dict[str, str] = {}
    for name, value in items:
        if name in values:
            raise ParamError(name, "given more than once")
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL: refused here, or it fails in the database.
            raise ParamError(name, "must not contain NUL")
        values[name] = value
    try:
        # strict=False: query values are text, so "30" may become an int, a date, ...
        params = msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise _param_error(str(exc)) from None
    _check_timestamps(params)
    return params


def _check_timestamps(params: ReportParams) -> None:
    """Every timestamp must exist in UTC, which is how the driver sends it.

    `0001-01-01T00:00:00+01:00` is year 0 in UTC and `9999-12-31T23:59:59-01:00` year 10000:
    Python's datetime holds neither, and the driver would fail on them with an overflow.
    """
    for name, value in msgspec.structs.asdict(params).items():
        if isinstance(value, dt.datetime):
            try:
                value.astimezone(dt.UTC)
            except OverflowError:
                field = _client_name(params, name)
                raise ParamError(
                    field, "must lie between 0001-01-01 and 9999-12-31 in UTC"
                ) from None


def _client_name(params: ReportParams, attribute: str) -> str:
    """The name the client used (`from`) for an attribute (`from_`)."""
    info = msgspec.inspect.type_info(type(params))
    assert isinstance(info, msgspec.inspect.StructType)
    return next(field.encode_name for field in info.fields if field.name == attribute)


def _param_error(message: str) -> ParamError:
    for pattern in _FIELD_PATTERNS:
        if match := pattern.search(message):
            field = match.group(1)
            rest = (message[: match.start()] + message[match.end() :]).strip() or message
            return ParamError(field, rest)
    return ParamError(None, message)


def bind_values(params: ReportParams) -> dict[str, Any]:
    """The statement's bind values, keyed by attribute name (`from_`, not the public `from`)."""
    return msgspec.structs.asdict(params)


def echo(params: ReportParams) -> dict[str, Any]:
    """The parameters as the client names them, defaults filled in: what the report ran with."""
    echoed: dict[str, Any] = msgspec.to_builtins(params)
    return echoed


_TYPE_NAMES: dict[type[msgspec.inspect.Type], str] = {
    msgspec.inspect.IntType: "integer",
    msgspec.inspect.FloatType: "number",
    msgspec.inspect.StrType: "string",
    msgspec.inspect.BoolType: "boolean",
    msgspec.inspect.DateType: "date",
    msgspec.inspect.DateTimeType: "datetime",
    msgspec.inspect.DecimalType: "decimal",
    msgspec.inspect.LiteralType: "string",
}


def describe_params(cls: type[ReportParams]) -> list[dict[str, Any]]:
    """One catalog entry per parameter: name, type, required, default, and its bounds."""
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return [_describe_field(field) for field in info.fields]


def _describe_field(field: msgspec.inspect.Field) -> dict[str, Any]:
    kind, description = _unwrap(field.type)
    entry: dict[str, Any] = {
        "name": field.encode_name,
        "type": _TYPE_NAMES.get(type(kind), "string"),
        "required": field.required,
        "default": None if field.required else msgspec.to_builtins(field.default),
    }
    if description:
        entry["description"] = description
    entry.update(_bounds(kind))
    return entry


def _unwrap(kind: msgspec.inspect.Type) -> tuple[msgspec.inspect.Type, str | None]:
    """Strip `X | None` and `Annotated[..., Meta(description=...)]` down to the value's type."""
    description = None
    if isinstance(kind, msgspec.inspect.UnionType):
        kind = next(t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType))
    if isinstance(kind, msgspec.inspect.Metadata):
        description = (kind.extra_json_schema or {}).get("description")
        kind = kind.type
    return kind, description


def _bounds(kind: msgspec.inspect.Type) -> dict[str, Any]:
    if isinstance(kind, msgspec.inspect.LiteralType):
        return {"enum": list(kind.values)}
    pairs: dict[str, Any]
    if isinstance(kind, msgspec.inspect.IntType | msgspec.inspect.FloatType):
        pairs = {"minimum": kind.ge, "maximum": kind.le}
    elif isinstance(kind, msgspec.inspect.StrType):
        pairs = {
            "pattern": kind.pattern,
            "min_length": kind.min_length,
            "max_length": kind.max_length,
        }
    elif isinstance(kind, msgspec.inspect.DateTimeType):
        pairs = {"timezone_required": kind.tz}
    else:
        pairs = {}
    return {key: value for key, value in pairs.items() if value is not None}
