"""X-Request-ID on every response, and every 5xx logged with it (and its traceback).

The id is the client's `X-Request-ID` when it is a sane token, else a fresh one, so a client
and an operator can find the same request in their logs. Hooked in through Litestar's
`before_send` and `after_exception`, which see every response, routing errors included.
"""

from __future__ import annotations

import logging
import re
import uuid

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ID_KEY = "switchyard.request_id"
_EXCEPTION_KEY = "switchyard.exception"

log = logging.getLogger("switchyard.http")


def request_id(scope: Scope) -> str:
    """This request's id, chosen once: the client's when sane, else a new one."""
    state = scope.setdefault("state", {})
    chosen: str | None = state.get(_ID_KEY)
    if chosen is None:
        given = next(
            (value for name, value in scope.get("headers", ()) if name == b"x-request-id"), b""
        )
        text = given.decode("latin-1")
        chosen = state[_ID_KEY] = text if _SANE.fullmatch(text) else uuid.uuid4().hex
    return chosen


async def remember_exception(exc: Exception, scope: Scope) -> None:
    """after_exception: keep the exception, logged with its traceback if it becomes a 5xx."""
    scope.setdefault("state", {})[_EXCEPTION_KEY] = exc


async def tag_response(message: Message, scope: Scope) -> None:
    """before_send: the id on the response; a 5xx logged with the id and any traceback."""
    if message["type"] != "http.response.start":
        return
    rid = request_id(scope)
    MutableScopeHeaders.from_message(message)[HEADER] = rid
    status = message["status"]
    if status >= 500:
        exc = scope.get("state", {}).get(_EXCEPTION_KEY)
        log.error(
            "%s %s answered %d [request id %s]",
            scope.get("method"),
            scope.get("path"),
            status,
            rid,
            exc_info=exc,
        )
