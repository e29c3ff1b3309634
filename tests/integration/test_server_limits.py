"""`switchyard run` closes connections of clients too slow or too large to be served.

A real uvicorn process on a free loopback port. Its database is a closed port: the claims
here are about the HTTP server alone, and the service starts without its database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from service.api.server_limits import MAX_HEAD_BYTES, REQUEST_TIMEOUT
from tests.integration.pgbouncer.servers import free_port, service_process

# How late past REQUEST_TIMEOUT a close may come on a loaded machine.
MARGIN = 4.0


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    env = {"DATABASE_URL": f"postgresql://app@127.0.0.1:{free_port()}/app"}
    with service_process(env, ready_path="/health/live") as base:
        yield int(base.rsplit(":", 1)[1])


async def held_for(port: int, trickle: bytes | None) -> tuple[float, bytes]:
    """Open a connection; send `trickle` one line a second (or nothing at all); return how
    long the server kept it open and what it said."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = loop.time()
    received = b""
    try:
        if trickle is not None:
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n")
        async with asyncio.timeout(REQUEST_TIMEOUT + MARGIN):
            while True:
                try:
                    chunk = await asyncio.wait_for(reader.read(1024), timeout=1.0)
                except TimeoutError:
                    if trickle is not None:
                        writer.write(trickle)
                        await writer.drain()
                    continue
                if not chunk:
                    break
                received += chunk
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
    return loop.time() - started, received


async def test_slow_and_silent_clients_are_cut_off(server: int) -> None:
    slowloris = asyncio.create_task(held_for(server, b"X-Slow: 1\r\n"))
    silent = asyncio.create_task(held_for(server, None))
    await asyncio.sleep(1.0)
    # Meanwhile the server answers everyone else.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}") as client:
        assert (await client.get("/health/live")).status_code == 200
    for task in (slowloris, silent):
        held, said = await task
        assert held < REQUEST_TIMEOUT + MARGIN, f"held {held:.1f} s"
        assert held >= REQUEST_TIMEOUT - 0.5
        assert said.startswith(b"HTTP/1.1 408")


async def test_an_oversized_request_head_is_refused_at_once(server: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server)
    try:
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: ")
        writer.write(b"a" * (MAX_HEAD_BYTES + 1024))
        await writer.drain()
        async with asyncio.timeout(5):
            said = await reader.read(1024)
    finally:
        writer.close()
    assert said.startswith(b"HTTP/1.1 400")
    # A head under the limit is served.
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server}") as client:
        response = await client.get("/health/live", headers={"X-Big": "a" * (MAX_HEAD_BYTES // 2)})
    assert response.status_code == 200
