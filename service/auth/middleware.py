"""Authentication (Litestar's authentication middleware: who is this?) and authorization
(a guard: may they do this?), both driven by the same `ScopeRules`.

The middleware answers 401 before anything else runs; the guard answers 403 once the route
is known. Neither ever logs the token or its digest.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Scope

from service.auth.problems import forbidden, unauthorized
from service.auth.scopes import ScopeRules
from service.auth.tokens import TokenIdentity, TokenTable

_ANONYMOUS = AuthenticationResult(user=None, auth=None)


def bearer_token(scope: Scope) -> str | None:
    """The token of `Authorization: Bearer <token>`, else None (absent, another scheme, empty).

    Read straight from the ASGI headers: this runs on every request, and building a Headers
    object for one value costs more than the rest of the check."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() == "bearer" and (token := token.strip()):
                return token
            return None
    return None


def _needed(rules: ScopeRules, scope: Scope) -> str | None:
    # The template, not the raw path: Litestar routes `/health/db/` to `/health/db` too.
    method: str = scope.get("method", "")  # type: ignore[assignment]  # HTTP only
    return rules.required(scope.get("path_template") or scope["path"], method)


class BearerTokenMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, tokens: TokenTable, rules: ScopeRules) -> None:
        super().__init__(app, exclude_http_methods=(), scopes={ScopeType.HTTP})
        self.tokens = tokens
        self.rules = rules

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        if _needed(self.rules, connection.scope) is None:
            return _ANONYMOUS
        token = bearer_token(connection.scope)
        if token is None:
            raise unauthorized("missing")
        identity = self.tokens.identify(token)
        if identity is None:
            raise unauthorized("unknown")
        return AuthenticationResult(user=identity, auth=None)


class ScopeGuard:
    """An app-wide guard: the authenticated token must hold the route's scope."""

    __slots__ = ("rules",)

    def __init__(self, rules: ScopeRules) -> None:
        self.rules = rules

    def __call__(self, connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        needed = _needed(self.rules, connection.scope)
        if needed is None:
            return
        user = connection.scope.get("user")
        if not isinstance(user, TokenIdentity):
            raise unauthorized("missing")  # a route the middleware did not cover: refuse
        if needed not in user.scopes:
            raise forbidden(needed)
