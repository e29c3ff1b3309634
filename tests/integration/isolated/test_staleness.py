"""Bounded staleness: a read goes to a replica only when its lag, as last measured plus the age
of that measurement, is within the client's bound; every replica answer says that bound."""

from __future__ import annotations

import asyncio

import msgspec
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import LocalCluster
from service.db import Db
from tests.integration.conftest import MODE
from tests.integration.helpers import Client, unique_email
from tests.integration.isolated.conftest import PROBE_INTERVAL, lab_settings
from tests.integration.isolated.nodes import health_of

APPLY_DELAY = 3.0


async def keep_writing(client: Client, stop: asyncio.Event) -> None:
    """Lag in seconds is counted only while a replica is behind: keep the primary moving."""
    while not stop.is_set():
        await client.put(f"/customers/{unique_email('tick')}", json={"name": "tick"})
        await asyncio.sleep(0.05)


async def test_the_bound_sends_reads_to_a_lagging_replica_only_when_it_is_loose_enough(
    lab: LocalCluster, client: Client
) -> None:
    email = unique_email("stale")
    assert (await client.put(f"/customers/{email}", json={"name": "s"})).status_code == 201
    await asyncio.sleep(2 * PROBE_INTERVAL)
    # Before any lag: a 5 s bound is met by a replica, which says how stale it could be.
    fresh = await client.get(f"/customers/{email}", headers={"X-DB-Max-Staleness": "5s"})
    assert fresh.headers["x-db-node"].startswith("replica-")
    assert 0 <= float(fresh.headers["x-db-staleness"]) <= 5
    for replica in ("replica-1", "replica-2"):
        lab.set_apply_delay(replica, APPLY_DELAY)
    stop = asyncio.Event()
    writer = asyncio.create_task(keep_writing(client, stop))
    try:
        await asyncio.sleep(APPLY_DELAY + 2 * PROBE_INTERVAL)
        lags = [h["lag_seconds"] for h in (await health_of(client)).values() if h["lag_seconds"]]
        assert lags, "premise: the replicas are measured lagging"
        assert min(lags) > 1.0, f"premise: both replicas lag more than 1 s, got {lags}"
        for _ in range(6):
            tight = await client.get(f"/customers/{email}", headers={"X-DB-Max-Staleness": "1s"})
            assert tight.status_code == 200
            assert tight.headers["x-db-node"] == "primary"
            assert "x-db-staleness" not in tight.headers
        loose = await client.get(f"/customers/{email}", headers={"X-DB-Max-Staleness": "30s"})
        # max_lag_seconds (5 s) still applies to every read; 3 s of delay is within it.
        assert loose.headers["x-db-node"].startswith("replica-")
        assert float(loose.headers["x-db-staleness"]) > 1.0
    finally:
        stop.set()
        await writer
        for replica in ("replica-1", "replica-2"):
            lab.set_apply_delay(replica, 0)


async def test_a_route_option_bounds_staleness_and_fallback_error_answers_503(
    lab: LocalCluster,
) -> None:
    @get("/fresh-count", opt={"db_max_staleness": 0.0})
    async def fresh_count(db: Db) -> dict[str, str]:
        return {"node": db.node.name}

    settings = lab_settings(lab.env(MODE))
    strict = msgspec.structs.replace(
        settings, database=msgspec.structs.replace(settings.database, fallback="error")
    )
    app: Litestar = create_app(strict)
    app.register(fresh_count)
    async with AsyncTestClient(app=app) as client:
        await asyncio.sleep(2 * PROBE_INTERVAL)
        # A bound of 0 s no replica can promise (its measurement has some age): 503 here.
        response = await client.get("/fresh-count")
        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        # Without the option (the same app, a route that has none) a replica serves.
        plain = await client.get(f"/customers/{unique_email('none')}")
        assert plain.status_code == 404
        assert plain.headers["x-db-node"].startswith("replica-")


async def test_a_malformed_or_negative_bound_is_a_400(client: Client) -> None:
    for value in ("soon", "-1s", "1h", "5 minutes"):
        response = await client.get(
            f"/customers/{unique_email('bad')}", headers={"X-DB-Max-Staleness": value}
        )
        assert response.status_code == 400, value
        assert response.json()["header"] == "X-DB-Max-Staleness"
