"""The routing core as one Litestar plugin: lifespan, the `db` dependency, the X-DB-* headers.

Any Litestar app gets routed sessions by adding `SwitchyardPlugin(settings.database)` and
asking for `db: Db` in a handler. The request's intent comes from the route option
`opt={"db_intent": "write" | "strong_read"}`, the method and `X-DB-Consistency`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Litestar, Request
from litestar.config.app import AppConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol
from litestar.response import Response
from litestar.types import Message, Scope

from service.db.errors import PROBLEM_BASE, DatabaseProblem, NodeUnavailableError
from service.db.retry import EXCLUDE_KEY, RECORD_KEY, ReadRetryMiddleware
from service.db.router import DatabaseRouter
from service.db.routing import Intent, InvalidHeaderError, parse_lsn, resolve_intent
from service.db.session import DbSession
from service.db.sticky import COOKIE, StickyWindow
from service.settings import DatabaseSettings, HealthSettings

STATE_KEY = "db_router"


@dataclass(slots=True)
class RoutingRecord:
    """Where this request's session went; read when the response starts."""

    intent: Intent
    node: str | None = None
    lsn: str | None = None
    retry_without: str | None = None  # set when a read's node failed and may be retried


class SwitchyardPlugin(InitPluginProtocol):
    def __init__(self, database: DatabaseSettings, health: HealthSettings | None = None) -> None:
        self.database = database
        self.health = health or HealthSettings()
        self._router: DatabaseRouter | None = None
        self._sticky = (
            StickyWindow(database.sticky_window, database.sticky_secret)
            if database.sticky_window > 0
            else None
        )

    @property
    def router(self) -> DatabaseRouter:
        if self._router is None:
            raise RuntimeError("the database router exists only while the app is running")
        return self._router

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.lifespan.append(self._lifespan)
        app_config.dependencies["db"] = Provide(self._provide_db)
        app_config.middleware.append(ReadRetryMiddleware)
        app_config.before_send.append(self._add_routing_headers)
        app_config.exception_handlers[DatabaseProblem] = self._problem_response
        app_config.exception_handlers[InvalidHeaderError] = _invalid_header_response
        return app_config

    @asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        self._router = DatabaseRouter(self.database, self.health)
        app.state[STATE_KEY] = self._router
        try:
            await self._router.start()
            yield
        finally:
            await self._router.stop()
            self._router = None

    async def _provide_db(self, request: Request[Any, Any, Any]) -> AsyncGenerator[DbSession, None]:
        intent = resolve_intent(
            request.method,
            _route_intent(request.route_handler.opt.get("db_intent")),
            request.headers.get("x-db-consistency"),
        )
        min_lsn_header = request.headers.get("x-db-min-lsn")
        if not min_lsn_header and self._sticky is not None:
            # A forged or garbled cookie is ignored, not an error: the client sent no token.
            min_lsn_header = self._sticky.lsn(request.cookies.get(COOKIE))
        min_lsn = parse_lsn(min_lsn_header) if min_lsn_header else None
        state = request.scope["state"]
        record = state[RECORD_KEY] = RoutingRecord(intent)
        async with self.router.session(intent, min_lsn, state.get(EXCLUDE_KEY, frozenset())) as db:
            record.node = db.node.name
            yield db
        record.lsn = db.commit_lsn

    async def _add_routing_headers(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        record = scope.get("state", {}).get(RECORD_KEY)
        if record is None or record.node is None:
            return
        headers = MutableScopeHeaders.from_message(message)
        headers["X-DB-Node"] = record.node
        if record.lsn is not None and message["status"] < 400:
            headers["X-DB-LSN"] = record.lsn
            if self._sticky is not None:
                secure = self.database.sticky_secure or scope.get("scheme") == "https"
                headers.add("Set-Cookie", self._sticky.cookie(record.lsn, secure=secure))

    def _problem_response(
        self, request: Request[Any, Any, Any], exc: DatabaseProblem
    ) -> Response[Any]:
        if isinstance(exc, NodeUnavailableError):
            if exc.node_fault:
                self.router.report_failure(exc.node, exc.detail)
            record = request.scope["state"].get(RECORD_KEY)
            if record is not None:
                record.node = exc.node
                if record.intent is not Intent.WRITE and EXCLUDE_KEY not in request.scope["state"]:
                    record.retry_without = exc.node
        return exc.to_response(request)


def _route_intent(value: object) -> Intent | None:
    if value is None or isinstance(value, Intent):
        return value
    return Intent(value)


def _invalid_header_response(
    request: Request[Any, Any, Any], exc: InvalidHeaderError
) -> Response[Any]:
    return Response(
        {
            "type": PROBLEM_BASE + "invalid-header",
            "title": "Invalid request header",
            "status": 400,
            "detail": str(exc),
            "header": exc.header,
        },
        status_code=400,
        media_type="application/problem+json",
    )
