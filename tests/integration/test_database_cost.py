"""What a request costs the database: readiness answers from the monitor's state, and a
request that fails validation is refused before a session opens.

Sessions are counted by the nodes themselves (`pg_stat_database.sessions`) for a database of
this test's own, so no other app's monitor adds to the count: a new backend there is counted
whoever opened it.
"""

from __future__ import annotations

import asyncio
import re

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from service.app import create_app
from service.cluster import Topology
from service.db.plugin import STATE_KEY
from service.db.router import DatabaseRouter
from service.settings import load_settings
from tests.integration.helpers import wait_for_replicas

REQUESTS = 300
CONCURRENCY = 30
COST_DB = "switchyard_cost"
# Backends report their counts when idle (at most about a second late) or on exit.
SETTLE = 1.5


async def cost_database_env(cluster: Topology) -> dict[str, str]:
    """The direct-mode environment with every URL on COST_DB (created once, replicated)."""
    conn = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", COST_DB):
            await conn.execute(f"CREATE DATABASE {COST_DB}")
    finally:
        await conn.close()
    await wait_for_replicas(cluster)
    path = re.compile(r"/switchyard(?=$|[?,])")
    return {key: path.sub(f"/{COST_DB}", value) for key, value in cluster.env("direct").items()}


async def sessions(conns: list[asyncpg.Connection]) -> int:
    """Sessions ever opened on COST_DB, summed over the nodes (read from another database)."""
    total = 0
    for conn in conns:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        total += int(
            await conn.fetchval("SELECT sessions FROM pg_stat_database WHERE datname = $1", COST_DB)
        )
    return total


async def test_readiness_checks_cost_no_session(cluster: Topology, migrated: None) -> None:
    settings = load_settings(await cost_database_env(cluster))
    assert COST_DB in settings.database.primary.url
    quiet = msgspec.structs.replace(settings.health, interval=60.0)  # no probe during the test
    app = create_app(msgspec.structs.replace(settings, health=quiet))
    conns = [await asyncpg.connect(cluster.direct_url(node.name)) for node in cluster.nodes]
    statuses: list[int] = []
    try:
        async with AsyncTestClient(app=app) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def ready() -> None:
                async with gate:
                    response = await client.get("/health/ready")
                statuses.append(response.status_code)

            await asyncio.sleep(SETTLE)  # start-up's pool warming and first probe, counted
            before = await sessions(conns)
            await asyncio.gather(*(ready() for _ in range(REQUESTS)))
            await asyncio.sleep(SETTLE)
            after = await sessions(conns)
    finally:
        for conn in conns:
            await conn.close()
    assert statuses == [200] * REQUESTS
    # Each check used to open a connection to every node: 3 x REQUESTS sessions.
    assert after - before == 0


INVALID = [
    ("GET", "/customers?limit=0"),
    ("GET", "/customers?cursor=forged"),
    ("GET", "/customers/not-an-email"),
    ("GET", "/customers/a@example.com/orders?limit=501"),
    ("GET", "/orders/0"),
    ("GET", "/analytics/daily-revenue?days=0"),
    ("GET", "/analytics/no-such-report"),
    ("PUT", "/customers/not-an-email"),
    ("POST", "/orders"),
]


async def test_invalid_requests_check_out_no_connection(cluster: Topology, migrated: None) -> None:
    """Counted at the pools (SQLAlchemy's checkout event): the server sees nothing of a
    checkout from a warm pool, so its statistics could not tell."""
    settings = load_settings(cluster.env("direct"))
    app = create_app(settings)
    statuses: set[int] = set()
    checkouts = 0

    def counted(*_: object) -> None:
        nonlocal checkouts
        checkouts += 1

    async with AsyncTestClient(app=app) as client:
        router: DatabaseRouter = app.state[STATE_KEY]
        pools = [engine.engine.sync_engine.pool for node in router.nodes for engine in node.engines]
        for pool in pools:
            event.listen(pool, "checkout", counted)
        try:
            for method, path in INVALID * 20:
                response = await client.request(method, path, json={"name": ""})
                statuses.add(response.status_code)
            invalid_checkouts = checkouts
            # The control: a valid read does check out a connection, and is counted.
            assert (await client.get("/customers?limit=1")).status_code == 200
        finally:
            for pool in pools:
                event.remove(pool, "checkout", counted)
    assert statuses <= {400, 404, 422}
    assert invalid_checkouts == 0
    assert checkouts == 1
