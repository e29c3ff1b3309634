"""Replicas that die, lag and come back, under a steady read load."""

from __future__ import annotations

import asyncio
import itertools

import msgspec
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import Topology
from service.settings import Settings
from tests.integration.failover.load import ReadLoad
from tests.integration.helpers import Client, unique_email, wait_until_replicated

PROBE_INTERVAL = 1.0
FROZEN_FOR = 5.0


async def seeded(client: Client, name: str = "Seed") -> str:
    email = unique_email("lab").lower()
    assert (await client.put(f"/customers/{email}", json={"name": name})).status_code == 201
    await wait_until_replicated(client, email)
    await asyncio.sleep(0.1)  # both replicas
    return email


async def test_stopped_replica_costs_no_read_and_gets_reads_again_after_restart(
    lab: Topology, lab_client: Client
) -> None:
    email = await seeded(lab_client)
    load = ReadLoad(lab_client, f"/customers/{email}")
    loop = asyncio.get_running_loop()
    load.start()
    await asyncio.sleep(1.0)
    stopped_at = loop.time()
    await asyncio.to_thread(lab.stop, "replica-1", "immediate")
    await asyncio.sleep(3.0)
    await asyncio.to_thread(lab.start, "replica-1")
    started_at = loop.time()
    await asyncio.sleep(6.0)  # the ban back-off is at most 5 s
    served = await load.stop()

    assert load.failures() == [], load.failures()[:5]
    last = load.last_served_by("replica-1")
    assert last is not None
    moved_off = max(s.at for s in served if s.node == "replica-1" and s.at < started_at)
    assert moved_off - stopped_at < 2 * PROBE_INTERVAL
    back = load.first_served_by_after("replica-1", started_at)
    assert back is not None, "replica-1 never got reads again after its restart"
    print(
        f"\nreplica stop -> last read sent to it: {moved_off - stopped_at:.3f} s; "
        f"restart -> first read served by it: {back - started_at:.3f} s; "
        f"{len(served)} reads, 0 failed"
    )


async def test_one_replica_down_every_read_goes_to_the_other_and_health_shows_it(
    lab: Topology, lab_client: Client
) -> None:
    email = await seeded(lab_client)
    await asyncio.to_thread(lab.stop, "replica-2", "immediate")
    await asyncio.sleep(2 * PROBE_INTERVAL + 0.5)
    nodes = [(await lab_client.get(f"/customers/{email}")).headers["X-DB-Node"] for _ in range(10)]
    assert set(nodes) == {"replica-1"}
    health = {n["name"]: n for n in (await lab_client.get("/health/db")).json()["nodes"]}
    assert health["replica-2"]["state"] in ("down", "banned")
    assert health["replica-1"]["state"] == "up"
    metrics = (await lab_client.get("/metrics")).text
    assert 'switchyard_node_state{node="replica-2",state="down"} 1.0' in metrics or (
        'switchyard_node_state{node="replica-2",state="banned"} 1.0' in metrics
    )
    assert 'switchyard_node_state{node="replica-1",state="up"} 1.0' in metrics
    assert 'switchyard_db_sessions_total{intent="read",node="replica-1"}' in metrics


async def test_lag_is_real_and_the_lsn_token_reads_fresh(lab: Topology, lab_client: Client) -> None:
    email = await seeded(lab_client, "Before")
    for replica in ("replica-1", "replica-2"):
        await asyncio.to_thread(lab.set_apply_delay, replica, 2.0)
    write = await lab_client.put(f"/customers/{email}", json={"name": "After"})
    assert write.status_code == 200
    token = write.headers["X-DB-LSN"]

    stale = await lab_client.get(f"/customers/{email}")
    assert stale.headers["X-DB-Node"].startswith("replica-")
    assert stale.json()["name"] == "Before", "the injected lag did not show: test proves nothing"

    fresh = await lab_client.get(f"/customers/{email}", headers={"X-DB-Min-LSN": token})
    assert fresh.status_code == 200
    assert fresh.json()["name"] == "After"

    # Once a replica has replayed the token, it (not the primary) serves the token's reads.
    await asyncio.sleep(2.5)
    caught_up = await lab_client.get(f"/customers/{email}", headers={"X-DB-Min-LSN": token})
    assert caught_up.json()["name"] == "After"
    assert caught_up.headers["X-DB-Node"].startswith("replica-")


async def test_replica_over_max_lag_gets_no_reads_until_it_catches_up(
    lab: Topology, lab_settings: Settings
) -> None:
    health = msgspec.structs.replace(lab_settings.health, max_lag_seconds=1.0)
    async with AsyncTestClient(
        app=create_app(msgspec.structs.replace(lab_settings, health=health))
    ) as client:
        email = await seeded(client)
        await asyncio.to_thread(lab.set_apply_delay, "replica-1", 4.0)
        # Lag only exists while there is something to replay: keep writing.
        for i in range(8):
            await client.put(f"/customers/{email}", json={"name": f"w{i}"})
            await asyncio.sleep(0.4)
        states = {n["name"]: n["state"] for n in (await client.get("/health/db")).json()["nodes"]}
        assert states["replica-1"] == "lagging"
        nodes = {(await client.get(f"/customers/{email}")).headers["X-DB-Node"] for _ in range(10)}
        assert nodes == {"replica-2"}

        await asyncio.to_thread(lab.set_apply_delay, "replica-1", 0)
        await asyncio.sleep(2 * PROBE_INTERVAL + 0.5)
        nodes = {(await client.get(f"/customers/{email}")).headers["X-DB-Node"] for _ in range(10)}
        assert "replica-1" in nodes


async def test_frozen_replica_stalls_reads_for_about_one_probe_and_fails_none(
    lab: Topology, lab_client: Client
) -> None:
    """A hung node keeps its sockets open: only client-side deadlines and the monitor end the
    waits, and the waiting reads are re-run on the other replica."""
    email = await seeded(lab_client)
    load = ReadLoad(lab_client, f"/customers/{email}", concurrency=10)
    loop = asyncio.get_running_loop()
    load.start()
    await asyncio.sleep(1.0)
    frozen_at = loop.time()
    await asyncio.to_thread(lab.freeze, "replica-1")
    await asyncio.sleep(FROZEN_FOR)
    await asyncio.to_thread(lab.thaw, "replica-1")
    await asyncio.sleep(1.0)
    served = await load.stop()

    assert load.failures() == [], load.failures()[:5]
    during = [s for s in served if frozen_at + 3.5 < s.at < frozen_at + FROZEN_FOR]
    assert during, "no reads completed while replica-1 was frozen"
    assert {s.node for s in during} == {"replica-2"}
    # The longest stall: the widest gap between two completed reads after the freeze.
    times = sorted(s.at for s in served if s.at > frozen_at)
    stall = max(b - a for a, b in itertools.pairwise(times))
    # Detection takes up to one interval plus one probe timeout (2 s); a margin for a loaded
    # machine, and still well short of the freeze: nothing waited for the thaw.
    assert stall < 2 * PROBE_INTERVAL + 1.0 < FROZEN_FOR, f"reads stalled {stall:.2f} s"
    print(f"\nfrozen replica: longest gap between completed reads {stall:.3f} s")


async def test_sticky_window_reads_the_clients_own_write_without_a_token(
    lab: Topology, lab_settings: Settings
) -> None:
    database = msgspec.structs.replace(
        lab_settings.database, sticky_window=5.0, sticky_secret="lab-secret-0123456789"
    )
    app = create_app(msgspec.structs.replace(lab_settings, database=database))
    async with AsyncTestClient(app=app) as client:
        email = await seeded(client, "Before")
        for replica in ("replica-1", "replica-2"):
            await asyncio.to_thread(lab.set_apply_delay, replica, 2.0)
        client.cookies.clear()
        write = await client.put(f"/customers/{email}", json={"name": "After"})
        assert "switchyard_lsn" in write.headers["set-cookie"]

        own = await client.get(f"/customers/{email}")  # the cookie jar sends it back
        assert own.json()["name"] == "After"

        client.cookies.clear()  # another client, no cookie: the lag is real
        other = await client.get(f"/customers/{email}")
        assert other.headers["X-DB-Node"].startswith("replica-")
        assert other.json()["name"] == "Before"
