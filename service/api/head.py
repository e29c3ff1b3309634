"""HEAD on every GET route, and an `Allow` header that lists exactly the methods a path takes.

Litestar routes HEAD only to `@head` handlers and answers 405 before any middleware runs, so
this wraps the app's ASGI handler (where Litestar itself puts CORS): a HEAD request is handled
as a GET and its body is dropped. `Content-Length` stays the GET's, as RFC 9110 allows.

`Allow` (on a 405, and on the answer to OPTIONS) then lists HEAD wherever GET is listed; on
OPTIONS it is taken from the route itself, as Litestar's own can miss a method registered on
the same path after the first.
"""

from __future__ import annotations

from typing import cast

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send


class HeadAsGet:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["method"] == "GET":
            await self.app(scope, receive, send)  # the hot path: nothing to change
            return
        if scope["method"] != "HEAD":
            await self.app(scope, receive, _truthful_allow(scope, send))
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy: the server reads the original scope's method to know it sends no body.
        as_get = cast(HTTPScope, {**scope, "method": "GET"})
        await self.app(as_get, receive, _truthful_allow(as_get, without_body))


def _truthful_allow(scope: Scope, send: Send) -> Send:
    async def fixed(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableScopeHeaders.from_message(message)
            allow = headers.get("allow")
            if allow is not None:
                methods = _route_methods(scope) or {m.strip() for m in allow.split(",")}
                if "GET" in methods:
                    methods.add("HEAD")
                headers["allow"] = ", ".join(sorted(methods))
        await send(message)

    return fixed


def _route_methods(scope: Scope) -> set[str] | None:
    """The methods of the route this request was routed to (None before routing found one)."""
    template = scope.get("path_template")
    app = scope.get("litestar_app")
    if template is None or not isinstance(app, Litestar):
        return None
    for route in app.routes:
        if route.path_format == template or route.path == template:
            return set(getattr(route, "methods", ()))
    return None
