"""A replica restarted under load serves no row older than one it already served.

A standby restarted after `stop -m immediate` accepts connections once consistent, which can
be before it has replayed what it served before the stop; the service must not send it reads
until it has caught up with its own high-water mark. Here the WAL it had is all on local disk,
so it would replay it at once: an apply delay that takes effect with the restart holds its
recent commits back, and the test checks that the replica really came back behind."""

from __future__ import annotations

import asyncio

import asyncpg

from service.cluster import Topology
from tests.integration.failover.heal import admin_url
from tests.integration.helpers import Client, seeded_customer

RESTARTED = "replica-1"


async def replay_lsn(lab: Topology, name: str) -> int:
    conn = await asyncpg.connect(lab.direct_url(name), timeout=3)
    try:
        return int(await conn.fetchval("SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn"))
    finally:
        await conn.close()


async def admin_execute(lab: Topology, name: str, sql: str) -> None:
    conn = await asyncpg.connect(admin_url(lab, name), timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_a_replica_restarted_under_load_never_serves_an_older_row(
    lab: Topology, lab_client: Client
) -> None:
    email = await seeded_customer(lab_client, "0")
    stop = asyncio.Event()
    served: list[tuple[float, str, int]] = []  # (when, node, version read)
    loop = asyncio.get_running_loop()

    async def writer() -> None:
        version = 0
        while not stop.is_set():
            version += 1
            response = await lab_client.put(f"/customers/{email}", json={"name": str(version)})
            assert response.status_code == 200, response.text
            # The test client runs each request to its end without yielding: let the readers in.
            await asyncio.sleep(0.002)

    async def reader() -> None:
        while not stop.is_set():
            response = await lab_client.get(f"/customers/{email}")
            if response.status_code == 200:
                served.append(
                    (loop.time(), response.headers["X-DB-Node"], int(response.json()["name"]))
                )
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(writer()), *(asyncio.create_task(reader()) for _ in range(6))]
    try:
        await asyncio.sleep(1.5)
        # Written now, read only by the restart: commits of the last 3 s wait that long.
        await admin_execute(lab, RESTARTED, "ALTER SYSTEM SET recovery_min_apply_delay = '3s'")
        high_water = await replay_lsn(lab, RESTARTED)
        stopped_at = loop.time()
        await asyncio.to_thread(lab.stop, RESTARTED, "immediate")
        await asyncio.to_thread(lab.start, RESTARTED)
        restarted_at = await replay_lsn(lab, RESTARTED)
        # Re-admission waits for the primary's position after the stop to be replayed (3 s
        # of apply delay behind a writer that never pauses), then for a probe: room to spare.
        await asyncio.sleep(12.0)
    finally:
        stop.set()
        await asyncio.gather(*tasks)

    # The premise: it accepted connections behind what it had served.
    assert restarted_at < high_water, (restarted_at, high_water)
    before = max(v for t, node, v in served if node == RESTARTED and t < stopped_at)
    after = [v for t, node, v in served if node == RESTARTED and t > stopped_at]
    assert after, f"{RESTARTED} never served again after its restart"
    print(
        f"\nrestart: replay at first connect {restarted_at - high_water:+d} bytes from the "
        f"high water; {len(after)} reads after, lowest version {min(after)} vs {before} before"
    )
    assert min(after) >= before, (min(after), before)
