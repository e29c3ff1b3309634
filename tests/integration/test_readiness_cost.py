"""Readiness costs the database nothing: it answers from the monitor's state.

Measured from the primary's own statistics (`pg_stat_database.sessions`), on a direct
connection, so a new backend is counted whoever opened it. The monitor of this test's app
probes once a minute, and the count over the readiness burst is compared with the count
over an idle window of the same length, which holds whatever else (other apps' monitors)
connects meanwhile.
"""

from __future__ import annotations

import asyncio

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import Topology
from service.settings import load_settings

REQUESTS = 300
CONCURRENCY = 30


async def sessions(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    value = await conn.fetchval(
        "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(value)


async def settled(conn: asyncpg.Connection) -> int:
    """The session count once backends that just ended have reported (they do on exit)."""
    await asyncio.sleep(0.5)
    return await sessions(conn)


async def test_readiness_checks_open_no_connections(cluster: Topology, migrated: None) -> None:
    settings = load_settings(cluster.env("direct"))
    quiet = msgspec.structs.replace(settings.health, interval=60.0)
    app = create_app(msgspec.structs.replace(settings, health=quiet))
    stats = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        async with AsyncTestClient(app=app) as client:
            gate = asyncio.Semaphore(CONCURRENCY)

            async def ready() -> int:
                async with gate:
                    response = await client.get("/health/ready")
                    assert response.json()["primary_up"] is True
                    return response.status_code

            loop = asyncio.get_running_loop()
            before = await settled(stats)
            started = loop.time()
            statuses = await asyncio.gather(*(ready() for _ in range(REQUESTS)))
            burst = loop.time() - started
            after_burst = await settled(stats)
            await asyncio.sleep(burst)
            after_idle = await settled(stats)
    finally:
        await stats.close()
    assert statuses == [200] * REQUESTS
    caused = (after_burst - before) - (after_idle - after_burst)
    # Each check used to open a connection to every node: REQUESTS or more sessions here.
    assert caused <= 1, (after_burst - before, after_idle - after_burst)
