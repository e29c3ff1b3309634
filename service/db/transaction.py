"""A session's life on its node: checkout, transaction, and the end of both, never waiting on a
gone server."""

from __future__ import annotations

import logging
import warnings
from typing import Any, cast

from sqlalchemy.exc import DBAPIError, InterfaceError, MissingGreenlet
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import Pool
from sqlalchemy.pool import PoolProxiedConnection as Pooled
from sqlalchemy.util import greenlet_spawn

from service.db.deadline import Deadline
from service.db.engines import NodeEngine
from service.db.failure import FailureKind
from service.db.intent import Intent
from service.db.nodes import Node
from service.db.problems import (
    CommitFailedError,
    DatabaseProblem,
    NodeUnavailableError,
    translate,
)
from service.db.session import GOODBYE_DEADLINE, DbSession

log = logging.getLogger("switchyard.db")


async def checkout(node: Node, engine: NodeEngine) -> AsyncConnection:
    """A connection from the engine's pool, or a 503 once its checkout or connect timeout passes."""
    # No timer of our own: the pool's checkout timeout and asyncpg's connect timeout bound
    # both waits, and neither leaves anything waiting on the server when it fires.
    try:
        return await engine.engine.connect()
    except Exception as exc:
        if (problem := _checkout_problem(node, engine, exc)) is None:
            raise
        raise problem from exc


async def checkout_pooled(node: Node, engine: NodeEngine) -> Pooled:
    """The pool's own connection, without SQLAlchemy's Connection around it (a driver-first
    session's); the same 503s as `checkout`."""
    pool = engine.engine.sync_engine.pool
    try:
        if not engine.settings.pool.pool_pre_ping and (idle := _idle_connection(pool)):
            return idle
        return await greenlet_spawn(pool.connect)
    except Exception as exc:
        if (problem := _checkout_problem(node, engine, exc)) is None:
            raise
        raise problem from exc


def _checkout_problem(node: Node, engine: NodeEngine, exc: Exception) -> DatabaseProblem | None:
    """The 503 a failed checkout answers; None for anything else (a bug, raised as it is)."""
    if isinstance(exc, PoolTimeoutError):
        return NodeUnavailableError(node.name, FailureKind.POOL_EXHAUSTED)
    # Below Connection (a driver-first checkout) the pool raises the adapter's errors unwrapped.
    adapter_error = engine.engine.dialect.loaded_dbapi.Error
    if isinstance(exc, DBAPIError | InterfaceError | OSError | adapter_error):
        return translate(exc, node.name) or NodeUnavailableError(node.name, FailureKind.REFUSED)
    return None


def _idle_connection(pool: Pool) -> Pooled | None:
    """An idle pooled connection, taken without a greenlet; None when taking one needs I/O.

    A greenlet spawned this deep in a request's stack costs more than the rest of the
    checkout: in process (bench/inprocess_read.py) a plain engine's CPU per point read over
    the service's went from 1.00 with a greenlet here to 1.21 without. When
    the checkout needs I/O (a new connection, a recycled or invalidated one, a wait for a
    slot), SQLAlchemy raises MissingGreenlet before any I/O and undoes its bookkeeping as
    for a failed connect; the caller then checks out in a greenlet.
    """
    with warnings.catch_warnings():
        # On that path SQLAlchemy 2.1's asyncpg adapter has already made asyncpg's connect()
        # coroutine, and drops it unawaited: nothing was started, so nothing to warn of.
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)
        try:
            return pool.connect()
        except MissingGreenlet:
            return None


class SessionScope:
    """Open a session; on exit commit it when the block succeeded, else roll it back.

    A read on a connection the server holds read-only runs in autocommit (one round trip per
    statement); any other read runs in a READ ONLY transaction (`BEGIN READ ONLY`, no extra
    round trip). A class rather than a generator-based context manager: this is on every
    request's path, and generator layers cost.
    """

    __slots__ = ("_autocommit", "_deadline", "_engine", "_intent", "_node", "_session")

    def __init__(self, node: Node, intent: Intent, deadline: float) -> None:
        self._node = node
        self._intent = intent
        self._deadline = deadline
        self._session: DbSession | None = None
        reader = node.reader
        if intent is Intent.WRITE:
            self._engine, self._autocommit = node.writer, False
        elif reader.autocommit_reads and node.read_only_by_server():
            self._engine, self._autocommit = reader, True
        else:
            # A configured primary, or a promoted replica the server no longer holds
            # read-only: a READ ONLY transaction on the primary-shaped engine.
            self._engine, self._autocommit = node.writer, False

    async def __aenter__(self) -> DbSession:
        node, intent, engine = self._node, self._intent, self._engine
        _refuse_if_failed(node)
        await engine.gate.enter()
        node.sessions += 1
        session: DbSession | None = None
        try:
            _refuse_if_failed(node)  # found dead while this request queued for it
            if self._autocommit and engine.gate.pooled:
                pooled = await checkout_pooled(node, engine)
                session = DbSession.driver_first(
                    pooled, engine.engine, node, intent, self._deadline
                )
            else:
                conn = await checkout(node, engine)
                session = DbSession(conn, node, intent, self._deadline, self._autocommit)
            if not self._autocommit:
                if intent is not Intent.WRITE:
                    await session.conn.execution_options(postgresql_readonly=True)
                await session.conn.begin()
        except BaseException:
            await self._release(session)
            raise
        self._session = session
        return session

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        session = self._session
        assert session is not None
        try:
            if exc_type is None and session.intent is Intent.WRITE:
                try:
                    await session.flush_orm()  # a bad row fails here, before COMMIT
                except BaseException:
                    await session.close_orm()
                    await session.end_quietly(GOODBYE_DEADLINE)
                    raise
            await session.close_orm()
            if not self._autocommit and not session.invalidated:
                if session.intent is not Intent.WRITE or exc_type is not None:
                    # A read-only transaction has nothing to commit: its answer is already
                    # computed, so a failure to end it only loses the connection.
                    await session.end_quietly(GOODBYE_DEADLINE)
                else:
                    await _commit(session)
                    session.commit_lsn = await _insert_lsn_after_commit(session)
        finally:
            await self._release(session)

    async def _release(self, session: DbSession | None) -> None:
        """Return the connection to its pool (or close it), never waiting on a gone server."""
        try:
            if session is None or session.invalidated:
                return
            aborted = session.driver.is_closed()  # by a deadline that fired after the answer
            if (pooled := session.driver_only) is not None:
                if aborted or cast(Any, session.driver).is_in_transaction():
                    # A transaction left open on the driver would be the next read's stale
                    # snapshot; with no greenlet here to send ROLLBACK, the connection goes.
                    pooled.invalidate()
                else:
                    # Autocommit, and SQLAlchemy never began anything on it: the checkin's
                    # reset has nothing to send, so no greenlet is needed.
                    pooled.close()
                return
            conn = session.conn
            if aborted:
                await conn.invalidate()
            elif self._engine.gate.pooled:
                await conn.close()  # back into the pool: no I/O
            else:
                # Under NullPool, close() waits for the server to hang up.
                deadline = Deadline(session.driver, GOODBYE_DEADLINE)
                try:
                    await conn.close()
                finally:
                    deadline.cancel()
        finally:
            self._node.sessions -= 1
            self._engine.gate.leave()


def _refuse_if_failed(node: Node) -> None:
    if node.health.failed:
        raise NodeUnavailableError(node.name, FailureKind.MARKED_DOWN, node.health.last_error)


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
        await session.end_quietly(GOODBYE_DEADLINE)
        raise CommitFailedError.from_error(exc, node) from exc


async def _insert_lsn_after_commit(session: DbSession) -> str | None:
    """The primary's WAL insert position after COMMIT: the client's read-your-writes token.

    The insert position, not `pg_current_wal_lsn()`: with asynchronous commit the latter can
    lag the commit record. Run on the driver connection so no transaction wraps it. The write
    has committed by now, so a failure here drops the token instead of failing the request.
    """
    driver = cast(Any, session.driver)
    try:
        lsn = await session.bounded(driver.fetchval("SELECT pg_current_wal_insert_lsn()::text"))
    except Exception as exc:  # the write stands either way; only the token is lost
        await session.discard()
        log.warning(
            "node %s: committed, but no LSN token (%s)", session.node.name, type(exc).__name__
        )
        return None
    return str(lsn)
