"""Replicas that die, lag and come back, under a steady read load."""

from __future__ import annotations

import asyncio
import gc

import pytest

from service.cluster import Topology
from service.settings import Settings
from tests.integration.conftest import MODE, serving
from tests.integration.failover.load import ReadLoad
from tests.integration.helpers import Client, seeded_customer

PROBE_INTERVAL = 1.0
REPLICAS = ("replica-1", "replica-2")
FROZEN_FOR = 10.0


async def test_stopped_replica_costs_no_read_and_gets_reads_again_after_restart(
    lab: Topology, lab_client: Client
) -> None:
    email = await seeded_customer(lab_client)
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
    email = await seeded_customer(lab_client)
    await asyncio.to_thread(lab.stop, "replica-2", "immediate")
    await asyncio.sleep(2 * PROBE_INTERVAL + 0.5)
    sessions = 'switchyard_db_sessions_total{intent="read",node="%s"}'
    before = {r: _counter((await lab_client.get("/metrics")).text, sessions % r) for r in REPLICAS}
    nodes = [(await lab_client.get(f"/customers/{email}")).headers["X-DB-Node"] for _ in range(10)]
    assert set(nodes) == {"replica-1"}
    health = {n["name"]: n for n in (await lab_client.get("/health/db")).json()["nodes"]}
    # No read reached it after the stop: only the monitor's probe judged it. Behind PgBouncer
    # it has also been seen `banned` (reported: which request failed there is not known).
    assert health["replica-2"]["state"] in (("down",) if MODE == "direct" else ("down", "banned"))
    assert health["replica-1"]["state"] == "up"
    # The metrics registry is process-wide (other apps in this run count into it too), so
    # what this test's reads did is the difference they made.
    after = {r: _counter((await lab_client.get("/metrics")).text, sessions % r) for r in REPLICAS}
    sessions_made = {r: after[r] - before[r] for r in REPLICAS}
    if MODE == "direct":
        assert sessions_made == {"replica-1": 10.0, "replica-2": 0.0}
    else:
        # Reported: behind PgBouncer one read was still sent to the stopped replica (and re-run).
        assert sessions_made["replica-1"] == 10.0
        assert sessions_made["replica-2"] <= 1.0


async def test_lag_is_real_and_the_lsn_token_reads_fresh(lab: Topology, lab_client: Client) -> None:
    email = await seeded_customer(lab_client, "Before")
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
    async with serving(lab_settings, health={"max_lag_seconds": 1.0}) as client:
        email = await seeded_customer(client)
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


# Reported to the lead: a probe that times out while connecting to a frozen node leaves an
# asyncpg Connection unclosed (ResourceWarning at garbage collection). Collected here, where
# it is expected, rather than failing whichever test the collector happens to run in.
@pytest.mark.filterwarnings("ignore:unclosed connection:ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_frozen_replica_stalls_reads_for_about_one_probe_and_fails_none(
    lab: Topology, lab_settings: Settings
) -> None:
    """A hung node keeps its sockets open: only client-side deadlines and the monitor end the
    waits, and the waiting reads are re-run on the other replica.

    The read deadline is raised to 8 s here so the two ways a wait can end land on different
    sides of the bound: the monitor aborts waiting reads within one probe interval plus one
    probe timeout (2 s by default); without that abort they would run into the deadline. The
    bound sits halfway between the two, 3 s from each (a loaded machine has been seen to take
    3.9 s to detect and re-run)."""
    read_deadline = 8.0
    health = lab_settings.health
    detection = health.interval + health.timeout
    bound = (detection + read_deadline) / 2
    assert detection < bound < read_deadline < FROZEN_FOR
    async with serving(lab_settings, database={"read_statement_timeout": read_deadline}) as client:
        email = await seeded_customer(client)
        load = ReadLoad(client, f"/customers/{email}", concurrency=10)
        loop = asyncio.get_running_loop()
        load.start()
        await asyncio.sleep(1.0)
        frozen_at = loop.time()
        await asyncio.to_thread(lab.freeze, "replica-1")
        try:
            await asyncio.sleep(FROZEN_FOR)
        finally:
            await asyncio.to_thread(lab.thaw, "replica-1")  # before the app stops
        await asyncio.sleep(1.0)
        served = await load.stop()
    gc.collect()  # the probes' leaked connections, under this test's warning filter

    assert load.failures() == [], load.failures()[:5]
    caught = [s for s in served if s.started < frozen_at + bound and s.at > frozen_at]
    assert any(s.took > 0.5 for s in caught), "no read waited on the frozen replica: proves nothing"
    during = [s for s in served if frozen_at + bound < s.at < frozen_at + FROZEN_FOR]
    assert during, "no reads completed while replica-1 was frozen"
    assert {s.node for s in during} == {"replica-2"}
    # Each read's own wait, from its request to its response: none reached the deadline.
    longest = max(s.took for s in served)
    assert longest < bound, f"a read took {longest:.2f} s (deadline {read_deadline} s)"
    print(f"\nfrozen replica: the longest read took {longest:.3f} s (bound {bound:.1f} s)")


async def test_sticky_window_reads_the_clients_own_write_without_a_token(
    lab: Topology, lab_settings: Settings
) -> None:
    sticky = {"sticky_window": 5.0, "sticky_secret": "lab-secret-0123456789"}
    async with serving(lab_settings, database=sticky) as client:
        email = await seeded_customer(client, "Before")
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


def _counter(metrics: str, series: str) -> float:
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0  # a counter no one has incremented yet has no series
