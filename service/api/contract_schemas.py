"""The schemas of the contract (service.api.contract): problems, headers, and request schemas as
strict as the checks the service makes (service.api.emails, money, pagination, analytics)."""

from __future__ import annotations

from typing import Any

# Whitespace as Python's str.strip() and `\s` see it, spelled out: a validator with ECMA or
# Rust regular expressions has a narrower `\s` (without U+001C..U+001F, for one).
_WS = "".join(f"\\u{ord(c):04x}" for c in map(chr, range(0x3001)) if c.isspace())
_NOT = f"[^@{_WS}\\u0000"
# normalise_email: surrounding whitespace is stripped, then one `@`, no space or NUL, a dot in
# the domain. In a path, `/`, `?`, `#` and `%` would change what the path is.
EMAIL = f"^[{_WS}]*{_NOT}]{{1,64}}@{_NOT}]+\\.{_NOT}]+[{_WS}]*$"
EMAIL_IN_PATH = f"^{_NOT}/?#%]{{1,64}}@{_NOT}/?#%]+\\.{_NOT}/?#%]+$"
CURRENCY = "^[A-Za-z]{3}$"  # parse_currency upper-cases it
# parse_amount: finite, not negative, at most 9,999,999,999.99, at most two places.
AMOUNT_TEXT = r"^\d{1,10}(\.\d{1,2})?$"
LSN = "^[ \t]*[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}[ \t]*$"
# An empty X-DB-Min-LSN is no token at all.
LSN_OR_EMPTY = "^([ \t]*[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}[ \t]*)?$"
CONSISTENCY = "^[ \t]*([Ss][Tt][Rr][Oo][Nn][Gg]|[Ee][Vv][Ee][Nn][Tt][Uu][Aa][Ll])[ \t]*$"
STALENESS = f"^[{_WS}]*[0-9]{{1,9}}(\\.[0-9]{{1,6}})?[{_WS}]*(ms|s)?[{_WS}]*$"
CURSOR = "^[A-Za-z0-9_-]{1,200}$"
MAX_ORDER_ID = 2**63 - 1

COMPONENTS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details; `type` is stable, `detail` says what to do",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "urn:switchyard:problem:<slug>"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {
                "type": ["string", "null"],
                "description": "the request field at fault",
            },
            "errors": {"type": "array", "items": {"type": "object"}},
            "header": {"type": "string", "description": "the request header at fault"},
            "node": {"type": "string", "description": "the database node concerned"},
            "limit": {"type": "integer"},
        },
    },
}


def _header(description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema}


REQUEST_ID_HEADER = _header(
    "The request's id: the client's X-Request-ID when sane, else a generated one",
    {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,128}$"},
    required=True,
)
NODE_HEADER = _header("The database node that served the request", {"type": "string"})
LSN_HEADER = _header(
    "The primary's WAL position after this write's COMMIT: send it back as X-DB-Min-LSN",
    {"type": "string", "pattern": LSN},
)
STALENESS_HEADER = _header(
    "On a replica's answer: how many seconds behind the primary it could have been",
    {"type": "string"},
)
RETRY_AFTER_HEADER = _header(
    "Whole seconds to wait before retrying", {"type": "string", "pattern": "^[0-9]+$"}, True
)


def db_request_headers() -> list[dict[str, Any]]:
    """The X-DB-* request headers the routing core reads; a malformed one is a 400."""
    return [
        {
            "name": "X-DB-Consistency",
            "in": "header",
            "required": False,
            "description": "`strong` reads from the primary; `eventual` (the default) a replica",
            "schema": {"type": "string", "pattern": CONSISTENCY},
        },
        {
            "name": "X-DB-Min-LSN",
            "in": "header",
            "required": False,
            "description": "A write's X-DB-LSN: served only by a node that has replayed it",
            "schema": {"type": "string", "pattern": LSN_OR_EMPTY},
        },
        {
            "name": "X-DB-Max-Staleness",
            "in": "header",
            "required": False,
            "description": "`250ms`, `2s`: served only by a replica at most that far behind",
            "schema": {"type": "string", "pattern": STALENESS},
        },
    ]


def tighten_parameters(parameters: list[dict[str, Any]]) -> None:
    """Path and query parameters as strict as the handlers' own checks."""
    for parameter in parameters:
        schema = parameter.setdefault("schema", {})
        name = parameter["name"]
        if name == "email" and parameter["in"] == "path":
            schema.update({"type": "string", "pattern": EMAIL_IN_PATH, "maxLength": 254})
        elif name == "order_id":
            schema.update({"type": "integer", "minimum": 1, "maximum": MAX_ORDER_ID})
        elif name == "cursor":
            parameter["schema"] = {"type": "string", "pattern": CURSOR}


_BODIES = ("CustomerIn", "CustomerBatchIn", "CustomerBatchItem", "OrderIn", "OrderStatusIn")


def tighten_bodies(components: dict[str, Any]) -> None:
    """Unknown fields are refused (forbid_unknown_fields); emails, currencies and amounts as
    their parsers take them."""
    for name in _BODIES:
        body = components.get(name)
        if body is None:
            continue
        body["additionalProperties"] = False
        properties = body.get("properties", {})
        for field in ("email", "customer_email"):
            if field in properties:
                properties[field]["pattern"] = EMAIL
        if "currency" in properties:
            properties["currency"]["pattern"] = CURRENCY
        if "total_amount" in properties:
            properties["total_amount"] = {
                "description": "A decimal string (`19.99`) or a JSON number, at most two places",
                "oneOf": [
                    {"type": "string", "pattern": AMOUNT_TEXT},
                    {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 9999999999.99,
                        "multipleOf": 0.01,
                    },
                ],
            }


_REPORT_TYPES: dict[str, dict[str, Any]] = {
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "date": {"type": "string", "format": "date"},
    # An offset is required: a naive time would be read in the server's time zone.
    "datetime": {
        "type": "string",
        "format": "date-time",
        "pattern": r"(Z|z|[+-]\d{2}:\d{2})$",
    },
}


def report_parameter(entry: dict[str, Any]) -> dict[str, Any]:
    """A report parameter from the catalog's description of it (service.analytics.params)."""
    schema = dict(_REPORT_TYPES.get(entry["type"], {"type": "string"}))
    for key, target in (
        ("minimum", "minimum"),
        ("maximum", "maximum"),
        ("pattern", "pattern"),
        ("min_length", "minLength"),
        ("max_length", "maxLength"),
        ("enum", "enum"),
    ):
        if key in entry:
            schema[target] = entry[key]
    if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
        schema["pattern"] = r"^[^\x00]*$"  # PostgreSQL text holds no NUL
    if not entry["required"] and entry["default"] is not None:
        schema["default"] = entry["default"]
    parameter: dict[str, Any] = {
        "name": entry["name"],
        "in": "query",
        "required": entry["required"],
        "schema": schema,
    }
    if "description" in entry:
        parameter["description"] = entry["description"]
    return parameter
