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
    async with asyncio.timeout(10):  # writes come back without a restart of the service
        while (await lab_client.put(f"/customers/{email}", json={"name": "R"})).status_code != 200:
            await asyncio.sleep(0.2)
