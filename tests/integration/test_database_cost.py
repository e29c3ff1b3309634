"""What a request costs the database: readiness answers from the monitor's state, and a
request that fails validation is refused before a session opens.

Sessions are counted by the nodes themselves (`pg_stat_database`) on direct connections, so
they hold whoever opened a backend; a burst is compared with an idle window of the same
length, which holds whatever else (other apps' monitors) connects meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import asyncpg
import msgspec
from litestar.testing import AsyncTestClient
from sqlalchemy import event

from service.app import create_app
from service.cluster import Topology
from service.db.plugin import STATE_KEY
from service.db.router import DatabaseRouter
from service.settings import load_settings

REQUESTS = 300
CONCURRENCY = 30
# Backends report their counts when idle (at most about a second late) or on exit.
SETTLE = 1.5

_COUNTS = """
SELECT sessions, xact_commit + xact_rollback
FROM pg_stat_database WHERE datname = current_database()
"""


async def counts(conns: list[asyncpg.Connection]) -> tuple[int, int]:
    """(sessions, transactions) summed over the nodes."""
    sessions = transactions = 0
    for conn in conns:
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        row = await conn.fetchrow(_COUNTS)
        sessions += int(row[0])
        transactions += int(row[1]) - 2  # this connection's own two statements
    return sessions, transactions


async def caused_by(cluster: Topology, burst: Callable[[], Awaitable[None]]) -> tuple[int, int]:
    """New sessions and transactions on all nodes that `burst` caused, net of the background."""
    conns = [await asyncpg.connect(cluster.direct_url(node.name)) for node in cluster.nodes]
    try:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(SETTLE)
        before = await counts(conns)
        started = loop.time()
        await burst()
        await asyncio.sleep(SETTLE)
        after = await counts(conns)
        await asyncio.sleep(loop.time() - started)
        idle = await counts(conns)
    finally:
        for conn in conns:
            await conn.close()
    return (
        (after[0] - before[0]) - (idle[0] - after[0]),
        (after[1] - before[1]) - (idle[1] - after[1]),
    )


async def test_readiness_checks_cost_no_session(cluster: Topology, migrated: None) -> None:
    settings = load_settings(cluster.env("direct"))
    quiet = msgspec.structs.replace(settings.health, interval=60.0)  # this app's monitor: idle
    app = create_app(msgspec.structs.replace(settings, health=quiet))
    statuses: list[int] = []
    async with AsyncTestClient(app=app) as client:
        gate = asyncio.Semaphore(CONCURRENCY)

        async def ready() -> None:
            async with gate:
                response = await client.get("/health/ready")
            statuses.append(response.status_code)
            assert response.json()["primary_up"] is True

        async def burst() -> None:
            await asyncio.gather(*(ready() for _ in range(REQUESTS)))

        sessions, _ = await caused_by(cluster, burst)
    assert statuses == [200] * REQUESTS
    # Each check used to open a connection to every node: 3 x REQUESTS sessions.
    assert sessions <= 1, sessions


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
        pools = [node.engine.sync_engine.pool for node in router.nodes]
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
