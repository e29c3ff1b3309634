"""Headers added to a response's start message in place, without re-reading the others.

Litestar's `MutableScopeHeaders` decodes and scans every header on each assignment; the
headers added here (X-Request-ID, X-DB-*) are the service's own and never set twice, so
appending the encoded pair is enough.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from litestar.types import Message


def response_headers(message: Message) -> list[tuple[bytes, bytes]]:
    """The start message's header list, to append to (ASGI allows any iterable there)."""
    event = cast("dict[str, Any]", message)
    headers = event.get("headers")
    if not isinstance(headers, list):
        given: Iterable[tuple[bytes, bytes]] = headers or ()
        headers = event["headers"] = list(given)
    return headers
