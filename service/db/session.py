"""The session a handler gets: one connection on one node, a deadline on every wait."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.deadline import Abortable, Deadline
from service.db.errors import (
    DRIVER_ERRORS,
    NodeUnavailableError,
    statement_problem,
    translate,
)
from service.db.nodes import Node
from service.db.query import ReadQuery
from service.db.routing import Intent

T = TypeVar("T")


class DbSession:
    """A connection routed by intent. Handlers never commit: the dependency owns the transaction."""

    __slots__ = ("_deadline", "commit_lsn", "conn", "intent", "node")

    def __init__(self, conn: AsyncConnection, node: Node, intent: Intent, deadline: float) -> None:
        self.conn = conn
        self.node = node
        self.intent = intent
        self._deadline = deadline
        # Set after a write commits: the token a client sends back as X-DB-Min-LSN.
        self.commit_lsn: str | None = None

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> CursorResult[Any]:
        """Run a statement within the session's deadline; a node failure becomes a 503."""
        try:
            return await self.bounded(self.conn.execute(statement, params))
        except DBAPIError as exc:
            if (problem := statement_problem(exc, self.node.name)) is not None:
                raise problem from exc
            raise

    async def fetch_one(
        self, query: ReadQuery, params: Mapping[str, Any]
    ) -> Mapping[str, Any] | None:
        """The first row of a compiled read as a mapping, or None."""
        if self.node.server_read_only:
            driver = cast(Any, driver_of(self.conn))
            args = [params[name] for name in query.names]
            return cast(
                "Mapping[str, Any] | None", await self.bounded(driver.fetchrow(query.sql, *args))
            )
        row = (await self.execute(query.statement, params)).first()
        return None if row is None else cast("Mapping[str, Any]", row._mapping)

    async def bounded(
        self, wait: Awaitable[T], seconds: float | None = None, *, abandonable: bool = True
    ) -> T:
        """Await `wait` on this session's connection, aborting the connection at the deadline.

        While it waits the deadline is registered on the node, so the health monitor can fire
        it early when it finds the node down.
        """
        deadline = Deadline(driver_of(self.conn), seconds or self._deadline)
        if abandonable:
            self.node.inflight.add(deadline)
        try:
            return await wait
        except DRIVER_ERRORS as exc:
            if deadline.connection_lost:
                # Whatever the exception says, a connection that is gone failed as a node;
                # a deadline of our own says only that this statement was slow.
                await discard(self.conn)
                raise NodeUnavailableError(
                    self.node.name, self._why(deadline), node_fault=not deadline.fired
                ) from None
            problem = translate(exc, self.node.name)
            if isinstance(problem, NodeUnavailableError):
                await discard(self.conn)
            if problem is not None:
                raise problem from exc
            raise
        finally:
            deadline.cancel()
            if abandonable:
                self.node.inflight.discard(deadline)

    def _why(self, deadline: Deadline) -> str:
        if not deadline.fired:
            return "the connection was lost"
        if self.node.health.failed:
            return "the node was found down while the statement waited"
        return f"no answer within the {self._deadline:g} s statement deadline"


def driver_of(conn: AsyncConnection) -> Abortable:
    """The asyncpg connection under a checked-out SQLAlchemy connection (no I/O)."""
    assert conn.sync_connection is not None
    driver = conn.sync_connection.connection.driver_connection
    assert driver is not None
    return cast(Abortable, driver)


async def discard(conn: AsyncConnection) -> None:
    """Drop a connection whose deadline fired; its socket is already aborted, so nothing waits."""
    if not conn.invalidated:
        await conn.invalidate()
