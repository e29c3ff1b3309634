"""Small helpers shared by the integration tests."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.cluster import Topology
from service.cluster.proc import free_ports
from service.settings import NodeSettings

Client = AsyncTestClient[Litestar]


def unique_email(tag: str = "c") -> str:
    """A fresh email per test keeps tests independent without deleting rows."""
    return f"{tag}-{uuid.uuid4().hex[:12]}@Example.com"


async def wait_until_replicated(client: Client, email: str) -> None:
    """Replication is asynchronous: wait until a replica read finds the row (bounded)."""
    try:
        async with asyncio.timeout(5.0):
            while (await client.get(f"/customers/{email}")).status_code != 200:
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{email} never reached a replica within 5 s") from None


async def seeded_customer(client: Client, name: str = "Seed") -> str:
    """A customer every replica has (lower-case email): reads of it may go anywhere."""
    email = unique_email("lab").lower()
    created = await client.put(f"/customers/{email}", json={"name": name})
    assert created.status_code == 201, created.text
    await wait_until_replicated(client, email)
    await asyncio.sleep(0.1)  # the other replica too
    return email


async def table_counts(cluster: Topology) -> dict[str, int]:
    """Rows per table on the primary, by name (no tuple order to get wrong)."""
    rows = await primary_fetch(
        cluster,
        "SELECT (SELECT count(*) FROM customers) AS customers, "
        "(SELECT count(*) FROM orders) AS orders",
    )
    return {"customers": int(rows[0]["customers"]), "orders": int(rows[0]["orders"])}


async def wait_for_replicas(cluster: Topology) -> None:
    """Wait (bounded) until every replica has replayed everything the primary has written."""
    primary = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
    finally:
        await primary.close()
    for node in cluster.nodes[1:]:
        conn = await asyncpg.connect(cluster.direct_url(node.name))
        try:
            async with asyncio.timeout(10.0):
                while await conn.fetchval("SELECT pg_last_wal_replay_lsn() < $1", target):
                    await asyncio.sleep(0.01)
        finally:
            await conn.close()


async def primary_fetch(cluster: Topology, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Look at the primary directly, bypassing the service."""
    conn = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


# Which server a connection reached, in any topology: containers all listen on 5432 inside,
# so the port alone names no node there; a postmaster's start time is its own.
SERVER_IDENTITY_SQL = "SELECT inet_server_port()::text || ' ' || pg_postmaster_start_time()::text"


async def server_identities(cluster: Topology) -> dict[str, str]:
    """Node name -> the identity of the server its direct URL reaches."""
    identities = {}
    for node in cluster.nodes:
        conn = await asyncpg.connect(cluster.direct_url(node.name))
        try:
            identities[node.name] = str(await conn.fetchval(SERVER_IDENTITY_SQL))
        finally:
            await conn.close()
    assert len(set(identities.values())) == len(identities), identities
    return identities


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): a database that is down."""
    return free_ports(1)[0]


def one_connection(node: NodeSettings) -> NodeSettings:
    """The node with a client-side pool of one connection: the same server connection each time."""
    return msgspec.structs.replace(node, pool=msgspec.structs.replace(node.pool, pool_size=1))
