"""Latency of `daily-revenue` through the service against the same SQL straight on the replica.

Run: python bench/analytics_latency.py [--requests N] [--days D]

Starts its own primary + 1 replica (LocalCluster on /dev/shm), migrates, seeds 100,000 orders
over 400 days, starts `switchyard run` in direct mode, then measures, one call at a time:
  service     GET /analytics/daily-revenue?days=D through HTTP (httpx)
  raw         the report's SQL as one asyncpg fetch on the replica (prepared, no transaction)
  shaped      the same SQL the way the service runs it on a direct replica: BEGIN READ ONLY,
              set_config('statement_timeout'), the query, ROLLBACK
  http-floor  GET /health/live: the HTTP stack alone, no database
The calls are interleaved so load from elsewhere on the machine hits them alike; ratios are
taken within this one run; nothing here is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import IO, Any

import asyncpg
import httpx
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.analytics.registry import ROW_LIMIT_BIND
from service.analytics.reports import DAILY_REVENUE
from service.cluster import LocalCluster

ORDERS = 100_000
SEED = [
    "INSERT INTO customers (email, name)"
    " SELECT 'bench-' || g || '@example.com', 'Bench ' || g FROM generate_series(1, 1000) AS g",
    "INSERT INTO orders (external_id, customer_id, status, total_amount, currency, created_at,"
    " updated_at)"
    " SELECT 'bench-' || g, ids[1 + g % cardinality(ids)],"
    " (ARRAY['pending','completed','completed','cancelled','refunded'])[1 + g % 5],"
    " (g % 100000) / 100.0, (ARRAY['USD','EUR','GBP'])[1 + g % 3], at, at"
    " FROM generate_series(1, $1) AS g,"
    " LATERAL (SELECT now() - make_interval(mins => g % (400 * 24 * 60)) AS at) AS t,"
    " (SELECT array_agg(id) AS ids FROM customers) AS c",
    "ANALYZE",
]
Call = Callable[[], Awaitable[Any]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def measure(calls: Mapping[str, Call], requests: int) -> dict[str, list[float]]:
    warm_up = max(requests // 10, 20)  # pools, plan caches, the service's first requests
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for round_ in range(warm_up + requests):
        for name, call in calls.items():
            started = time.perf_counter()
            await call()
            if round_ >= warm_up:
                samples[name].append(time.perf_counter() - started)
    return samples


async def seed_and_wait(cluster: LocalCluster) -> None:
    primary = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        for statement in SEED:
            args = (ORDERS,) if "$1" in statement else ()
            await primary.execute(statement, *args)
        target = await primary.fetchval("SELECT pg_current_wal_insert_lsn()")
    finally:
        await primary.close()
    replica = await asyncpg.connect(cluster.direct_url("replica-1"))
    try:
        while await replica.fetchval("SELECT pg_last_wal_replay_lsn() < $1", target):
            await asyncio.sleep(0.05)
    finally:
        await replica.close()


async def wait_ready(base: str, service: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(300):
            if service.poll() is not None:
                raise RuntimeError("the service exited during start-up")
            try:
                if (await client.get("/health/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the service never became ready")


async def bench(cluster: LocalCluster, base: str, requests: int, days: int) -> None:
    # The report's own SQL, compiled for asyncpg ($1, $2, ...) with the values the service binds.
    compiled = DAILY_REVENUE.sql.compile(dialect=asyncpg_dialect.dialect())  # type: ignore[no-untyped-call]
    values = {"days": days, "status": "completed", "currency": None}
    values[ROW_LIMIT_BIND] = DAILY_REVENUE.max_rows + 1
    args = [values[name] for name in compiled.positiontup or []]
    timeout = f"{round(DAILY_REVENUE.timeout * 1000)}ms"
    replica = await asyncpg.connect(cluster.direct_url("replica-1"))
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            first = await client.get("/analytics/daily-revenue", params={"days": days})
            assert first.status_code == 200, first.text
            assert first.headers["X-DB-Node"] == "replica-1", first.headers
            rows = await replica.fetch(compiled.string, *args)
            assert len(first.json()["rows"]) == len(rows), "service and raw SQL disagree"

            async def service() -> None:
                response = await client.get("/analytics/daily-revenue", params={"days": days})
                response.raise_for_status()

            async def raw() -> None:
                await replica.fetch(compiled.string, *args)

            async def shaped() -> None:
                transaction = replica.transaction(readonly=True)
                await transaction.start()
                try:
                    await replica.execute(
                        "SELECT set_config('statement_timeout', $1, true)", timeout
                    )
                    await replica.fetch(compiled.string, *args)
                finally:
                    await transaction.rollback()

            async def http_floor() -> None:
                (await client.get("/health/live")).raise_for_status()

            calls = {"service": service, "raw": raw, "shaped": shaped, "http-floor": http_floor}
            results = await measure(calls, requests)
    finally:
        await replica.close()
    print(
        f"\ndaily-revenue days={days}: {len(rows)} rows over {ORDERS:,} orders,"
        f" {requests} sequential requests per kind, interleaved"
    )
    p50_raw = percentiles(results["raw"])[0]
    for name, samples in results.items():
        p50, p99 = percentiles(samples)
        print(
            f"  {name:10s} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"
            f"   p50 / raw p50 = {p50 / p50_raw:5.2f}"
        )
    print(f"\ncommand: {shlex.join([sys.executable, *sys.argv])}")


def run_service(
    cluster: LocalCluster, env: dict[str, str], log: IO[bytes], requests: int, days: int
) -> None:
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        asyncio.run(wait_ready(base, service))
        asyncio.run(bench(cluster, base, requests, days))
    except BaseException:
        log.seek(0)
        tail = log.read().decode(errors="replace")[-4000:]
        print(f"service log (tail):\n{tail}", file=sys.stderr)
        raise
    finally:
        service.terminate()
        service.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    options = parser.parse_args()
    base_dir = Path(tempfile.mkdtemp(prefix="switchyard-bench-", dir="/dev/shm"))
    base_dir.chmod(0o755)  # the servers run as `postgres` when we are root
    cluster = LocalCluster(base_dir, replicas=1)
    try:
        cluster.up()
        env = {**os.environ, **cluster.env("direct")}
        subprocess.run(
            [sys.executable, "-m", "service.cli", "migrate"],
            env=env,
            check=True,
            capture_output=True,
        )
        started = time.perf_counter()
        asyncio.run(seed_and_wait(cluster))
        print(f"seeded {ORDERS:,} orders and replicated in {time.perf_counter() - started:.1f} s")
        with tempfile.TemporaryFile() as log:
            run_service(cluster, env, log, options.requests, options.days)
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
