"""What the check tests share: reading a report, settings for a topology, and waiting for a
lab server to show a change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import asyncpg

from service.check import Finding
from service.check.run import Report
from service.cluster import LocalCluster, Topology
from service.cluster.postgres import psql
from service.cluster.proc import tail
from service.settings import Settings, load_settings
from tests.fixtures.topology import migrate_or_fail, scratch_cluster

# Seconds a changed setting or a re-pointed standby may take to show on a loaded machine.
SETTLE_TIMEOUT = 30.0
# A standby retries a failed stream after 5 s by default; tests that break streaming on
# purpose should not wait that long for it to come back.
RETRY_FAST = "ALTER SYSTEM SET wal_retrieve_retry_interval = '100ms'"


@contextlib.contextmanager
def started_lab(prefix: str) -> Iterator[LocalCluster]:
    """A migrated primary + 2 replicas + PgBouncer of the caller's own, destroyed after."""
    with scratch_cluster(replicas=2, prefix=prefix) as topology:
        migrate_or_fail(topology.env("direct"))
        for node in topology.nodes[1:]:
            psql(node.port, [RETRY_FAST, "SELECT pg_reload_conf()"])
        yield topology


def findings(report: Report, worse_than_info: bool = True) -> dict[tuple[str, str], Finding]:
    return {
        (f.node, f.code): f for f in report.findings if not worse_than_info or f.severity != "info"
    }


def env_for(topology: Topology, mode: str = "direct", **changes: str) -> Settings:
    return load_settings({**topology.env(mode), **changes})


def port_of(lab: LocalCluster, name: str) -> int:
    return next(n.port for n in lab.nodes if n.name == name)


def alter(
    lab: LocalCluster, node: str, changes: dict[str, str], log: list[tuple[str, str]]
) -> None:
    statements = [f"ALTER SYSTEM SET {k} = '{v}'" for k, v in changes.items()]
    log.extend((node, k) for k in changes)
    psql(port_of(lab, node), [*statements, "SELECT pg_reload_conf()"])


async def settled(lab: LocalCluster, node: str, sql: str, expected: object) -> None:
    """A reload is asynchronous: wait (bounded; generous for a loaded machine) until the node
    shows the change. On failure, the node's log says why."""
    conn = await asyncpg.connect(lab.direct_url(node))
    try:
        async with asyncio.timeout(SETTLE_TIMEOUT):
            while await conn.fetchval(sql) != expected:
                await asyncio.sleep(0.05)
    except TimeoutError:
        log = tail(lab.base_dir / "log" / f"{node}.log")
        raise AssertionError(
            f"{node}: {sql} never returned {expected!r} within {SETTLE_TIMEOUT:g} s\n{log}"
        ) from None
    finally:
        await conn.close()


async def streaming(lab: LocalCluster) -> None:
    """Every replica streams from the primary again (after a restart or a reverted change)."""
    sender = "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'"
    for node in lab.nodes[1:]:
        await settled(lab, node.name, sender, port_of(lab, "primary"))


async def idle_server_connections(lab: LocalCluster, database: str, count: int) -> None:
    """Leave `count` idle server connections in PgBouncer's pool for `database`."""
    url = lab.pgbouncer_url(database)
    clients = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(count)]
    try:
        held = [client.transaction() for client in clients]
        for client, transaction in zip(clients, held, strict=True):
            await transaction.start()
            await client.fetchval("SELECT 1")  # each holds a server connection of its own
        for transaction in held:
            await transaction.commit()
    finally:
        for client in clients:
            await client.close()
