"""What a request asks of the database, read from its route, method and headers."""

from __future__ import annotations

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


def demand_of(request: Request[Any, Any, Any], cookie_token: int | None) -> Demand:
    intent = resolve_intent(
        request.method,
        route_intent(request.route_handler.opt.get("db_intent")),
        request.headers.get("x-db-consistency"),
    )
    header = request.headers.get("x-db-min-lsn")
    min_lsn = parse_lsn(header) if header else cookie_token
    exclude: frozenset[str] = request.scope["state"].get(EXCLUDE_KEY, frozenset())
    return Demand(intent, min_lsn, exclude)
