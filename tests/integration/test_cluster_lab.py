"""The failure lab against real servers: replication, PgBouncer routing, lag, stop, freeze."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from service.cluster import Topology
from tests.fixtures.topology import started_topology
from tests.integration.helpers import SERVER_IDENTITY_SQL, server_identities

# The lab itself, whatever mode the service would use; on a topology of its own, because these
# tests stop and freeze nodes that the session-wide service watches.
pytestmark = [pytest.mark.integration, pytest.mark.mode_independent]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Topology]:
    with started_topology("switchyard-cluster-lab-") as topology:
        yield topology


REPLICAS = ("replica-1", "replica-2")


async def _connect(url: str, within: float = 5.0) -> asyncpg.Connection:
    # statement_cache_size=0: named prepared statements break behind transaction pooling.
    return await asyncpg.connect(url, timeout=within, statement_cache_size=0)


async def _fetchval(url: str, sql: str, *args: object) -> object:
    conn = await _connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _write_marker(topology: Topology) -> str:
    marker = uuid.uuid4().hex
    conn = await _connect(topology.direct_url("primary"))
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS lab_marker (v text PRIMARY KEY)")
        await conn.execute("INSERT INTO lab_marker VALUES ($1)", marker)
    finally:
        await conn.close()
    return marker


async def _sees(url: str, marker: str) -> bool:
    # The table may not have replayed yet either: to_regclass avoids an error for that.
    conn = await _connect(url)
    try:
        if await conn.fetchval("SELECT to_regclass('lab_marker')") is None:
            return False
        return bool(await conn.fetchval("SELECT count(*) FROM lab_marker WHERE v = $1", marker))
    finally:
        await conn.close()


async def _eventually_sees(url: str, marker: str, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await _sees(url, marker):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_roles_direct_and_through_pgbouncer(cluster: Topology) -> None:
    servers = await server_identities(cluster)  # one per node, all different
    for node in cluster.nodes:
        for url in (cluster.direct_url(node.name), cluster.pgbouncer_url(node.name)):
            conn = await _connect(url)
            try:
                in_recovery = await conn.fetchval("SELECT pg_is_in_recovery()")
                server = await conn.fetchval(SERVER_IDENTITY_SQL)
            finally:
                await conn.close()
            assert in_recovery is (node.role == "replica"), url
            assert server == servers[node.name], f"{url} reached {server}, not {node.name}"
    assert [n.name for n in cluster.nodes] == ["primary", *REPLICAS]


async def test_write_on_primary_reaches_every_replica(cluster: Topology) -> None:
    marker = await _write_marker(cluster)
    for name in REPLICAS:
        assert await _eventually_sees(cluster.direct_url(name), marker), name
        assert await _eventually_sees(cluster.pgbouncer_url(name), marker), name


async def test_apply_delay_hides_new_rows_on_one_replica(cluster: Topology) -> None:
    await _write_marker(cluster)  # the table exists everywhere before the delay starts
    cluster.set_apply_delay("replica-1", 30)
    try:
        marker = await _write_marker(cluster)
        written = time.monotonic()
        assert await _eventually_sees(cluster.direct_url("replica-2"), marker)
        while time.monotonic() - written < 1.0:
            assert not await _sees(cluster.direct_url("replica-1"), marker)
            await asyncio.sleep(0.1)
    finally:
        cluster.set_apply_delay("replica-1", 0)
    assert await _eventually_sees(cluster.direct_url("replica-1"), marker, within=2)


async def test_stopped_replica_refuses_then_recovers(cluster: Topology) -> None:
    url = cluster.direct_url("replica-2")
    cluster.stop("replica-2")
    try:
        assert cluster.status()["replica-2"] == "stopped"
        with pytest.raises(ConnectionRefusedError):
            await _connect(url, within=2)
    finally:
        cluster.start("replica-2")
    assert cluster.status()["replica-2"] == "running"
    assert await _fetchval(url, "SELECT pg_is_in_recovery()") is True


async def test_frozen_replica_hangs_then_thaws(cluster: Topology) -> None:
    url = cluster.direct_url("replica-1")
    cluster.freeze("replica-1")
    try:
        assert cluster.status()["replica-1"] == "frozen"
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await _connect(url, within=1)
        assert time.monotonic() - started < 3
    finally:
        cluster.thaw("replica-1")
    assert cluster.status()["replica-1"] == "running"
    assert await _fetchval(url, "SELECT 1") == 1
