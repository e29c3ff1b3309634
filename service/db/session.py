"""The session a handler gets: one connection on one node, a deadline on every wait."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.deadline import Abortable, Deadline
from service.db.errors import (
    DRIVER_ERRORS,
    CommitFailedError,
    DatabaseProblem,
    NodeUnavailableError,
    statement_problem,
    translate,
)
from service.db.nodes import Node
from service.db.query import ReadQuery
from service.db.routing import Intent

log = logging.getLogger("switchyard.db")
T = TypeVar("T")
# A rollback or a close that takes longer than this is abandoned with its connection.
_GOODBYE_DEADLINE = 2.0


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
            driver = cast(Any, _driver(self.conn))
            args = [params[name] for name in query.names]
            return cast(
                "Mapping[str, Any] | None", await self.bounded(driver.fetchrow(query.sql, *args))
            )
        row = (await self.execute(query.statement, params)).first()
        return None if row is None else cast("Mapping[str, Any]", row._mapping)

    async def fetch_all(
        self, query: ReadQuery, params: Mapping[str, Any]
    ) -> list[Mapping[str, Any]]:
        """Every row of a compiled read, as mappings."""
        if self.node.server_read_only:
            driver = cast(Any, _driver(self.conn))
            args = [params[name] for name in query.names]
            return cast(
                "list[Mapping[str, Any]]", await self.bounded(driver.fetch(query.sql, *args))
            )
        rows = (await self.execute(query.statement, params)).all()
        return [cast("Mapping[str, Any]", row._mapping) for row in rows]

    async def bounded(
        self, wait: Awaitable[T], seconds: float | None = None, *, abandonable: bool = True
    ) -> T:
        """Await `wait` on this session's connection, aborting the connection at the deadline.

        While it waits the deadline is registered on the node, so the health monitor can fire
        it early when it finds the node down.
        """
        deadline = Deadline(_driver(self.conn), seconds or self._deadline)
        if abandonable:
            self.node.inflight.add(deadline)
        try:
            return await wait
        except DRIVER_ERRORS as exc:
            if deadline.connection_lost:
                # Whatever the exception says, a connection that is gone failed as a node;
                # a deadline of our own says only that this statement was slow.
                await _discard(self.conn)
                raise NodeUnavailableError(
                    self.node.name, self._why(deadline), node_fault=not deadline.fired
                ) from None
            problem = translate(exc, self.node.name)
            if isinstance(problem, NodeUnavailableError):
                await _discard(self.conn)
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


def _driver(conn: AsyncConnection) -> Abortable:
    """The asyncpg connection under a checked-out SQLAlchemy connection (no I/O)."""
    assert conn.sync_connection is not None
    driver = conn.sync_connection.connection.driver_connection
    assert driver is not None
    return cast(Abortable, driver)


async def _discard(conn: AsyncConnection) -> None:
    """Drop a connection whose deadline fired; its socket is already aborted, so nothing waits."""
    if not conn.invalidated:
        await conn.invalidate()


async def checkout(node: Node) -> AsyncConnection:
    """A connection from the node's pool, or a 503 once its checkout or connect timeout passes."""
    # No timer of our own: the pool's checkout timeout and asyncpg's connect timeout bound
    # both waits, and neither leaves anything waiting on the server when it fires.
    try:
        return await node.engine.connect()
    except PoolTimeoutError:
        raise NodeUnavailableError(node.name, "its pool is exhausted", node_fault=False) from None
    except (DBAPIError, InterfaceError, OSError) as exc:
        raise translate(exc, node.name) or NodeUnavailableError(
            node.name, "connection failed"
        ) from exc


class SessionScope:
    """Open a session; on exit commit it when the block succeeded, else roll it back.

    A read on a connection the server holds read-only runs in autocommit (one round trip per
    statement); any other read runs in a READ ONLY transaction (`BEGIN READ ONLY`, no extra
    round trip). A class rather than a generator-based context manager: this is on every
    request's path, and generator layers cost.
    """

    __slots__ = ("_deadline", "_intent", "_node", "_session")

    def __init__(self, node: Node, intent: Intent, deadline: float) -> None:
        self._node = node
        self._intent = intent
        self._deadline = deadline
        self._session: DbSession | None = None

    @property
    def _transactional(self) -> bool:
        return self._intent is Intent.WRITE or not self._node.server_read_only

    async def __aenter__(self) -> DbSession:
        node, intent = self._node, self._intent
        _refuse_if_failed(node)
        await node.gate.enter()
        node.sessions += 1
        conn: AsyncConnection | None = None
        try:
            _refuse_if_failed(node)  # found dead while this request queued for it
            conn = await checkout(node)
            session = DbSession(conn, node, intent, self._deadline)
            if self._transactional:
                if intent is not Intent.WRITE:
                    await conn.execution_options(postgresql_readonly=True)
                await conn.begin()
        except BaseException:
            await self._release(conn)
            raise
        self._session = session
        return session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        session = self._session
        assert session is not None
        try:
            if self._transactional and not session.conn.invalidated:
                if session.intent is not Intent.WRITE or exc_type is not None:
                    # A read-only transaction has nothing to commit: its answer is already
                    # computed, so a failure to end it only loses the connection.
                    await rollback_quietly(session)
                else:
                    await _commit(session)
                    session.commit_lsn = await _insert_lsn_after_commit(session)
        finally:
            await self._release(session.conn)

    async def _release(self, conn: AsyncConnection | None) -> None:
        """Return the connection to its pool (or close it), never waiting on a gone server."""
        try:
            if conn is not None and not conn.invalidated:
                driver = _driver(conn)
                if driver.is_closed():  # aborted by a deadline that fired after the answer
                    await conn.invalidate()
                elif self._node.gate.pooled:
                    await conn.close()  # back into the pool: no I/O
                else:
                    # Under NullPool, close() waits for the server to hang up.
                    deadline = Deadline(driver, _GOODBYE_DEADLINE)
                    try:
                        await conn.close()
                    finally:
                        deadline.cancel()
        finally:
            self._node.sessions -= 1
            self._node.gate.leave()


def _refuse_if_failed(node: Node) -> None:
    if node.health.failed:
        raise NodeUnavailableError(
            node.name, node.health.last_error or "marked down", node_fault=False
        )


async def rollback_quietly(session: DbSession) -> None:
    """Roll back after a failed handler; a rollback that cannot reach the server discards."""
    if session.conn.invalidated:
        return
    try:
        await session.bounded(session.conn.rollback(), _GOODBYE_DEADLINE)
    except (DBAPIError, DatabaseProblem, OSError):
        await _discard(session.conn)


async def _commit(session: DbSession) -> None:
    """COMMIT within the deadline; a failure there is a problem response, never a 500."""
    node = session.node.name
    try:
        # Not abandonable on a false alarm: a COMMIT cut off leaves its outcome unknown.
        await session.bounded(session.conn.commit(), abandonable=False)
    except NodeUnavailableError as exc:
        raise CommitFailedError(
            node, "the connection was lost; the write may or may not have been applied"
        ) from exc
    except DBAPIError as exc:
        await rollback_quietly(session)
        raise CommitFailedError.from_error(exc, node) from exc


async def _insert_lsn_after_commit(session: DbSession) -> str | None:
    """The primary's WAL insert position after COMMIT: the client's read-your-writes token.

    The insert position, not `pg_current_wal_lsn()`: with asynchronous commit the latter can
    lag the commit record. Run on the driver connection so no transaction wraps it. The write
    has committed by now, so a failure here drops the token instead of failing the request.
    """
    driver = cast(Any, _driver(session.conn))
    try:
        lsn = await session.bounded(driver.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    except Exception as exc:  # the write stands either way; only the token is lost
        await _discard(session.conn)
        log.warning(
            "node %s: committed, but no LSN token (%s)", session.node.name, type(exc).__name__
        )
        return None
    return str(lsn)
