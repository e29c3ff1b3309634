"""The engines of one node, shaped by the node's mode and by the role they serve.

A node has a read engine shaped by its configured role and, once it serves writes while
configured as a replica (it was promoted), a write engine of the primary's shape.

direct:    a QueuePool of its own. A replica-shaped engine's connections are held read-only
           by the server (`default_transaction_read_only`) and run in AUTOCOMMIT, so a
           one-statement read costs one round trip: no BEGIN/COMMIT, no reset on return. The
           server-side `statement_timeout` sits a little under the client-side deadline, so a
           slow statement is cancelled by the server (a 504, the connection kept) before the
           client aborts the socket (the connection lost).
pgbouncer: NullPool by default (PgBouncer pools), or a small QueuePool when
           `pgbouncer_pool = "queue"`. Both statement caches are off so asyncpg sends unnamed
           statements that are safe on any server connection PgBouncer picks; no startup
           parameters (PgBouncer 1.18 refuses them). A replica-shaped engine runs in
           AUTOCOMMIT too, relying on the hot standby refusing writes: it counts as read-only
           only while the node is in recovery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool, QueuePool

from service.db.gate import CheckoutGate
from service.settings import DatabaseSettings, NodeSettings
from service.urls import asyncpg_connect_args

Shape = Literal["primary", "replica"]
# How far under the client-side deadline the server's statement_timeout fires.
_SERVER_TIMEOUT_MARGIN = 0.25


@dataclass(eq=False)
class NodeEngine:
    """One engine and the gate in front of its pool."""

    settings: NodeSettings
    engine: AsyncEngine
    shape: Shape
    # The server refuses writes on every connection of it (`default_transaction_read_only`).
    startup_read_only: bool
    gate: CheckoutGate = field(init=False)

    def __post_init__(self) -> None:
        pool = self.settings.pool
        capacity = None
        if isinstance(self.engine.pool, QueuePool):
            capacity = pool.pool_size + pool.max_overflow
        self.gate = CheckoutGate(self.settings.name, capacity, pool.pool_timeout)

    @property
    def autocommit_reads(self) -> bool:
        return self.shape == "replica"

    def pool_numbers(self) -> dict[str, int] | None:
        """Size, checked-out and overflow of the client-side pool; None under NullPool."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "overflow": max(pool.overflow(), 0),
            "idle": pool.checkedin(),
        }


def uses_null_pool(node: NodeSettings, database: DatabaseSettings) -> bool:
    return node.mode == "pgbouncer" and database.pgbouncer_pool == "null"


def server_statement_timeout(deadline: float) -> float:
    return max(deadline - _SERVER_TIMEOUT_MARGIN, deadline / 2)


def create_node_engine(node: NodeSettings, shape: Shape, database: DatabaseSettings) -> NodeEngine:
    connect_args: dict[str, Any] = {"timeout": node.pool.connect_timeout}
    engine_args: dict[str, Any] = {}
    startup_read_only = False
    if shape == "replica":
        engine_args["isolation_level"] = "AUTOCOMMIT"
    if node.mode == "pgbouncer":
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
    else:
        deadline = (
            database.read_statement_timeout
            if shape == "replica"
            else database.write_statement_timeout
        )
        timeout_ms = int(server_statement_timeout(deadline) * 1000)
        server_settings = {"statement_timeout": str(timeout_ms)}
        if shape == "replica":
            server_settings["default_transaction_read_only"] = "on"
            startup_read_only = True
        connect_args["server_settings"] = server_settings

    if uses_null_pool(node, database):
        engine_args["poolclass"] = NullPool
    else:
        engine_args.update(
            poolclass=AsyncAdaptedQueuePool,
            pool_size=node.pool.pool_size,
            max_overflow=node.pool.max_overflow,
            pool_timeout=node.pool.pool_timeout,
            pool_recycle=node.pool.pool_recycle,
            pool_pre_ping=node.pool.pool_pre_ping,
        )
    url, tls_args = asyncpg_connect_args(node.url)  # the same TLS as the probe's
    connect_args.update(tls_args)
    engine = create_async_engine(
        url, connect_args=connect_args, hide_parameters=True, **engine_args
    )
    return NodeEngine(node, engine, shape, startup_read_only)
