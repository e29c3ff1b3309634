"""What a request asks of the database, read from its route, method and headers."""

from __future__ import annotations

import math
import re
from typing import Any

from litestar import Request

from service.db.intent import SAFE_METHODS, Intent
from service.db.lsn import parse_lsn
from service.db.record import EXCLUDE_KEY
from service.db.selection import Demand
from service.db.sticky import COOKIE, StickyWindow
from service.problems import InvalidHeader, Problem


def resolve_intent(method: str, route_intent: Intent | None, consistency: str | None) -> Intent:
    """A route option or an unsafe method makes a write; a header can only strengthen a read."""
    value = None if consistency is None else consistency.strip().lower()
    if value is not None and value not in ("strong", "eventual"):
        raise InvalidHeader("X-DB-Consistency", "must be 'strong' or 'eventual'")
    if route_intent is Intent.WRITE or method.upper() not in SAFE_METHODS:
        return Intent.WRITE
    if value == "strong":
        return Intent.STRONG_READ
    return route_intent or Intent.READ


def route_intent(value: object) -> Intent | None:
    """The route option `opt={"db_intent": ...}`: an Intent or its value."""
    if value is None or isinstance(value, Intent):
        return value
    try:
        return Intent(value)
    except ValueError:
        # The app's own mistake, not the client's: a 500 naming it.
        raise Problem(
            f"route option db_intent={value!r} is not one of write, read, strong_read"
        ) from None


def sticky_token(request: Request[Any, Any, Any], sticky: StickyWindow | None) -> int | None:
    """The LSN a genuine, unexpired sticky cookie carries; a forged or garbled one is no token."""
    if sticky is None:
        return None
    value = sticky.lsn(request.cookies.get(COOKIE))
    if value is None:
        return None
    try:
        return parse_lsn(value)
    except InvalidHeader:
        return None


_DURATION = re.compile(r"^\s*(\d{1,9}(?:\.\d{1,6})?)\s*(ms|s)?\s*$")
_MAX_STALENESS_HEADER = "X-DB-Max-Staleness"


def parse_staleness(value: str) -> float:
    """`250ms`, `2s` or `2` (seconds) as seconds; anything else is the client's 400."""
    match = _DURATION.match(value)
    if match is None:
        raise InvalidHeader(
            _MAX_STALENESS_HEADER, "must be a duration like 250ms or 2s (zero or more)"
        )
    number, unit = match.groups()
    return float(number) / 1000 if unit == "ms" else float(number)


def route_staleness(value: object) -> float | None:
    """The route option `opt={"db_max_staleness": seconds}`."""
    if value is None:
        return None
    bound = float(value)  # type: ignore[arg-type]
    if not math.isfinite(bound) or bound < 0:
        raise Problem(f"route option db_max_staleness={value!r} is not a duration in seconds")
    return bound


def demand_of(request: Request[Any, Any, Any], cookie_token: int | None) -> Demand:
    # One pass over the raw headers (ASGI lowercases their names): a request rarely carries
    # any X-DB-* header, and building Litestar's Headers for three lookups cost more.
    consistency = min_lsn = staleness = None
    for name, value in request.scope["headers"]:
        if name.startswith(b"x-db-"):
            if name == b"x-db-consistency" and consistency is None:
                consistency = value.decode("latin-1")
            elif name == b"x-db-min-lsn" and min_lsn is None:
                min_lsn = value.decode("latin-1")
            elif name == b"x-db-max-staleness" and staleness is None:
                staleness = value.decode("latin-1")
    opt = request.route_handler.opt
    intent = resolve_intent(request.method, route_intent(opt.get("db_intent")), consistency)
    bound = parse_staleness(staleness) if staleness is not None else None
    route_bound = route_staleness(opt.get("db_max_staleness"))
    if route_bound is not None:
        bound = route_bound if bound is None else min(bound, route_bound)
    exclude: frozenset[str] = request.scope["state"].get(EXCLUDE_KEY, frozenset())
    return Demand(intent, parse_lsn(min_lsn) if min_lsn else cookie_token, bound, exclude)
