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
from tests.integration.pgbouncer.servers import running_service, service_process
from tests.integration.procnet import connections_to, listener_pid

PGBOUNCER_POOL_SIZE = 20  # default_pool_size in the lab's pgbouncer.ini

# Every test here builds its own pgbouncer-mode engines or processes: the run's mode is moot.
pytestmark = pytest.mark.mode_independent


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
    assert any("prepared statement" in e for e in naive_errors), Counter(naive_errors)
    # The leak detector's own negative control: it finds what the naive engine left behind.
    leaked = await server_prepared_statements(cluster)
    assert leaked > 0, "the detector saw no named statement even after the naive engine"
    await reconnect_pgbouncer_servers(cluster)
    assert await server_prepared_statements(cluster) == 0  # a clean slate for the claim below

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


async def sample_connections(
    service_pid: int, cluster: Topology, stop: asyncio.Event
) -> dict[str, int]:
    """The most connections held at once: the service's to the primary and to PgBouncer, and
    PgBouncer's to the primary (from /proc: other clients of the same servers do not count)."""
    primary = cluster.nodes[0].port
    pgbouncer_pid = listener_pid(cluster.pgbouncer_port)
    peak = {"service->primary": 0, "service->pgbouncer": 0, "pgbouncer->primary": 0}
    while not stop.is_set():
        now = {
            "service->primary": connections_to(service_pid, primary),
            "service->pgbouncer": connections_to(service_pid, cluster.pgbouncer_port),
            "pgbouncer->primary": connections_to(pgbouncer_pid, primary),
        }
        peak = {key: max(peak[key], now[key]) for key in peak}
        await asyncio.sleep(0.005)
    return peak


async def test_200_clients_all_served_through_pgbouncer_and_never_around_it(
    cluster: Topology, migrated: None
) -> None:
    """The service's part: it sends every connection through PgBouncer (none straight to the
    primary) and answers all 200 clients while PgBouncer queues them behind its pool."""
    env = cluster.env("pgbouncer")
    with running_service(env) as service:
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_connections(service.pid, cluster, stop))
        async with httpx.AsyncClient(base_url=service.base, timeout=30) as client:
            tag = uuid.uuid4().hex[:8]

            async def slow_write(i: int) -> int:
                response = await client.put(
                    f"/customers/c200-{tag}-{i}@example.com", json={"name": "x"}
                )
                return response.status_code

            statuses = await asyncio.gather(*(slow_write(i) for i in range(200)))
        stop.set()
        peak = await sampler
    print(f"\npeak connections under 200 clients: {peak}")
    assert Counter(statuses) == {201: 200}
    assert peak["service->primary"] == 0
    # The premise: more of the service's connections at once than PgBouncer has servers.
    assert peak["service->pgbouncer"] > PGBOUNCER_POOL_SIZE, peak
    assert peak["pgbouncer->primary"] <= PGBOUNCER_POOL_SIZE, peak
