"""`AuthPlugin`: bearer tokens and scopes on every route, and the scheme in the OpenAPI
document. With no token table (`auth.mode` local or off) it adds nothing at all."""

from __future__ import annotations

import copy

import msgspec
from litestar.config.app import AppConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins import InitPluginProtocol, ReceiveRoutePlugin
from litestar.routes import BaseRoute, HTTPRoute

from service.auth.middleware import BearerTokenMiddleware
from service.auth.scopes import SCOPES, ScopeRules
from service.auth.tokens import TokenTable

SCHEME = "BearerToken"
_SCHEME_DOC = SecurityScheme(
    type="http",
    scheme="bearer",
    description=(
        "`Authorization: Bearer <token>`. Each operation lists the scope its token needs, one of "
        + ", ".join(f"`{s}`" for s in SCOPES)
        + ". A missing or unknown token is a 401, a token without the scope a 403."
    ),
)


class AuthProblem(msgspec.Struct, kw_only=True):
    """The body of a 401 or 403 (`scope` on a 403 only)."""

    type: str
    title: str
    status: int
    detail: str
    scope: str | None = None


_RESPONSES = {
    401: ResponseSpec(
        AuthProblem,
        description="missing or unknown bearer token (with `WWW-Authenticate: Bearer`)",
        media_type="application/problem+json",
        generate_examples=False,
    ),
    403: ResponseSpec(
        AuthProblem,
        description="the token lacks the operation's scope (named in `scope`)",
        media_type="application/problem+json",
        generate_examples=False,
    ),
}


class AuthPlugin(InitPluginProtocol, ReceiveRoutePlugin):
    def __init__(self, tokens: TokenTable | None) -> None:
        self.tokens = tokens
        self.rules = ScopeRules()

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        if self.tokens is None:
            return app_config
        openapi = app_config.openapi_config
        if openapi is not None:
            self.rules = ScopeRules(openapi.path or "/schema")  # None means Litestar's default
            components = openapi.components
            existing = components if isinstance(components, list) else [components]
            # A copy: the default config object is shared by every app in the process (and
            # dataclasses.replace would re-run its deprecation checks).
            openapi = app_config.openapi_config = copy.copy(openapi)
            openapi.components = [*existing, Components(security_schemes={SCHEME: _SCHEME_DOC})]
        # First in the list: outermost, so a refused request costs no database work.
        app_config.middleware.insert(
            0, DefineMiddleware(BearerTokenMiddleware, tokens=self.tokens, rules=self.rules)
        )
        return app_config

    def receive_route(self, route: BaseRoute) -> None:
        """Document each operation's scope (OpenAPI 3.1 lets non-OAuth schemes name roles)."""
        if self.tokens is None or not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            needed = {self.rules.required(route.path, method) for method in handler.http_methods}
            scopes: list[str] = sorted(s for s in needed if s is not None)
            requirement = {SCHEME: scopes}
            # One handler can sit on several routes (`/schema` and `/schema/`): add it once.
            if scopes and requirement not in (handler.security or ()):
                handler.security = [*(handler.security or ()), requirement]
                handler.responses = {**(handler.responses or {}), **_RESPONSES}
