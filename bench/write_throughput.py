"""Customers written per second: single PUTs against batches, on the same primary in one run.

    python bench/write_throughput.py [--rows 10000] [--concurrency 32] [--batch-size 500]

Starts its own local topology (primary + 1 replica) on tmpfs, migrates it, runs the service
as `switchyard run` in a subprocess, then writes `--rows` new customers twice: once as single
`PUT /customers/{email}` requests (`--concurrency` in flight), once as `POST /customers/batch`
requests of `--batch-size` (`--batch-concurrency` in flight, 1 by default, so the batch figure
is a floor). Both phases insert fresh emails; each is checked on the primary afterwards.
Prints both rates and their ratio. A benchmark, not a test: nothing is asserted on speed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import asyncpg
import httpx
from common import (
    free_port,
    local_cluster,
    migrate,
    reproduce_command,
    start_server,
    stop_server,
    wait_ready,
)


@contextmanager
def _service(env: dict[str, str]) -> Iterator[str]:
    """`switchyard run` on a free port, migrated first; its base URL while it runs."""
    migrate(env)
    port = free_port()
    server = start_server(
        "write-bench-service",
        [sys.executable, "-m", "service.cli", "run", "--port", str(port)],
        env,
        port,
        Path(tempfile.gettempdir()),
    )
    try:
        wait_ready(server, "/health/ready")
        yield server.base_url
    finally:
        stop_server(server)


async def _bounded(jobs: list[Callable[[], Awaitable[None]]], concurrency: int) -> float:
    """Run the jobs with at most `concurrency` in flight; the wall time in seconds."""
    queue = iter(jobs)

    async def worker() -> None:
        for job in queue:  # one shared iterator: each job is taken exactly once
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def _emails(phase: str, rows: int) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{phase}-{tag}-{i}@bench.example" for i in range(rows)]


async def _puts(client: httpx.AsyncClient, emails: list[str], concurrency: int) -> float:
    async def put(email: str) -> None:
        response = await client.put(f"/customers/{email}", json={"name": "bench"})
        if response.status_code != 201:
            raise SystemExit(f"PUT {email}: {response.status_code} {response.text}")

    return await _bounded([partial(put, email) for email in emails], concurrency)


async def _batches(
    client: httpx.AsyncClient, emails: list[str], size: int, concurrency: int
) -> float:
    async def post(chunk: list[str]) -> None:
        body = {"customers": [{"email": e, "name": "bench"} for e in chunk]}
        response = await client.post("/customers/batch", json=body)
        if response.status_code != 200 or response.json()["inserted"] != len(chunk):
            raise SystemExit(f"batch: {response.status_code} {response.text}")

    chunks = [emails[i : i + size] for i in range(0, len(emails), size)]
    return await _bounded([partial(post, chunk) for chunk in chunks], concurrency)


async def _stored(primary_url: str, emails: list[str]) -> int:
    conn = await asyncpg.connect(primary_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM customers WHERE email = ANY($1::text[])", emails
        )
        return count
    finally:
        await conn.close()


async def _measure(args: argparse.Namespace, base_url: str, primary_url: str) -> None:
    limits = httpx.Limits(max_connections=max(args.concurrency, args.batch_concurrency))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        await _puts(client, _emails("warm", 200), args.concurrency)  # pools and plans warm
        put_emails = _emails("put", args.rows)
        put_seconds = await _puts(client, put_emails, args.concurrency)
        batch_emails = _emails("batch", args.rows)
        batch_seconds = await _batches(
            client, batch_emails, args.batch_size, args.batch_concurrency
        )
    for phase, emails in (("single PUTs", put_emails), ("batches", batch_emails)):
        if (found := await _stored(primary_url, emails)) != args.rows:
            raise SystemExit(f"{phase}: {found} of {args.rows} rows on the primary")

    put_rate, batch_rate = args.rows / put_seconds, args.rows / batch_seconds
    print(f"command: {reproduce_command(__file__, sys.argv[1:])}")
    print(
        f"single PUTs : {args.rows} rows in {put_seconds:6.2f} s = {put_rate:8.0f} rows/s "
        f"({args.concurrency} in flight)"
    )
    print(
        f"batches     : {args.rows} rows in {batch_seconds:6.2f} s = {batch_rate:8.0f} rows/s "
        f"({args.batch_size} per batch, {args.batch_concurrency} in flight)"
    )
    print(f"ratio       : batches are {batch_rate / put_rate:.1f}x single PUTs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-concurrency", type=int, default=1)
    args = parser.parse_args()
    with local_cluster() as cluster, _service(cluster.env("direct")) as base_url:
        asyncio.run(_measure(args, base_url, cluster.direct_url("primary")))


if __name__ == "__main__":
    main()
