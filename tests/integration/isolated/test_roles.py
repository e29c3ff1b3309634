"""Roles come from the nodes: a promotion is followed without a restart, split brain is fenced."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import LocalCluster
from tests.integration.conftest import MODE
from tests.integration.helpers import Client, unique_email
from tests.integration.isolated.conftest import PROBE_INTERVAL, lab_settings
from tests.integration.isolated.nodes import health_of, promote, sql, timeline, wait_for


@dataclass
class Load:
    """Writes and reads through the service, each recorded with when it finished and where."""

    writes: list[tuple[float, int, str | None, str]] = field(default_factory=list)
    reads: list[tuple[float, int, str | None]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def write_loop(self, client: Client) -> None:
        while not self.stop.is_set():
            email = unique_email("load")
            response = await client.put(f"/customers/{email}", json={"name": "load"})
            self.writes.append(
                (time.monotonic(), response.status_code, response.headers.get("x-db-node"), email)
            )
            await asyncio.sleep(0.01)

    async def read_loop(self, client: Client, email: str) -> None:
        while not self.stop.is_set():
            response = await client.get(f"/customers/{email}")
            self.reads.append(
                (time.monotonic(), response.status_code, response.headers.get("x-db-node"))
            )
            await asyncio.sleep(0.01)


async def seeded(client: Client) -> str:
    email = unique_email("seed")
    assert (await client.put(f"/customers/{email}", json={"name": "seed"})).status_code == 201
    return email


async def on_node(lab: LocalCluster, node: str, emails: list[str]) -> set[str]:
    conn = await asyncpg.connect(lab.direct_url(node))
    try:
        rows = await conn.fetch(
            "SELECT email FROM customers WHERE email = ANY($1::text[])",
            [e.lower() for e in emails],
        )
    finally:
        await conn.close()
    return {row["email"] for row in rows}


async def test_a_failover_is_followed_under_load_without_a_failed_read(
    lab: LocalCluster, client: Client
) -> None:
    email = await seeded(client)
    await asyncio.sleep(PROBE_INTERVAL * 2)  # replicated, and the monitor has seen it
    load = Load()
    tasks = [
        asyncio.create_task(load.write_loop(client)),
        asyncio.create_task(load.read_loop(client, email)),
    ]
    await asyncio.sleep(0.5)
    lab.stop("primary", "immediate")
    await asyncio.sleep(0.3)
    promoted_at = await promote(lab, "replica-1")
    await asyncio.to_thread(lab.follow, "replica-2", "replica-1")
    await asyncio.sleep(PROBE_INTERVAL * 2 + 1.0)
    load.stop.set()
    await asyncio.gather(*tasks)

    failed_reads = [r for r in load.reads if r[1] != 200]
    assert failed_reads == [], f"{len(failed_reads)} of {len(load.reads)} reads failed"
    on_new = [w for w in load.writes if w[1] in (200, 201) and w[2] == "replica-1"]
    assert on_new, "no write reached the promoted node"
    first = min(w[0] for w in on_new)
    assert first - promoted_at < 2 * PROBE_INTERVAL + 0.3, (
        f"first write on the new primary {first - promoted_at:.2f} s after its promotion"
    )
    acknowledged_after = [w[3] for w in load.writes if w[0] > promoted_at and w[1] in (200, 201)]
    assert acknowledged_after
    assert await on_node(lab, "replica-1", acknowledged_after) == {
        e.lower() for e in acknowledged_after
    }
    # Nothing answered a 500: before the promotion writes were 503s, after it they landed.
    assert {w[1] for w in load.writes} <= {201, 503}
    health = await health_of(client)
    assert health["replica-1"]["_primary"] == "replica-1"
    assert health["replica-1"]["role"] == "primary"
    assert health["replica-1"]["timeline"] == await timeline(lab, "replica-1") == 2


async def test_split_brain_writes_only_the_highest_timeline_and_fences_the_old_primary(
    lab: LocalCluster, client: Client
) -> None:
    email = await seeded(client)
    # The promotion leaves the old primary running and writable: a partition, a botched
    # switchover. replica-2 keeps following the old primary.
    promoted_at = await promote(lab, "replica-1")
    await wait_for(
        client,
        lambda h: h["primary"]["state"] == "fenced" and h["replica-1"]["_primary"] == "replica-1",
        2 * PROBE_INTERVAL + 0.5,
        "the old primary fenced and the promoted node elected",
    )
    detected_at = time.monotonic()
    assert detected_at - promoted_at < 2 * PROBE_INTERVAL + 0.5
    health = await health_of(client)
    assert health["replica-2"]["state"] == "fenced"  # it follows the fenced node
    assert "split brain" in health["primary"]["last_error"]

    written = []
    for _ in range(20):
        new = unique_email("after")
        response = await client.put(f"/customers/{new}", json={"name": "after"})
        assert response.status_code == 201
        assert response.headers["x-db-node"] == "replica-1"
        written.append(new)
    assert await on_node(lab, "primary", written) == set()
    assert len(await on_node(lab, "replica-1", written)) == len(written)

    # A token from a write on the new timeline...
    token_email = unique_email("token")
    response = await client.put(f"/customers/{token_email}", json={"name": "t"})
    token = response.headers["x-db-lsn"]
    # ...while the old primary's WAL is driven past it, and replica-2 (following the old
    # primary) replays past it too: numerically it "has" the token.
    for _ in range(3):
        await sql(lab, "primary", "CREATE TABLE IF NOT EXISTS filler(x text)")
        await sql(
            lab,
            "primary",
            "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 5000)",
        )
    old_replay = await sql(
        lab, "replica-2", "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", token
    )
    assert old_replay is True, "premise: the stale standby is numerically past the token"
    for _ in range(20):
        response = await client.get(f"/customers/{token_email}", headers={"X-DB-Min-LSN": token})
        assert response.status_code == 200
        assert response.headers["x-db-node"] == "replica-1"
    # The negative control: reads without a token never go to the fenced nodes either.
    for _ in range(10):
        response = await client.get(f"/customers/{email}")
        assert response.headers["x-db-node"] == "replica-1"


async def test_a_configured_primary_in_recovery_serves_as_a_replica(lab: LocalCluster) -> None:
    """DATABASE_URL names a standby (a failover happened since the config was written)."""
    env = lab.env(MODE)
    direct = lab.env("direct")
    urls = dict(item.split("=", 1) for item in env["DATABASE_REPLICA_URLS"].split(","))
    swapped = {
        **env,
        "DATABASE_URL": urls["replica-1"],
        "DATABASE_REPLICA_URLS": f"old={env['DATABASE_URL']},replica-2={urls['replica-2']}",
        "DATABASE_MIGRATION_URL": direct["DATABASE_MIGRATION_URL"],
    }
    async with AsyncTestClient(app=create_app(lab_settings(swapped))) as client:
        email = unique_email("swapped")
        response = await client.put(f"/customers/{email}", json={"name": "s"})
        assert response.status_code == 201, response.text
        assert response.headers["x-db-node"] == "old"
        strong = await client.get(f"/customers/{email}", headers={"X-DB-Consistency": "strong"})
        assert strong.status_code == 200
        assert strong.headers["x-db-node"] == "old"
        health = await health_of(client)
        assert health["primary"]["role"] == "replica"
        assert health["primary"]["state"] in ("up", "lagging")
        assert health["old"]["role"] == "primary"


async def test_a_node_of_another_cluster_is_foreign_and_never_served(
    lab: LocalCluster, stranger: LocalCluster
) -> None:
    env = lab.env("direct")
    env["DATABASE_REPLICA_URLS"] += f",stray={stranger.direct_url('primary')}"
    async with AsyncTestClient(app=create_app(lab_settings(env))) as client:
        health = await health_of(client)
        assert health["stray"]["state"] == "foreign"
        assert "system identifier" in health["stray"]["last_error"]
        assert health["primary"]["_primary"] == "primary"
        email = await seeded(client)
        await asyncio.sleep(PROBE_INTERVAL * 2)
        nodes = {(await client.get(f"/customers/{email}")).headers["x-db-node"] for _ in range(12)}
        assert "stray" not in nodes
        assert nodes <= {"replica-1", "replica-2"}
