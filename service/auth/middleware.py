"""Litestar's authentication middleware, subclassed: who is this token, and may it do this?

401 for a missing or unknown token, 403 for a known one without the route's scope, both
before the handler (and its database session) runs. The scope check sits here rather than
in a Litestar guard: Litestar copies the route handler for every guard call, which measured
+16 µs per request against +5.5 µs for the whole check here (a database-free app, one
GET, 2,000 requests x 15 rounds, process CPU time). The token and its digest are never logged.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp, Scope

from service.auth.problems import forbidden, unauthorized
from service.auth.scopes import ScopeRules
from service.auth.tokens import TokenTable

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
        needed = _needed(self.rules, connection.scope)
        if needed is None:
            return _ANONYMOUS
        token = bearer_token(connection.scope)
        if token is None:
            raise unauthorized("missing")
        identity = self.tokens.identify(token)
        if identity is None:
            raise unauthorized("unknown")
        if needed not in identity.scopes:
            raise forbidden(needed)
        return AuthenticationResult(user=identity, auth=None)
