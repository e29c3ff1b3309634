"""One health probe of one node, on a connection of its own (never a request pool's)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from service.db.deadline import Deadline
from service.db.nodes import Node
from service.urls import asyncpg_connect_args, parse_url

_PROBE_SQL = """
SELECT pg_is_in_recovery(),
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
             ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn)::bigint,
       (pg_last_wal_receive_lsn() - '0/0'::pg_lsn)::bigint
"""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    in_recovery: bool
    lsn: int | None  # replay position on a standby, flush position on a primary
    received: int | None  # on a standby: WAL received from the primary so far


def asyncpg_dsn(url: str) -> str:
    return parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def probe(node: Node, timeout: float) -> ProbeResult:
    """Raises on any failure (refused, hung past `timeout`, not accepting connections)."""
    url, tls_args = asyncpg_connect_args(node.settings.url)  # the same TLS as the pool's
    async with asyncio.timeout(timeout):
        conn = await asyncpg.connect(
            asyncpg_dsn(url), timeout=timeout, statement_cache_size=0, **tls_args
        )
    # The socket is aborted at the deadline rather than the task cancelled: a cancelled
    # asyncpg query leaves a cancel request waiting on a frozen server.
    deadline = Deadline(conn, timeout)
    try:
        in_recovery, lsn, received = await conn.fetchrow(_PROBE_SQL)
    except BaseException:
        conn.terminate()
        if deadline.fired:
            raise TimeoutError from None
        raise
    finally:
        deadline.cancel()
    conn.terminate()  # a probe connection is never reused: no goodbye to wait for
    return ProbeResult(bool(in_recovery), _int(lsn), _int(received))


def _int(value: object) -> int | None:
    return None if value is None else int(str(value))
