"""Put a broken lab back together and wait until it is whole: every node running and thawed,
no apply delay, every replica streaming from the primary and caught up with it, every node answering
through PgBouncer."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from service.cluster import Topology
from service.cluster.config import ADMIN_USER

_WHOLE_WITHIN = 20.0


def admin_url(topology: Topology, name: str) -> str:
    """A superuser connection (the lab trusts loopback): WAL receiver details need one."""
    port = next(node.port for node in topology.nodes if node.name == name)
    return f"postgresql://{ADMIN_USER}@127.0.0.1:{port}/postgres"


async def admin_fetchval(topology: Topology, name: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(admin_url(topology, name), timeout=3)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def heal(topology: Topology) -> None:
    for name, state in (await asyncio.to_thread(topology.status)).items():
        if state == "frozen":
            await asyncio.to_thread(topology.thaw, name)
        elif state == "stopped":
            await asyncio.to_thread(topology.start, name)
    for node in topology.nodes[1:]:
        await asyncio.to_thread(topology.set_apply_delay, node.name, 0)
    try:
        async with asyncio.timeout(_WHOLE_WITHIN):
            while not await _whole(topology):
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"the lab was not whole again within {_WHOLE_WITHIN} s") from None


async def _whole(topology: Topology) -> bool:
    # A node that is still starting refuses connections: that is "not yet", not a failure.
    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        target = await admin_fetchval(
            topology, "primary", "SELECT pg_current_wal_insert_lsn()::text"
        )
        for node in topology.nodes[1:]:
            caught_up = await admin_fetchval(
                topology,
                node.name,
                "SELECT status = 'streaming' AND pg_last_wal_replay_lsn() >= $1::text::pg_lsn "
                "FROM pg_stat_wal_receiver",
                target,
            )
            if caught_up is not True:
                return False
        for node in topology.nodes:
            # PgBouncer refuses a server for `server_login_retry` after a failed login: a
            # node is whole when it answers through PgBouncer too.
            conn = await asyncpg.connect(
                topology.pgbouncer_url(node.name), timeout=3, statement_cache_size=0
            )
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()
        return True
    return False
