"""Customers written per second: single PUTs against batches, on the same primary in one run.

    python -m bench.write_throughput [--rows 10000] [--concurrency 32] [--batch-size 500]

(from the repository root, so `service` imports).

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
import os
import shlex
import socket
import subprocess
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

from service.cluster import LocalCluster

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _cluster() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="switchyard-bench-", dir="/dev/shm"))
    base.chmod(0o755)  # the servers run as the postgres user when we are root
    cluster = LocalCluster(base, replicas=1)
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.destroy()


@contextmanager
def _service(env: dict[str, str], port: int, log: Path) -> Iterator[str]:
    full_env = {**os.environ, **env}
    subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"], env=full_env, cwd=ROOT, check=True
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "service.cli", "run", "--port", str(port)],
            env=full_env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, proc)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_ready(base_url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the service exited with {proc.returncode}; see its log")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the service was not ready within 30 s")


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
    command = [sys.executable, "-m", "bench.write_throughput", *sys.argv[1:]]
    print(f"command: cd {ROOT} && {shlex.join(command)}")
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
    with _cluster() as cluster:
        env = cluster.env("direct")
        log = Path(tempfile.gettempdir()) / "switchyard-bench-service.log"
        with _service(env, _free_port(), log) as base_url:
            asyncio.run(_measure(args, base_url, cluster.direct_url("primary")))


if __name__ == "__main__":
    main()
