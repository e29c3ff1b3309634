"""The service in front of a real Patroni cluster: failovers and a switchover followed without
a restart and without a failed read; split brain (the leader's Patroni killed, its PostgreSQL
still writable) fenced, counted against a client that keeps writing to the old primary.

Deadlines, not timings (a loaded CI machine is slower); the figures go to the test log.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
import msgspec
import pytest
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster.ha import PatroniCluster
from service.settings import Settings, load_settings
from tests.integration.helpers import Client, unique_email

# Each test picks its mode itself: run once, in the direct pass.
pytestmark = pytest.mark.mode_independent
PROBE_INTERVAL = 0.5
RECOVERY_DEADLINE = 30.0  # from the fault to writes landing on the new leader


def report(message: str, *args: object) -> None:
    """Figures for the notes: shown with `pytest -s` (Litestar takes over logging)."""
    print("\n[patroni] " + message % args)


def fast_probes(cluster: PatroniCluster) -> Settings:
    settings = load_settings(cluster.env("direct"))
    health = msgspec.structs.replace(settings.health, interval=PROBE_INTERVAL, timeout=0.5)
    return msgspec.structs.replace(settings, health=health)


@dataclass
class Load:
    writes: list[tuple[float, int, str | None, str]] = field(default_factory=list)
    reads: list[tuple[float, int]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, client: Client, email: str) -> None:
        while not self.stop.is_set():
            new = unique_email("ha")
            wrote = await client.put(f"/customers/{new}", json={"name": "ha"})
            self.writes.append(
                (time.monotonic(), wrote.status_code, wrote.headers.get("x-db-node"), new)
            )
            read = await client.get(f"/customers/{email}")
            self.reads.append((time.monotonic(), read.status_code))
            await asyncio.sleep(0.01)

    def acknowledged(self) -> list[tuple[float, int, str | None, str]]:
        return [w for w in self.writes if w[1] in (200, 201)]


async def present_on(cluster: PatroniCluster, node: str, emails: list[str]) -> set[str]:
    conn = await asyncpg.connect(cluster.direct_url(node))
    try:
        rows = await conn.fetch(
            "SELECT email FROM customers WHERE email = ANY($1::text[])", [e.lower() for e in emails]
        )
    finally:
        await conn.close()
    return {row["email"] for row in rows}


def watch_leader(cluster: PatroniCluster, old: str, seen: dict[str, float]) -> threading.Thread:
    """Note when a member other than `old` holds the lock and is writable."""

    def wait() -> None:
        leader = cluster.wait_leader(RECOVERY_DEADLINE * 2, other_than=old)
        seen[leader] = time.monotonic()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


async def seeded(client: Client) -> str:
    email = unique_email("ha-seed")
    assert (await client.put(f"/customers/{email}", json={"name": "seed"})).status_code == 201
    await asyncio.sleep(2 * PROBE_INTERVAL)
    return email


async def test_a_killed_leader_postmaster_is_followed_with_no_failed_read(
    patroni: PatroniCluster,
) -> None:
    async with AsyncTestClient(app=create_app(fast_probes(patroni))) as client:
        email = await seeded(client)
        load = Load()
        runner = asyncio.create_task(load.run(client, email))
        await asyncio.sleep(1.0)
        promoted: dict[str, float] = {}
        killed_at = time.monotonic()
        old = patroni.kill_leader_postmaster()
        watcher = watch_leader(patroni, old, promoted)
        await asyncio.to_thread(watcher.join, RECOVERY_DEADLINE * 2)
        assert promoted, "Patroni promoted nobody"
        new = next(iter(promoted))
        await asyncio.sleep(3.0)
        load.stop.set()
        await runner

    failed_reads = [r for r in load.reads if r[1] != 200]
    assert failed_reads == [], f"{len(failed_reads)} of {len(load.reads)} reads failed"
    on_new = [w for w in load.acknowledged() if w[2] == new]
    assert on_new, "no write reached the new leader"
    first = min(w[0] for w in on_new)
    assert first - killed_at < RECOVERY_DEADLINE
    report(
        "postmaster kill: promoted at +%.2f s, first write on %s at +%.2f s "
        "(%.2f s after the promotion), %d reads, 0 failed",
        promoted[new] - killed_at,
        new,
        first - killed_at,
        first - promoted[new],
        len(load.reads),
    )
    acknowledged = [w[3] for w in load.acknowledged()]
    missing = {e.lower() for e in acknowledged} - await present_on(patroni, new, acknowledged)
    assert missing == set(), f"{len(missing)} acknowledged writes lost"
    assert {w[1] for w in load.writes} <= {200, 201, 503}


async def test_split_brain_after_the_leaders_patroni_dies_loses_fewer_writes_than_a_plain_client(
    patroni: PatroniCluster,
) -> None:
    """SIGKILL of the leader's Patroni: its PostgreSQL stays writable while another member is
    promoted (~ttl later). A plain client keeps writing to the old primary; through the
    service, writes move to the new timeline within a probe. After the old leader's Patroni
    is back (it rewinds the old primary), count what each lost."""
    async with AsyncTestClient(app=create_app(fast_probes(patroni))) as client:
        email = await seeded(client)
        load = Load()
        runner = asyncio.create_task(load.run(client, email))
        old = patroni.kill_leader_patroni()
        control: list[str] = []
        control_stop = asyncio.Event()

        async def plain_client() -> None:
            conn = await asyncpg.connect(patroni.direct_url(old))
            try:
                while not control_stop.is_set():
                    mark = f"control-{uuid.uuid4().hex[:12]}@example.com"
                    try:
                        await conn.execute(
                            "INSERT INTO customers (email, name) VALUES ($1, 'c')", mark
                        )
                    except (asyncpg.PostgresError, OSError):
                        break  # demoted or gone: it cannot be acknowledged any more
                    control.append(mark)
                    await asyncio.sleep(0.01)
            finally:
                await conn.close(timeout=2)

        control_task = asyncio.create_task(plain_client())
        promoted: dict[str, float] = {}
        watcher = watch_leader(patroni, old, promoted)
        await asyncio.to_thread(watcher.join, 90.0)
        assert promoted, "Patroni promoted nobody"
        new = next(iter(promoted))
        await asyncio.sleep(4 * PROBE_INTERVAL + 2.0)  # the split brain goes on meanwhile
        load.stop.set()
        control_stop.set()
        await runner
        await control_task
        health = (await client.get("/health/db")).json()
        states = {node["name"]: node["state"] for node in health["nodes"]}

    assert states[old] == "fenced", states
    assert health["primary"] == new
    # The old leader's Patroni comes back, demotes its PostgreSQL and rewinds it.
    await asyncio.to_thread(patroni.start, old)
    await asyncio.to_thread(patroni.wait_healthy)
    leader = patroni.leader()
    assert leader == new
    through_service = [w[3] for w in load.acknowledged()]
    lost_service = {e.lower() for e in through_service} - await present_on(
        patroni, new, through_service
    )
    lost_control = set(control) - await present_on(patroni, new, control)
    acked_at = {w[3].lower(): w[0] for w in load.acknowledged()}
    late = [acked_at[e] - promoted[new] for e in lost_service]
    failed_reads = [r for r in load.reads if r[1] != 200]
    report(
        "Patroni kill: promotion at %s; acknowledged writes lost: %d of %d through the service, "
        "%d of %d by the plain client; %d reads, %d failed; the service's lost writes were "
        "acknowledged from %.2f to %.2f s after the promotion was seen",
        new,
        len(lost_service),
        len(through_service),
        len(lost_control),
        len(control),
        len(load.reads),
        len(failed_reads),
        min(late, default=0.0),
        max(late, default=0.0),
    )
    assert lost_control, "premise: the plain client lost writes to the split brain"
    assert len(lost_service) < len(lost_control)
    assert failed_reads == []


async def test_a_switchover_is_followed_with_no_failed_read(patroni: PatroniCluster) -> None:
    async with AsyncTestClient(app=create_app(fast_probes(patroni))) as client:
        email = await seeded(client)
        load = Load()
        runner = asyncio.create_task(load.run(client, email))
        await asyncio.sleep(1.0)
        started = time.monotonic()
        new = await asyncio.to_thread(patroni.switchover)
        switched = time.monotonic()
        await asyncio.sleep(3.0)
        load.stop.set()
        await runner
    assert [r for r in load.reads if r[1] != 200] == []
    on_new = [w for w in load.acknowledged() if w[2] == new and w[0] > switched]
    assert on_new, "no write reached the new leader after the switchover"
    report(
        "switchover to %s took %.2f s; first write there %.2f s after it returned",
        new,
        switched - started,
        min(w[0] for w in on_new) - switched,
    )
