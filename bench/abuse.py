"""What a hostile or careless client costs the databases, from the nodes' own statistics.

Phases, each N requests from C concurrent clients against one service process on a local
topology (primary + 2 replicas): ordinary reads (the reference), reads carrying a token far
ahead of anything the cluster wrote (`X-DB-Min-LSN: FFFFFFFF/FFFFFFFF`), and readiness
probes. For each: transactions and new sessions per request on every node, from
`pg_stat_database` (xact_commit + xact_rollback, sessions) read before and after. Then all
three at once, and the ordinary readers' failures.

    .venv/bin/python bench/abuse.py [--requests 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping

import asyncpg
import httpx
from common import (
    asyncpg_dsn,
    free_port,
    local_cluster,
    log,
    migrate,
    scratch_dir,
    start_server,
    stop_server,
    wait_ready,
)

FAR_AHEAD = {"X-DB-Min-LSN": "FFFFFFFF/FFFFFFFF"}
# A backend flushes its statistics at most once a second, and one that then goes idle only
# after 10 s (PGSTAT_IDLE_INTERVAL): wait that long, or a phase's counts land in the next.
STATS_SETTLE = 11.0
_STATS = (
    "SELECT xact_commit + xact_rollback, sessions FROM pg_stat_database "
    "WHERE datname = current_database()"
)


async def node_stats(urls: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    out = {}
    for name, url in urls.items():
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            xacts, sessions = await conn.fetchrow(_STATS)
            out[name] = (int(xacts), int(sessions))
        finally:
            await conn.close()
    return out


async def flood(
    client: httpx.AsyncClient, path: str, headers: Mapping[str, str], requests: int, workers: int
) -> list[int]:
    codes: list[int] = []
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            try:
                codes.append((await client.get(path, headers=dict(headers))).status_code)
            except httpx.HTTPError:
                codes.append(0)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return codes


async def phase(
    name: str,
    urls: Mapping[str, str],
    client: httpx.AsyncClient,
    path: str,
    headers: Mapping[str, str],
    requests: int,
    workers: int,
) -> dict[str, tuple[float, float]]:
    before = await node_stats(urls)
    started = time.perf_counter()
    codes = await flood(client, path, headers, requests, workers)
    elapsed = time.perf_counter() - started
    await asyncio.sleep(STATS_SETTLE)
    after = await node_stats(urls)
    # Our own stats connections: one session and one transaction per node per reading.
    per_request = {
        node: (
            (after[node][0] - before[node][0] - 1) / requests,
            (after[node][1] - before[node][1] - 1) / requests,
        )
        for node in urls
    }
    failed = sum(1 for code in codes if code >= 500 or code == 0)
    cells = "  ".join(f"{node}: {x:.2f} xact {s:.3f} sess" for node, (x, s) in per_request.items())
    log(f"{name:<22} {requests / elapsed:7.0f} req/s  failed {failed:4d}  per request: {cells}")
    return per_request


async def run(base: str, urls: Mapping[str, str], requests: int, workers: int) -> None:
    limits = httpx.Limits(max_connections=workers * 3, max_keepalive_connections=workers * 3)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        email = "abuse@example.com"
        seeded = await client.put(f"/customers/{email}", json={"name": "abuse"})
        assert seeded.status_code in (200, 201), seeded.text
        await asyncio.sleep(1.0)
        read_path = f"/customers/{email}"
        ordinary = await phase("ordinary reads", urls, client, read_path, {}, requests, workers)
        ahead = await phase(
            "far-ahead tokens", urls, client, read_path, FAR_AHEAD, requests, workers
        )
        ready = await phase(
            "readiness probes", urls, client, "/health/ready", {}, requests, workers
        )

        def total(cost: dict[str, tuple[float, float]]) -> tuple[float, float]:
            return sum(x for x, _ in cost.values()), sum(s for _, s in cost.values())

        base_x, _ = total(ordinary)
        for label, cost in (("far-ahead token", ahead), ("readiness probe", ready)):
            x, s = total(cost)
            replica_x = sum(v[0] for k, v in cost.items() if k != "primary")
            log(
                f"{label}: {x:.2f} transactions per request on all nodes ({x / base_x:.2f}x an "
                f"ordinary read), {replica_x:.2f} on replicas, {s:.3f} new sessions"
            )
        # Everything at once: the ordinary readers must not notice the floods.
        before = time.perf_counter()
        results = await asyncio.gather(
            flood(client, read_path, {}, requests, workers),
            flood(client, read_path, FAR_AHEAD, requests, workers),
            flood(client, "/health/ready", {}, requests, workers),
        )
        failed = sum(1 for code in results[0] if code != 200)
        log(
            f"mixed: ordinary readers {failed} failed of {requests} "
            f"({time.perf_counter() - before:.1f} s for all three floods)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with local_cluster(replicas=2) as cluster:
        env = cluster.env("direct")
        migrate(env)
        port = free_port()
        server = start_server(
            "service",
            [
                sys.executable,
                "-m",
                "service.cli",
                "run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env,
            port,
            scratch_dir("switchyard-abuse-logs-"),
        )
        try:
            wait_ready(server, "/health/ready")
            urls = {node.name: cluster.direct_url(node.name) for node in cluster.nodes}
            asyncio.run(run(server.base_url, urls, args.requests, args.concurrency))
        finally:
            stop_server(server)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
