"""The routing core as one Litestar plugin: lifespan, the `db` dependency, the X-DB-* headers.

Any Litestar app gets routed sessions by adding `SwitchyardPlugin(settings.database)` and
asking for `db: Db` in a handler. The request's intent comes from the route option
`opt={"db_intent": "write" | "strong_read"}`, the method and `X-DB-Consistency`.

One request's path: `request.demand_of` (what it asks) -> `selection.choose` (which node) ->
`transaction.SessionScope` (the session on that node) -> `_provide_db` decides a failed
read's fate -> `_add_routing_headers` says where it went.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any

from litestar import Litestar, Request
from litestar.config.app import AppConfig
from litestar.di import NamedDependency, Provide
from litestar.plugins import InitPluginProtocol
from litestar.response import Response
from litestar.types import Message, Scope
from sqlalchemy.ext.asyncio import AsyncSession

from service.asgi_headers import response_headers
from service.db.intent import Intent
from service.db.lsn import format_lsn, parse_lsn
from service.db.problems import DatabaseProblem, NodeUnavailableError, translate
from service.db.record import EXCLUDE_KEY, RECORD_KEY, RoutingRecord
from service.db.request import demand_of, sticky_token
from service.db.retry import read_rerun
from service.db.router import DatabaseRouter
from service.db.session import DbSession
from service.db.sqlstate import DRIVER_ERRORS
from service.db.sticky import StickyWindow
from service.problems import Problem
from service.settings import DatabaseSettings, HealthSettings

STATE_KEY = "db_router"
PLUGIN_KEY = "switchyard.plugin"
log = logging.getLogger("switchyard.db")


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
        app_config.dependencies["orm"] = Provide(provide_orm)
        app_config.before_send.append(self._add_routing_headers)
        app_config.exception_handlers.setdefault(Problem, _render_problem)
        for error in DRIVER_ERRORS:
            app_config.exception_handlers.setdefault(error, _render_driver_error)
        return app_config

    @asynccontextmanager
    async def _lifespan(self, app: Litestar) -> AsyncIterator[None]:
        self._router = DatabaseRouter(self.database, self.health)
        app.state[STATE_KEY] = self._router
        app.state[PLUGIN_KEY] = self
        try:
            await self._router.start()
            yield
        finally:
            await self._router.stop()
            self._router = None

    def request_session(self, request: Request[Any, Any, Any]) -> RequestSession:
        """The request's routed session, as an async context manager: what the `db`
        dependency yields, for providers of an app's own that must run something first."""
        return RequestSession(self, request)

    async def _provide_db(self, request: Request[Any, Any, Any]) -> AsyncGenerator[DbSession, None]:
        async with RequestSession(self, request) as db:
            yield db

    def node_failed(
        self, request: Request[Any, Any, Any], record: RoutingRecord, exc: NodeUnavailableError
    ) -> None:
        """A failure caught where it happened: ban a node at fault, and mark a read (not yet
        re-run once) for a re-run elsewhere. Writes are never re-run."""
        if exc.kind.node_fault:
            self.router.report_failure(exc.node, exc.kind.value)
        record.node = exc.node
        if record.intent is not Intent.WRITE and EXCLUDE_KEY not in request.scope["state"]:
            record.retry_without = exc.node

    async def _add_routing_headers(self, message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        record: RoutingRecord | None = scope.get("state", {}).get(RECORD_KEY)
        if record is None or record.node is None:
            return
        headers = response_headers(message)
        headers.append((b"x-db-node", record.node.encode()))
        if record.staleness is not None:
            headers.append((b"x-db-staleness", b"%.3f" % record.staleness))
        if record.lsn is not None and message["status"] < 400:
            headers.append((b"x-db-lsn", record.lsn.encode()))
            if self._sticky is not None:
                # Concurrent writes from one client: the cookie never moves backwards.
                newest = parse_lsn(record.lsn)
                if record.sticky_lsn is not None and record.sticky_lsn > newest:
                    newest = record.sticky_lsn
                secure = self.database.sticky_secure or scope.get("scheme") == "https"
                cookie = self._sticky.cookie(format_lsn(newest), secure=secure)
                headers.append((b"set-cookie", cookie.encode("latin-1")))


class RequestSession:
    """One request's session: what it asks, the node chosen, the session opened there, and,
    where a failure is caught, its fate (`node_failed`). A class rather than a generator: it
    is on every request's path, and the `db` dependency is a generator around it already.

    A failure is re-raised unchanged: a dependency that swaps the exception thrown into it
    for another reaches the client as a 500 (Litestar groups them); `_render_driver_error`
    renders a raw driver error's translation.
    """

    __slots__ = ("_db", "_plugin", "_record", "_request", "_scope")

    def __init__(self, plugin: SwitchyardPlugin, request: Request[Any, Any, Any]) -> None:
        self._plugin = plugin
        self._request = request

    async def __aenter__(self) -> DbSession:
        plugin, request = self._plugin, self._request
        cookie_token = sticky_token(request, plugin._sticky)
        demand = demand_of(request, cookie_token)
        record = self._record = request.scope["state"][RECORD_KEY] = RoutingRecord(demand.intent)
        record.sticky_lsn = cookie_token
        router = plugin.router
        try:
            self._scope = router.session(demand)
            db = self._db = await self._scope.__aenter__()
        except BaseException as exc:
            self._judge(exc)
            raise
        record.node = db.node.name
        if db.node is not router.primary:
            record.staleness = db.node.staleness(asyncio.get_running_loop().time())
        return db

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._scope.__aexit__(exc_type, exc, tb)
        except BaseException as ending:
            self._judge(ending)
            raise
        if exc is not None:
            self._judge(exc)
            return
        self._record.lsn = self._db.commit_lsn

    def _judge(self, exc: BaseException) -> None:
        if isinstance(exc, NodeUnavailableError):
            self._plugin.node_failed(self._request, self._record, exc)
        elif isinstance(exc, DRIVER_ERRORS):
            # Raised past the session's own wrappers (the ORM session, raw driver calls).
            problem = translate(exc, self._record.node or "?")
            if isinstance(problem, NodeUnavailableError):
                self._plugin.node_failed(self._request, self._record, problem)


def _render_problem(request: Request[Any, Any, Any], exc: Problem) -> Response[Any]:
    return read_rerun(request) or exc.to_response(request)


def _render_driver_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A database error that escaped the session's wrappers, as the problem it means."""
    if (rerun := read_rerun(request)) is not None:
        return rerun
    record: RoutingRecord | None = request.scope["state"].get(RECORD_KEY)
    node = record.node if record is not None and record.node else "?"
    problem = translate(exc, node)
    if problem is None:
        log.error("unexpected database error on %s", node, exc_info=exc)
        problem = DatabaseProblem("the database failed the request in an unexpected way")
    return problem.to_response(request)


async def provide_orm(db: NamedDependency[DbSession]) -> AsyncSession:
    """The `orm` dependency: an AsyncSession on the request's routed connection."""
    return db.orm()
