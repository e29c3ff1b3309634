"""PgBouncer in transaction mode: the one switch that makes asyncpg + SQLAlchemy safe behind it.

Each claim is paired with the case where it would fail: the same load on an engine without
pgbouncer mode, through the same PgBouncer, does break.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter

import asyncpg
import httpx
import msgspec
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from service.cluster import Topology
from service.db.engines import create_node_engine
from service.settings import Settings, load_settings
from tests.integration.pgbouncer.servers import service_process

PGBOUNCER_POOL_SIZE = 20  # default_pool_size in the lab's pgbouncer.ini


def pgbouncer_settings(cluster: Topology, pool: str = "null") -> Settings:
    settings = load_settings(cluster.env("pgbouncer"))
    database = msgspec.structs.replace(settings.database, pgbouncer_pool=pool)
    return msgspec.structs.replace(settings, database=database)


async def hammer(engine: AsyncEngine, tasks: int = 20, operations: int = 2000) -> list[str]:
    """The measured load: concurrent parameterised queries; returns the error messages."""
    errors: list[str] = []
    per_task = operations // tasks

    async def worker(worker_id: int) -> None:
        for i in range(per_task):
            try:
                async with engine.connect() as conn:
                    value = (
                        await conn.execute(
                            text("SELECT CAST(:v AS int) + :w"), {"v": i, "w": worker_id}
                        )
                    ).scalar()
                    if value != i + worker_id:
                        errors.append(f"wrong result {value} != {i + worker_id}")
                    await conn.commit()
            except Exception as exc:  # counting every failure is the point
                errors.append(str(exc).splitlines()[0])

    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return errors


async def server_prepared_statements(cluster: Topology, database: str = "primary") -> int:
    """Named statements left on PgBouncer's server connections.

    pg_prepared_statements shows only the current session's, so hold as many transactions
    open through PgBouncer as it has server connections, and look in each.
    """
    url = cluster.pgbouncer_url(database)
    conns = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(PGBOUNCER_POOL_SIZE)]
    try:
        transactions = [conn.transaction() for conn in conns]
        for transaction in transactions:
            await transaction.start()
        counts = [await c.fetchval("SELECT count(*) FROM pg_prepared_statements") for c in conns]
        for transaction in transactions:
            await transaction.rollback()
        return int(sum(counts))
    finally:
        for conn in conns:
            await conn.close()


async def reconnect_pgbouncer_servers(cluster: Topology) -> None:
    """Make PgBouncer drop its server connections (and anything a bad client left on them)."""
    admin = await asyncpg.connect(
        f"postgresql://postgres@127.0.0.1:{cluster.pgbouncer_port}/pgbouncer",
        statement_cache_size=0,
    )
    try:
        await admin.execute("RECONNECT")
    finally:
        await admin.close()
    await asyncio.sleep(0.3)


async def test_default_engine_breaks_behind_pgbouncer_and_pgbouncer_mode_does_not(
    cluster: Topology, migrated: None
) -> None:
    settings = pgbouncer_settings(cluster)
    # The negative control: SQLAlchemy's defaults (QueuePool, statement caches on).
    naive = create_async_engine(settings.database.primary.url, pool_size=10)
    try:
        naive_errors = await hammer(naive)
    finally:
        await naive.dispose()
    await reconnect_pgbouncer_servers(cluster)
    assert any("prepared statement" in e for e in naive_errors), Counter(naive_errors)

    for pool in ("null", "queue"):
        mode_settings = pgbouncer_settings(cluster, pool)
        engine = create_node_engine(
            mode_settings.database.primary, "primary", mode_settings.database
        ).engine
        try:
            assert await hammer(engine) == [], pool
        finally:
            await engine.dispose()
        assert await server_prepared_statements(cluster) == 0, pool


MIX = ("put", "order", "get", "list", "analytics")


async def mixed_request(client: httpx.AsyncClient, kind: str, tag: str, n: int) -> httpx.Response:
    email = f"pgb-{tag}-{n % 7}@example.com"
    if kind == "put":
        return await client.put(f"/customers/{email}", json={"name": f"n{n}"})
    if kind == "order":
        await client.put(f"/customers/{email}", json={"name": "buyer"})
        return await client.post(
            "/orders",
            json={
                "external_id": f"{tag}-{n}",
                "customer_email": email,
                "status": "pending",
                "total_amount": "12.34",
                "currency": "EUR",
            },
        )
    if kind == "get":
        return await client.get(f"/customers/{email}", headers={"X-DB-Consistency": "strong"})
    if kind == "list":
        return await client.get("/customers", params={"limit": 20})
    return await client.get("/analytics/daily-revenue", params={"days": 30})


async def run_mix(bases: list[str], concurrency: int, rounds: int) -> list[tuple[str, int, str]]:
    tag = uuid.uuid4().hex[:8]
    failures: list[tuple[str, int, str]] = []
    clients = [httpx.AsyncClient(base_url=b, timeout=15) for b in bases]
    counter = itertools.count()
    try:
        for n in range(7):  # the customers the reads and orders refer to
            await mixed_request(clients[0], "put", tag, n)
        for _ in range(rounds):

            async def one(i: int) -> None:
                n = next(counter)
                kind = MIX[i % len(MIX)]
                client = clients[i % len(clients)]
                response = await mixed_request(client, kind, tag, n)
                if response.status_code >= 300:
                    failures.append((kind, response.status_code, response.text[:200]))

            await asyncio.gather(*(one(i) for i in range(concurrency)))
    finally:
        for client in clients:
            await client.aclose()
    return failures


@pytest.mark.parametrize("pool", ["null", "queue"])
async def test_mixed_load_from_two_processes_has_no_errors_and_leaks_nothing(
    cluster: Topology, migrated: None, pool: str
) -> None:
    env = {**cluster.env("pgbouncer"), "SWITCHYARD_DATABASE__PGBOUNCER_POOL": pool}
    with service_process(env) as first, service_process(env) as second:
        failures = await run_mix([first, second], concurrency=60, rounds=4)
    assert failures == []
    assert await server_prepared_statements(cluster) == 0
    assert await server_prepared_statements(cluster, "replica-1") == 0


async def sample_backends(cluster: Topology, stop: asyncio.Event) -> int:
    """The most client backends the primary held at once (its own sampler excluded)."""
    conn = await asyncpg.connect(cluster.direct_url("primary"))
    peak = 0
    try:
        while not stop.is_set():
            count = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND datname = 'switchyard' AND pid <> pg_backend_pid()"
            )
            peak = max(peak, int(count))
            await asyncio.sleep(0.01)
    finally:
        await conn.close()
    return peak


async def test_200_clients_use_no_more_server_connections_than_pgbouncer_pool(
    cluster: Topology, migrated: None
) -> None:
    env = cluster.env("pgbouncer")
    with service_process(env) as base:
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_backends(cluster, stop))
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            tag = uuid.uuid4().hex[:8]

            async def slow_write(i: int) -> int:
                response = await client.put(
                    f"/customers/c200-{tag}-{i}@example.com", json={"name": "x"}
                )
                return response.status_code

            statuses = await asyncio.gather(*(slow_write(i) for i in range(200)))
        stop.set()
        peak = await sampler
    assert Counter(statuses) == {201: 200}
    print(f"\npeak server connections on the primary under 200 clients: {peak}")
    assert 5 <= peak <= PGBOUNCER_POOL_SIZE, peak
