"""The read path's CPU per request inside one process: no HTTP server, no wrk.

Builds the service app and bench/reference_app.py's two peers (a plain SQLAlchemy engine,
a bare asyncpg pool) in one uvloop, against a fresh primary + replica, and drives
GET /customers/{email} through each app's ASGI callable from `--clients` concurrent tasks.
CPU per request is this process's CPU time over a batch. Batches alternate between the
apps; both the fastest batches and the median of each round's ratio are reported (the
machine is shared and noisy). What it leaves out (uvicorn's HTTP parsing and socket
writes) is the same for every app, so the difference is what the service adds.
`--profile DIR` writes a cProfile of one more batch of each app there.

    .venv/bin/python bench/inprocess_read.py [--batches 40] [--requests 1000] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import uvloop
from common import REPO_ROOT, asyncpg_dsn, local_cluster, log, median, migrate
from read_path import REPLICA, emails, seed
from reference_app import create_app as create_reference

from service.app import create_app
from service.settings import load_settings

Asgi = Callable[[Any, Any, Any], Awaitable[None]]


def scope_for(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def one_request(app: Asgi, path: str) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope_for(path), receive, send)
    return status


async def batch(app: Asgi, paths: list[str], requests: int, clients: int) -> float:
    """CPU µs per request over `requests` requests from `clients` concurrent tasks."""
    per_client = requests // clients

    async def client() -> None:
        for _ in range(per_client):
            status = await one_request(app, random.choice(paths))
            if status != 200:
                raise RuntimeError(f"status {status}")

    started = time.process_time()
    await asyncio.gather(*(client() for _ in range(clients)))
    return (time.process_time() - started) * 1e6 / (per_client * clients)


async def run(options: argparse.Namespace, env: dict[str, str], replica_dsn: str) -> None:
    os.environ.update(env)
    apps: dict[str, Any] = {
        "service": create_app(load_settings()),
        "sqla-engine": create_reference(replica_dsn, "sqlalchemy"),
        "reference": create_reference(replica_dsn, "asyncpg"),
    }
    paths = [f"/customers/{email}" for email in emails(options.customers)]
    results: dict[str, list[float]] = {name: [] for name in apps}
    async with AsyncExitStack() as running:
        for app in apps.values():
            await running.enter_async_context(app.lifespan())
            await batch(app, paths, options.requests // 4, options.clients)  # warm
        for _ in range(options.batches):
            for name, app in apps.items():  # alternate, so drift hits all alike
                results[name].append(await batch(app, paths, options.requests, options.clients))
        if options.profile is not None:
            for name, app in apps.items():
                profiler = cProfile.Profile()
                profiler.enable()
                await batch(app, paths, options.requests * 3, options.clients)
                profiler.disable()
                path = options.profile / f"{name}.prof"
                profiler.dump_stats(path)
                log(f"cProfile of {name}: {path}")
    best = {name: min(values) for name, values in results.items()}
    for name, value in best.items():
        typical = median(results[name])
        log(f"{name:<12} fastest batch {value:6.1f} CPU µs/request (median {typical:.1f})")
    extra = best["service"] - best["sqla-engine"]
    rounds = [e / s for e, s in zip(results["sqla-engine"], results["service"], strict=True)]
    log(
        f"service adds {extra:.1f} µs over one plain engine; in process, engine/service = "
        f"{best['sqla-engine'] / best['service']:.2f} (fastest batches), "
        f"{median(rounds):.2f} (median of the rounds' ratios)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--profile", type=Path, default=None, help="a folder for cProfiles")
    options = parser.parse_args(argv)
    with local_cluster(replicas=1) as cluster:
        env = cluster.env("direct")
        migrate(env, REPO_ROOT)
        replica_dsn = asyncpg_dsn(cluster.direct_url(REPLICA))
        primary_dsn = asyncpg_dsn(cluster.direct_url("primary"))
        uvloop.run(seed(primary_dsn, replica_dsn, emails(options.customers)))
        uvloop.run(run(options, env, replica_dsn))
    return 0


if __name__ == "__main__":
    sys.exit(main())
