"""Changing roles in the lab by SQL, as an HA tool would: promote, re-point, write directly."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx

from service.cluster import LocalCluster
from tests.integration.helpers import Client


async def sql(lab: LocalCluster, node: str, query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(lab.direct_url(node))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def promote(lab: LocalCluster, node: str) -> float:
    """Promote a standby with the lab's own verb; the monotonic time it became writable."""
    await asyncio.to_thread(lab.promote, node)
    return time.monotonic()


async def timeline(lab: LocalCluster, node: str) -> int:
    value = await sql(
        lab,
        node,
        "SELECT CASE WHEN pg_is_in_recovery() "
        "THEN (SELECT received_tli FROM pg_stat_wal_receiver) "
        "ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END",
    )
    return int(value or 0)


async def health_of(client: Client | httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    body = (await client.get("/health/db")).json()
    return {node["name"]: {**node, "_primary": body["primary"]} for node in body["nodes"]}


async def wait_for(
    client: Client | httpx.AsyncClient, predicate: Any, within: float, what: str
) -> None:
    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    while not predicate(await health_of(client)):
        if loop.time() > give_up:
            raise AssertionError(f"{what} not seen within {within} s: {await health_of(client)}")
        await asyncio.sleep(0.05)
