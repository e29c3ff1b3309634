"""X-Request-ID on every response, and every 5xx logged with it (and its traceback).

The id is the client's `X-Request-ID` when it is a sane token, else a fresh one, so a client
and an operator can find the same request in their logs. Hooked in through Litestar's
`before_send` and `after_exception`, which see every response, routing errors included.
"""

from __future__ import annotations

import itertools
import logging
import os
import re

from litestar.types import Message, Scope

from service.asgi_headers import response_headers

HEADER = "X-Request-ID"
_NAME = HEADER.lower().encode()
_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")
_ID_KEY = "switchyard.request_id"
_EXCEPTION_KEY = "switchyard.exception"

log = logging.getLogger("switchyard.http")


class _Ids:
    """Fresh ids: a random prefix per process and a counter, 32 hex digits like a UUID's.

    Unique per process lifetime, and across processes and forks by the prefix, at a fraction
    of `uuid4()`'s cost (a system call per id).
    """

    def __init__(self) -> None:
        self.reseed()
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFF_FFFF_FFFF_FFFF:016x}"


_ids = _Ids()


def request_id(scope: Scope) -> str:
    """This request's id, chosen once: the client's when sane, else a new one."""
    state = scope.setdefault("state", {})
    chosen: str | None = state.get(_ID_KEY)
    if chosen is None:
        chosen = state[_ID_KEY] = _given(scope) or _ids.next()
    return chosen


def _given(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _NAME:
            text = value.decode("latin-1")
            return text if _SANE.fullmatch(text) else None
    return None


async def remember_exception(exc: Exception, scope: Scope) -> None:
    """after_exception: keep the exception, logged with its traceback if it becomes a 5xx."""
    scope.setdefault("state", {})[_EXCEPTION_KEY] = exc


async def tag_response(message: Message, scope: Scope) -> None:
    """before_send: the id on the response; a 5xx logged with the id and any traceback."""
    if message["type"] != "http.response.start":
        return
    rid = request_id(scope)
    response_headers(message).append((_NAME, rid.encode("latin-1")))
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
