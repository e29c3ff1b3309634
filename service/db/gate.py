"""A cheap queue in front of a node's pool, so requests never wait inside the pool itself.

With more concurrent requests than pooled connections, SQLAlchemy's async pool waits through
`asyncio.wait_for` on every checkout that finds the pool empty; under a 32-client load that
was about a sixth of the service's CPU. A semaphore sized to the pool moves the waiting
here, onto a plain future, and the pool then always has a connection ready. The wait stays
bounded by the node's pool_timeout, as the pool's own would be.
"""

from __future__ import annotations

import asyncio

from service.db.errors import NodeUnavailableError


class CheckoutGate:
    __slots__ = ("_node", "_semaphore", "_timeout")

    def __init__(self, node: str, capacity: int | None, timeout: float) -> None:
        self._node = node
        # None: no client-side pool (NullPool) to queue for.
        self._semaphore = asyncio.Semaphore(capacity) if capacity else None
        self._timeout = timeout

    async def enter(self) -> None:
        semaphore = self._semaphore
        if semaphore is None:
            return
        if not semaphore.locked():
            await semaphore.acquire()  # returns at once: no timer needed
            return
        try:
            async with asyncio.timeout(self._timeout):
                await semaphore.acquire()
        except TimeoutError:
            raise NodeUnavailableError(
                self._node,
                f"every pooled connection stayed busy for {self._timeout:g} s",
                node_fault=False,
            ) from None

    def leave(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
