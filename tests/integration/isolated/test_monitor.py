"""The monitor under long outages and saturation: it never dies, and busy is not dead."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from litestar import Litestar, post
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from service.app import create_app
from service.cluster import LocalCluster
from service.db import Db
from service.settings import Settings
from tests.integration.isolated.conftest import lab_settings
from tests.integration.isolated.nodes import health_of, wait_for
from tests.integration.isolated.served import served

# Each test picks its mode itself: run once, in the direct pass.
pytestmark = pytest.mark.mode_independent
OLD_OVERFLOW = 1025  # failures past which 2 ** (failures - 1) once overflowed a float
PGBOUNCER_POOL = 20  # default_pool_size in the lab's pgbouncer.ini


def tuned(settings: Settings, **health: float) -> Settings:
    return msgspec.structs.replace(
        settings, health=msgspec.structs.replace(settings.health, **health)
    )


async def test_a_long_outage_never_stops_the_monitor(lab: LocalCluster) -> None:
    """Thousands of failed probes, compressed into seconds: a replica after the primary in
    the round is still re-admitted when it comes back. (Every node is stopped so that each
    round is a few refused connects; the primary's count of failures is the proof.)"""
    settings = tuned(
        lab_settings(lab.env("direct")), interval=0.001, ban_initial=0.001, ban_max=0.001
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        for node in ("replica-2", "replica-1", "primary"):
            lab.stop(node, "immediate")
        await wait_for(
            client,
            lambda h: h["primary"]["consecutive_failures"] > OLD_OVERFLOW + 100,
            120.0,
            f"more than {OLD_OVERFLOW + 100} failed probes of the primary",
        )
        assert (await client.get("/health/ready")).status_code == 503
        lab.start("replica-2")
        await wait_for(
            client,
            lambda h: h["replica-2"]["state"] in ("up", "lagging"),
            10.0,
            "replica-2 re-admitted while the primary stays down",
        )
        health = await health_of(client)
        assert health["primary"]["state"] == "down"
        assert health["primary"]["consecutive_failures"] > OLD_OVERFLOW + 100
        assert (await client.get("/health/ready")).status_code == 200


async def test_a_saturated_node_behind_pgbouncer_is_busy_not_down(lab: LocalCluster) -> None:
    """4x PgBouncer's pool of slow writes: the monitor's probe queues behind them and times
    out, yet no node is marked down and no write is aborted; a frozen node is still found."""

    @post("/slow-write", opt={"db_intent": "write"}, status_code=200)
    async def slow_write(db: Db) -> dict[str, str]:
        await db.execute(text("SELECT pg_sleep(0.5)"))
        return {"node": db.node.name}

    settings = tuned(lab_settings(lab.env("pgbouncer")), interval=0.5, timeout=0.5)
    app: Litestar = create_app(settings)
    app.register(slow_write)
    async with served(app) as client:
        busy_before = _busy_probes(await client.get("/metrics"))
        seen_states: set[str] = set()
        started = time.monotonic()

        enough = asyncio.Event()

        async def watch() -> None:
            # At least 4 s, and until a probe has queued behind the load and timed out
            # (a loaded machine may take longer to build the queue): at most 15 s.
            while not enough.is_set():
                seen_states.add((await health_of(client))["primary"]["state"])
                elapsed = time.monotonic() - started
                busy = _busy_probes(await client.get("/metrics")) > busy_before
                if elapsed > 15.0 or (elapsed > 4.0 and busy):
                    enough.set()
                await asyncio.sleep(0.05)

        async def writer() -> list[int]:
            codes = []
            while not enough.is_set():
                codes.append((await client.post("/slow-write")).status_code)
            return codes

        results = await asyncio.gather(watch(), *(writer() for _ in range(4 * PGBOUNCER_POOL)))
        codes = [code for batch in results[1:] if batch for code in batch]
        assert codes, "no slow write ran"
        assert set(codes) == {200}, f"writes failed: { {c: codes.count(c) for c in set(codes)} }"
        assert seen_states == {"up"}
        busy_after = _busy_probes(await client.get("/metrics"))
        assert busy_after > busy_before, (
            f"premise: the saturation made the probe time out ({len(codes)} writes)"
        )

        # The rule does not hide a dead node: frozen, it is found within a probe round.
        lab.freeze("primary")
        try:
            frozen_at = time.monotonic()
            await wait_for(client, lambda h: h["primary"]["state"] == "down", 3.0, "frozen found")
            assert time.monotonic() - frozen_at < 0.5 + 0.5 + 1.0
        finally:
            lab.thaw("primary")


def _busy_probes(response: object) -> float:
    text_body: str = response.text  # type: ignore[attr-defined]
    total = 0.0
    for line in text_body.splitlines():
        if line.startswith("switchyard_probe_timeouts_busy_total{") and 'node="primary"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
