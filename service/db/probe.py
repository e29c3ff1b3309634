"""One health probe of one node, on a connection of its own (never a request pool's)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from service.db.nodes import Node
from service.urls import parse_url

_PROBE_SQL = """
SELECT pg_is_in_recovery(),
       (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
             ELSE pg_current_wal_flush_lsn() END - '0/0'::pg_lsn)::bigint
"""


@dataclass(frozen=True, slots=True)
class ProbeResult:
    in_recovery: bool
    lsn: int | None  # replay position on a standby, flush position on a primary


def asyncpg_dsn(url: str) -> str:
    return parse_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def probe(node: Node, timeout: float) -> ProbeResult:
    """Raises on any failure (refused, hung past `timeout`, not accepting connections)."""
    async with asyncio.timeout(timeout):
        conn = await asyncpg.connect(
            asyncpg_dsn(node.settings.url), timeout=timeout, statement_cache_size=0
        )
    try:
        async with asyncio.timeout(timeout):
            in_recovery, lsn = await conn.fetchrow(_PROBE_SQL)
        await conn.close(timeout=timeout)
    except BaseException:
        conn.terminate()
        raise
    return ProbeResult(bool(in_recovery), None if lsn is None else int(lsn))
