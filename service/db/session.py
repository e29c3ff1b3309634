"""The session a handler gets: one connection on one node, a deadline on every wait."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import CursorResult, Executable
from sqlalchemy.exc import DBAPIError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection

from service.db.errors import (
    CommitFailedError,
    NodeUnavailableError,
    constraint_violation,
    translate,
)
from service.db.nodes import Node
from service.db.routing import Intent

log = logging.getLogger("switchyard.db")


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
        inflight = self.node.inflight
        try:
            async with asyncio.timeout(self._deadline) as deadline:
                inflight.add(deadline)
                try:
                    return await self.conn.execute(statement, params)
                finally:
                    inflight.discard(deadline)
        except TimeoutError:
            await _discard(self.conn)
            reason = (
                "the node was found down while the statement waited"
                if self.node.health.failed
                else f"no answer within the {self._deadline:g} s statement deadline"
            )
            raise NodeUnavailableError(self.node.name, reason) from None
        except DBAPIError as exc:
            if (problem := translate(exc, self.node.name) or constraint_violation(exc)) is not None:
                raise problem from exc
            raise


async def _discard(conn: AsyncConnection) -> None:
    """Close a connection whose deadline fired without waiting on its server again."""
    await conn.invalidate()


async def checkout(node: Node, timeout: float) -> AsyncConnection:
    """A connection from the node's pool, or a 503 within `timeout` (checkout plus connect)."""
    try:
        async with asyncio.timeout(timeout):
            return await node.engine.connect()
    except TimeoutError:
        raise NodeUnavailableError(node.name, f"no connection within {timeout:g} s") from None
    except PoolTimeoutError:
        raise NodeUnavailableError(node.name, "its pool is exhausted") from None
    except (DBAPIError, InterfaceError, OSError) as exc:
        raise translate(exc, node.name) or NodeUnavailableError(
            node.name, "connection failed"
        ) from exc


@asynccontextmanager
async def open_session(
    node: Node, intent: Intent, *, checkout_timeout: float, deadline: float
) -> AsyncIterator[DbSession]:
    """Open a session whose transaction commits when the block succeeds, else rolls back.

    A read on a connection the server holds read-only runs in autocommit (one round trip per
    statement); any other read runs in a READ ONLY transaction (`BEGIN READ ONLY`, no extra
    round trip).
    """
    conn = await checkout(node, checkout_timeout)
    session = DbSession(conn, node, intent, deadline)
    try:
        if intent is not Intent.WRITE and node.server_read_only:
            yield session
            return
        if intent is not Intent.WRITE:
            await conn.execution_options(postgresql_readonly=True)
        await conn.begin()
        try:
            yield session
        except BaseException:
            await _rollback_quietly(conn)
            raise
        await _commit(session)
        if intent is Intent.WRITE:
            session.commit_lsn = await _insert_lsn_after_commit(session)
    finally:
        if not conn.invalidated:
            await conn.close()


async def _rollback_quietly(conn: AsyncConnection) -> None:
    """Roll back after a failed handler; a rollback that cannot reach the server discards."""
    if conn.invalidated:
        return
    try:
        async with asyncio.timeout(2.0):
            await conn.rollback()
    except (DBAPIError, OSError, TimeoutError):
        await _discard(conn)


async def _commit(session: DbSession) -> None:
    """COMMIT within the deadline; a failure there is a problem response, never a 500."""
    try:
        async with asyncio.timeout(session._deadline):
            await session.conn.commit()
    except TimeoutError:
        await _discard(session.conn)
        raise CommitFailedError(session.node.name, "no answer to COMMIT in time") from None
    except DBAPIError as exc:
        if not session.conn.invalidated:
            await _rollback_quietly(session.conn)
        raise CommitFailedError.from_error(exc, session.node.name) from exc


async def _insert_lsn_after_commit(session: DbSession) -> str | None:
    """The primary's WAL insert position after COMMIT: the client's read-your-writes token.

    The insert position, not `pg_current_wal_lsn()`: with asynchronous commit the latter can
    lag the commit record. Run on the driver connection so no transaction wraps it. The write
    has committed by now, so a failure here drops the token instead of failing the request.
    """
    try:
        raw = await session.conn.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        async with asyncio.timeout(session._deadline):
            lsn = await driver.fetchval("SELECT pg_current_wal_insert_lsn()::text")
    except (DBAPIError, OSError, TimeoutError) as exc:
        await _discard(session.conn)
        log.warning(
            "node %s: committed, but no LSN token (%s)", session.node.name, type(exc).__name__
        )
        return None
    return str(lsn)
