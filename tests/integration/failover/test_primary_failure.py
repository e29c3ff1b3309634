"""The primary stops: writes fail fast with 503, reads go on, writes come back by themselves."""

from __future__ import annotations

import asyncio

from service.cluster import Topology
from tests.integration.helpers import Client, unique_email, wait_until_replicated


async def test_primary_down_writes_fail_fast_reads_continue_then_writes_recover(
    lab: Topology, lab_client: Client
) -> None:
    email = unique_email("primary").lower()
    assert (await lab_client.put(f"/customers/{email}", json={"name": "P"})).status_code == 201
    await wait_until_replicated(lab_client, email)

    await asyncio.to_thread(lab.stop, "primary", "immediate")
    loop = asyncio.get_running_loop()
    for _ in range(3):  # before and after the monitor notices
        started = loop.time()
        write = await lab_client.put(f"/customers/{email}", json={"name": "Q"})
        elapsed = loop.time() - started
        assert write.status_code == 503, write.text
        assert write.headers["content-type"] == "application/problem+json"
        assert int(write.headers["Retry-After"]) >= 1
        assert elapsed < 3.0
        read = await lab_client.get(f"/customers/{email}")
        assert read.status_code == 200
        assert read.headers["X-DB-Node"].startswith("replica-")
        await asyncio.sleep(0.7)

    ready = await lab_client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["primary_up"] is False

    await asyncio.to_thread(lab.start, "primary")
    async with asyncio.timeout(10):
        while (await lab_client.put(f"/customers/{email}", json={"name": "R"})).status_code != 200:
            await asyncio.sleep(0.2)


async def test_wal_lost_with_the_primary_does_not_make_replicas_lag_forever(
    lab: Topology, lab_client: Client
) -> None:
    """A replica that never received the primary's last WAL is judged by what it received:
    measured against the dead primary's last position it would lag more every second."""
    email = unique_email("lost").lower()
    assert (await lab_client.put(f"/customers/{email}", json={"name": "A"})).status_code == 201
    await wait_until_replicated(lab_client, email)
    await asyncio.to_thread(lab.freeze, "replica-1")
    for name in ("B", "C", "D"):  # WAL replica-1 will never receive
        assert (await lab_client.put(f"/customers/{email}", json={"name": name})).status_code == 200
    await asyncio.sleep(1.2)  # the monitor records the primary's position
    await asyncio.to_thread(lab.stop, "primary", "immediate")
    await asyncio.to_thread(lab.thaw, "replica-1")
    await asyncio.sleep(7.0)  # past max_lag_seconds (5 s)

    health = {n["name"]: n for n in (await lab_client.get("/health/db")).json()["nodes"]}
    assert health["primary"]["state"] == "down"
    assert health["replica-1"]["state"] == "up", health["replica-1"]
    for _ in range(6):
        read = await lab_client.get(f"/customers/{email}")
        assert read.status_code == 200, read.text

    await asyncio.to_thread(lab.start, "primary")
    async with asyncio.timeout(10):  # leave the service writing again for the next test
        while (await lab_client.put(f"/customers/{email}", json={"name": "E"})).status_code != 200:
            await asyncio.sleep(0.2)
