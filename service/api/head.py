"""HEAD on every GET route: the GET's status and headers, without its body.

Litestar routes HEAD only to `@head` handlers and answers 405 before any middleware runs, so
this wraps the app's ASGI handler (where Litestar itself puts CORS): a HEAD request is handled
as a GET and its body is dropped. `Content-Length` stays the GET's, as RFC 9110 allows.
"""

from __future__ import annotations

from typing import cast

from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy: the server reads the original scope's method to know it sends no body.
        as_get = cast(HTTPScope, {**scope, "method": "GET"})
        await self.app(as_get, receive, without_body)
