"""One AsyncEngine per node, shaped by the node's mode.

direct:    a QueuePool of its own. A replica's connections are held read-only by the server
           (`default_transaction_read_only`) and run in AUTOCOMMIT, so a one-statement read
           costs one round trip: no BEGIN/COMMIT, no reset on return. The server-side
           `statement_timeout` backs up the client-side deadline.
pgbouncer: NullPool by default (PgBouncer pools), or a small QueuePool when
           `pgbouncer_pool = "queue"`. Both statement caches are off so asyncpg sends unnamed
           statements that are safe on any server connection PgBouncer picks; no startup
           parameters (PgBouncer 1.18 refuses them). A replica is a hot standby, which
           refuses writes by itself, so its reads run in AUTOCOMMIT too (one round trip
           instead of BEGIN READ ONLY + query + COMMIT); the primary's reads are READ ONLY
           transactions.

A standby that gets promoted stops refusing writes: the monitor takes a replica that left
recovery out of rotation at its next probe (within one interval).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from service.settings import DatabaseSettings, NodeSettings
from service.urls import asyncpg_connect_args


def server_holds_read_only(role: str) -> bool:
    """Whether the server itself refuses writes on the node's connections, so that a read
    needs no READ ONLY transaction: a replica (a hot standby; in direct mode its connections
    also carry `default_transaction_read_only`)."""
    return role == "replica"


def uses_null_pool(node: NodeSettings, database: DatabaseSettings) -> bool:
    return node.mode == "pgbouncer" and database.pgbouncer_pool == "null"


def create_node_engine(node: NodeSettings, role: str, database: DatabaseSettings) -> AsyncEngine:
    connect_args: dict[str, Any] = {"timeout": node.pool.connect_timeout}
    engine_args: dict[str, Any] = {}
    if server_holds_read_only(role):
        engine_args["isolation_level"] = "AUTOCOMMIT"
    if node.mode == "pgbouncer":
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_cache_size"] = 0
    else:
        statement_timeout = (
            database.read_statement_timeout
            if role == "replica"
            else database.write_statement_timeout
        )
        server_settings = {"statement_timeout": str(int(statement_timeout * 1000))}
        if server_holds_read_only(role):
            server_settings["default_transaction_read_only"] = "on"
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
    return create_async_engine(url, connect_args=connect_args, hide_parameters=True, **engine_args)
