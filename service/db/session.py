"""The session a handler gets: one connection on one node, a deadline on every wait."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, TypeVar, cast

import asyncpg
from sqlalchemy import CursorResult, Executable, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.pool import PoolProxiedConnection as Pooled

from service.db import sqlstate as codes
from service.db.deadline import Abortable, Deadline
from service.db.failure import FailureKind
from service.db.intent import Intent
from service.db.nodes import Node
from service.db.problems import (
    DatabaseProblem,
    NodeUnavailableError,
    StatementTimeoutError,
    statement_problem,
)
from service.db.problems import translate as translate_error
from service.db.query import ReadQuery

T = TypeVar("T")
S = TypeVar("S", bound=AsyncSession)

# set_config(..., true) is SET LOCAL with the value bound instead of spliced into the SQL.
_SET_LOCAL_TIMEOUT = text("SELECT set_config('statement_timeout', :value, true)")
# How long after the server's statement_timeout the client gives up on the socket.
CLIENT_GRACE = 1.0
# How long a rollback or a close may take before its connection is abandoned.
GOODBYE_DEADLINE = 2.0


class DbSession:
    """A connection routed by intent. Handlers never commit: the dependency owns the transaction.

    On a replica's pooled autocommit connection the session starts *driver-first*: it holds
    the pool's connection and the asyncpg connection under it, and makes SQLAlchemy's
    `conn` only when a handler asks for it. A compiled read (`fetch_one`, a report) never
    does, and its checkin then needs neither SQLAlchemy's Connection nor a greenlet.
    """

    __slots__ = (
        "_conn",
        "_deadline",
        "_driver",
        "_engine",
        "_orm",
        "_pooled",
        "autocommit",
        "commit_lsn",
        "intent",
        "node",
    )

    def __init__(
        self,
        conn: AsyncConnection | None,
        node: Node,
        intent: Intent,
        deadline: float,
        autocommit: bool,
        pooled: Pooled | None = None,
        engine: AsyncEngine | None = None,
    ) -> None:
        self._conn = conn
        # Driver-first: the pool's connection, and the engine to wrap it in on demand.
        self._pooled = pooled
        self._engine = engine
        under = pooled if conn is None else _pooled_under(conn)
        assert under is not None
        self._driver = _driver_of(under)  # fixed while checked out; looked up once
        self.node = node
        self.intent = intent
        self._deadline = deadline
        # True on a connection the server holds read-only, in AUTOCOMMIT: no transaction.
        self.autocommit = autocommit
        # Set after a write commits: the token a client sends back as X-DB-Min-LSN.
        self.commit_lsn: str | None = None
        self._orm: AsyncSession | None = None

    @classmethod
    def driver_first(
        cls, pooled: Pooled, engine: AsyncEngine, node: Node, intent: Intent, deadline: float
    ) -> DbSession:
        return cls(None, node, intent, deadline, autocommit=True, pooled=pooled, engine=engine)

    @property
    def conn(self) -> AsyncConnection:
        """SQLAlchemy's connection; on a driver-first session, made on first use over the
        pool's connection already checked out (no I/O)."""
        if self._conn is None:
            assert self._pooled is not None
            assert self._engine is not None
            sync = Connection(self._engine.sync_engine, connection=self._pooled)
            self._conn = AsyncConnection(self._engine, sync)
        return self._conn

    @property
    def driver(self) -> Abortable:
        """The asyncpg connection under the session (no I/O)."""
        return self._driver

    @property
    def driver_only(self) -> Pooled | None:
        """The pool's connection while SQLAlchemy's was never made: release it directly."""
        return self._pooled if self._conn is None else None

    @property
    def invalidated(self) -> bool:
        if self._conn is not None:
            return self._conn.invalidated
        assert self._pooled is not None
        return not self._pooled.is_valid

    async def discard(self) -> None:
        """Drop the connection (its socket already aborted, or about to be: nothing waits)."""
        if self._conn is not None:
            if not self._conn.invalidated:
                await self._conn.invalidate()
        elif self._pooled is not None and self._pooled.is_valid:
            # Outside a greenlet the driver connection is terminated, not closed politely.
            self._pooled.invalidate()

    def orm(self, session_class: type[S] = AsyncSession) -> S:  # type: ignore[assignment]
        """An ORM session on this routed connection: same node, intent and transaction,
        `expire_on_commit=False`. Handlers never commit it: it is flushed before the
        dependency commits (writes), and joins the transaction without ever ending it.
        `session_class` may be any AsyncSession subclass (SQLModel's, for instance)."""
        if self._orm is None:
            self._orm = session_class(
                bind=self.conn, expire_on_commit=False, join_transaction_mode="rollback_only"
            )
        elif not isinstance(self._orm, session_class):
            raise TypeError(f"this request's ORM session is a {type(self._orm).__name__}")
        return self._orm

    async def flush_orm(self) -> None:
        """Send what the handler's ORM session holds, within the statement deadline."""
        if self._orm is not None and (self._orm.new or self._orm.dirty or self._orm.deleted):
            try:
                await self.bounded(self._orm.flush())
            except DBAPIError as exc:
                if (problem := statement_problem(exc, self.node.name)) is not None:
                    raise problem from exc
                raise

    async def close_orm(self) -> None:
        if self._orm is not None:
            orm, self._orm = self._orm, None
            await orm.close()

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
        if self.autocommit:
            driver = cast(Any, self._driver)
            args = [params[name] for name in query.names]
            try:
                row = await self.bounded(driver.fetchrow(query.sql, *args))
            except asyncpg.PostgresError as exc:
                if (problem := statement_problem(exc, self.node.name)) is not None:
                    raise problem from exc
                raise
            return cast("Mapping[str, Any] | None", row)
        row = (await self.execute(query.statement, params)).first()
        return None if row is None else cast("Mapping[str, Any]", row._mapping)

    async def run_with_timeout(
        self, statement: Executable | ReadQuery, values: Mapping[str, Any], timeout: float
    ) -> Sequence[Mapping[str, Any]]:
        """All rows of `statement`, cancelled by the server after `timeout` seconds (a 504
        StatementTimeoutError, the connection kept); the client gives up a little later, on
        a node that stopped answering (a 503 that re-runs a read elsewhere).

        `SET LOCAL` needs a transaction: on an autocommit connection one is opened READ ONLY
        for the statement and ended afterwards (a plain `SET` would outlive the request,
        behind PgBouncer on another client's server connection). A compiled `ReadQuery` runs
        there straight on the driver: BEGIN and SET LOCAL in one round trip, then the query,
        then ROLLBACK, with none of SQLAlchemy's per-execute work.
        """
        if self.autocommit and isinstance(statement, ReadQuery):
            return await self._run_on_driver(statement, values, timeout)
        if isinstance(statement, ReadQuery):
            statement = statement.statement
        conn = self.conn
        deadline = timeout + CLIENT_GRACE
        if self.autocommit:
            await _begin_read_only(conn)
        started = time.monotonic()
        try:
            await self.bounded(
                conn.execute(_SET_LOCAL_TIMEOUT, {"value": f"{round(timeout * 1000)}ms"}), deadline
            )
            rows = (await self.bounded(conn.execute(statement, values), deadline)).all()
            return [cast("Mapping[str, Any]", row._mapping) for row in rows]
        except DBAPIError as exc:
            _raise_if_timed_out(exc, started, timeout, self.node.name)
            raise
        finally:
            if self.autocommit:
                # A rollback, on success and failure alike: the transaction only held SET LOCAL.
                await self.end_quietly()
                if not conn.invalidated:
                    await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _run_on_driver(
        self, query: ReadQuery, values: Mapping[str, Any], timeout: float
    ) -> Sequence[Mapping[str, Any]]:
        driver = cast(Any, self._driver)
        deadline = timeout + CLIENT_GRACE
        args = [values[name] for name in query.names]
        # A whole number of milliseconds formatted here, never a client's text: the simple
        # protocol's two statements take no bound parameters.
        begin = f"BEGIN READ ONLY; SET LOCAL statement_timeout = {round(timeout * 1000)}"
        await self.bounded(driver.execute(begin), deadline)
        started = time.monotonic()
        try:
            rows = await self.bounded(driver.fetch(query.sql, *args), deadline)
        except asyncpg.PostgresError as exc:
            _raise_if_timed_out(exc, started, timeout, self.node.name)
            raise
        finally:
            await self._rollback_on_driver()
        return cast("Sequence[Mapping[str, Any]]", rows)

    async def _rollback_on_driver(self) -> None:
        """End a transaction SQLAlchemy does not know of; one that cannot end loses its
        connection, which must never go back to the pool inside a transaction."""
        if self.invalidated:
            return
        try:
            await self.bounded(cast(Any, self._driver).execute("ROLLBACK"), GOODBYE_DEADLINE)
        except (DatabaseProblem, *codes.DRIVER_ERRORS):
            await self.discard()

    async def end_quietly(self, seconds: float = GOODBYE_DEADLINE) -> None:
        """Roll back; a rollback that cannot reach the server discards the connection."""
        if self.invalidated or self._conn is None:
            return  # gone, or SQLAlchemy never began anything on it
        try:
            await self.bounded(self._conn.rollback(), seconds)
        except (DBAPIError, DatabaseProblem, OSError):
            await self.discard()

    async def bounded(
        self, wait: Awaitable[T], seconds: float | None = None, *, abandonable: bool = True
    ) -> T:
        """Await `wait` on this session's connection, aborting the connection at the deadline.

        While it waits the deadline is registered on the node, so the health monitor can fire
        it early when it finds the node down.
        """
        node = self.node
        deadline = Deadline(self._driver, seconds or self._deadline)
        if abandonable:
            node.inflight.add(deadline)
        try:
            result = await wait
        except codes.DRIVER_ERRORS as exc:
            if deadline.connection_lost:
                # Whatever the exception says, a connection that is gone failed as a node;
                # a deadline of our own says only that this statement was slow.
                await self.discard()
                raise NodeUnavailableError(node.name, *self._why(deadline)) from None
            problem = translate_error(exc, node.name)
            if isinstance(problem, NodeUnavailableError):
                await self.discard()
            if problem is not None:
                raise problem from exc
            raise
        finally:
            deadline.cancel()
            if abandonable:
                node.inflight.discard(deadline)
        node.last_answer = asyncio.get_running_loop().time()
        return result

    def _why(self, deadline: Deadline) -> tuple[FailureKind, str | None]:
        if not deadline.fired:
            return FailureKind.LOST, None
        if self.node.health.failed:
            return FailureKind.FOUND_DOWN, None
        return FailureKind.DEADLINE, f"no answer within the {self._deadline:g} s statement deadline"


def _raise_if_timed_out(exc: BaseException, started: float, timeout: float, node: str) -> None:
    # 57014 is also an operator's pg_cancel_backend; only the timeout's comes this late.
    if codes.sqlstate(exc) == codes.QUERY_CANCELED and time.monotonic() - started >= timeout:
        raise StatementTimeoutError(node) from exc


async def _begin_read_only(conn: AsyncConnection) -> None:
    """Begin lazily: the driver sends BEGIN READ ONLY just before the first statement."""
    if conn.in_transaction():
        # Under AUTOCOMMIT this is SQLAlchemy's bookkeeping only; nothing is open on the server.
        await conn.commit()
    await conn.execution_options(isolation_level="READ COMMITTED", postgresql_readonly=True)
    await conn.begin()


def _pooled_under(conn: AsyncConnection) -> Pooled:
    """The pool's connection under a checked-out SQLAlchemy connection (no I/O)."""
    assert conn.sync_connection is not None
    return conn.sync_connection.connection


def _driver_of(pooled: Pooled) -> Abortable:
    """The asyncpg connection under the pool's (no I/O)."""
    driver = pooled.driver_connection
    assert driver is not None
    return cast(Abortable, driver)
