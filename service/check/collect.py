"""Probe one node for its facts, on short-lived connections of the check's own.

Every wait is bounded: the connect by the node's connect timeout, each statement by a
deadline that aborts the socket (a frozen server never answers a cancel request either).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Literal, TypeVar

import asyncpg

from service.check import queries
from service.check.conninfo import upstream
from service.check.errors import classify
from service.check.facts import NodeFacts, Slot
from service.db.deadline import Deadline
from service.db.probe import asyncpg_dsn
from service.settings import NodeSettings
from service.urls import asyncpg_connect_args, parse_url

T = TypeVar("T")


class _Conn:
    """An asyncpg connection whose every call gives up after `timeout` seconds."""

    def __init__(self, raw: Any, timeout: float) -> None:
        self.raw = raw
        self._timeout = timeout

    async def run(self, call: Awaitable[T]) -> T:
        deadline = Deadline(self.raw, self._timeout)
        try:
            return await call
        except Exception:
            if deadline.fired:
                raise TimeoutError from None
            raise
        finally:
            deadline.cancel()


async def _connect(dsn: str, node: NodeSettings, timeout: float) -> _Conn:
    # The statement cache off: named statements would break behind transaction pooling.
    _, tls_args = asyncpg_connect_args(node.url)  # the same TLS as the service's pools
    raw = await asyncpg.connect(
        dsn, timeout=node.pool.connect_timeout, statement_cache_size=0, **tls_args
    )
    return _Conn(raw, timeout)


def _address(url: str) -> tuple[str, int]:
    parsed = parse_url(url)
    port = parsed.port or 5432
    return f"{parsed.host or parsed.query.get('host', '')}:{port}/{parsed.database or ''}", port


async def collect(
    node: NodeSettings,
    role: Literal["primary", "replica"],
    required_tables: tuple[str, ...],
    timeout: float,
) -> NodeFacts:
    address, port = _address(node.url)
    known: dict[str, Any] = {
        "name": node.name,
        "configured_role": role,
        "mode": node.mode,
        "address": address,
        "dialled_port": port,
    }
    dsn = asyncpg_dsn(asyncpg_connect_args(node.url)[0])  # TLS arguments go separately
    try:
        conn = await _connect(dsn, node, timeout)
    except Exception as exc:  # TimeoutError included
        kind, words = classify(exc)
        return NodeFacts(**known, error=words, error_kind=kind)
    try:
        known.update(await _facts(conn, required_tables))
        known["transaction_pooling"] = await _transaction_pooling(conn, dsn, node, timeout)
    except asyncpg.PostgresError as exc:
        known.update(error=f"connected, but the check's query failed: {exc}", error_kind="query")
    except Exception as exc:
        # Lost or timed out after the connect: the service would fail on it the same way.
        kind, words = classify(exc)
        known.update(error=words, error_kind=kind)
    finally:
        conn.raw.terminate()  # nothing to say goodbye to on a probe connection
    return NodeFacts(**known)


async def _facts(conn: _Conn, required_tables: tuple[str, ...]) -> dict[str, Any]:
    row = dict(await conn.run(conn.raw.fetchrow(queries.NODE)))
    conninfo = row.pop("primary_conninfo")
    facts: dict[str, Any] = row
    if row["in_recovery"]:
        receiver = await conn.run(conn.raw.fetchrow(queries.WAL_RECEIVER))
        # No row: no WAL receiver at all. A row without status: hidden from this role.
        if receiver is None:
            facts["streaming"] = False
        elif receiver["status"] is not None:
            facts["streaming"] = receiver["status"] == "streaming"
        if receiver is not None and receiver["sender_host"]:
            facts["upstream_host"] = receiver["sender_host"]
            facts["upstream_port"] = receiver["sender_port"]
        elif conninfo:
            facts["upstream_host"], facts["upstream_port"] = upstream(conninfo)
    slots = await conn.run(conn.raw.fetch(queries.SLOTS))
    facts["slots"] = tuple(Slot(r["slot_name"], r["active"]) for r in slots)
    wanted = [*required_tables, "alembic_version"]
    present = {r["t"]: r["missing"] for r in await conn.run(conn.raw.fetch(queries.TABLES, wanted))}
    facts["tables"] = tuple(t for t in required_tables if t in present)
    facts["missing_privileges"] = tuple(
        (t, privilege) for t in facts["tables"] for privilege in present[t]
    )
    if "alembic_version" in present:
        try:
            revisions = await conn.run(conn.raw.fetch(queries.ALEMBIC))
        except asyncpg.InsufficientPrivilegeError as exc:
            facts["alembic_error"] = str(exc)
        else:
            facts["alembic_revisions"] = tuple(r["version_num"] for r in revisions)
    return facts


async def _transaction_pooling(
    first: _Conn, dsn: str, node: NodeSettings, timeout: float
) -> bool | None:
    """Whether one client connection's transactions land on different server backends.

    Directly, or under session pooling, a client connection keeps one backend and two client
    connections never share one. Under transaction pooling each transaction takes an idle
    server connection: by default PgBouncer hands out the one released last, so `second`'s
    transaction gets the backend `first` just used; with `server_round_robin` it hands out
    the one idle longest, so `first`'s consecutive transactions move between backends. While
    `second` holds a backend, `first` must be served by another one.
    """
    try:
        second = await _connect(dsn, node, timeout)
    except Exception:
        return None  # e.g. no connection slot left: the single-connection facts still stand
    try:
        before = await first.run(first.raw.fetchval(queries.PID))
        # Plain BEGIN/COMMIT statements, so that they are bounded by the deadline too.
        await second.run(second.raw.execute("BEGIN"))
        held = await second.run(second.raw.fetchval(queries.PID))
        during = await first.run(first.raw.fetchval(queries.PID))
        await second.run(second.raw.execute("COMMIT"))
        after = [await first.run(first.raw.fetchval(queries.PID)) for _ in range(2)]
        return held == before or {during, *after} != {before}
    finally:
        second.raw.terminate()
