"""A cheap queue in front of a node's pool, so requests never wait inside the pool itself.

With more concurrent requests than pooled connections, SQLAlchemy's async pool waits through
`asyncio.wait_for` on every checkout that finds the pool empty; under a 32-client load that
was about a sixth of the service's CPU, and an `asyncio.timeout` around a semaphore still
cost a twentieth. Here a waiter is one future and one timer handle: a released slot is
handed straight to the oldest waiter, and a waiter whose timer fires gets the node's 503.
The wait stays bounded by the node's pool_timeout, as the pool's own would be.
"""

from __future__ import annotations

import asyncio
from collections import deque

from service.db.failure import FailureKind
from service.db.problems import NodeUnavailableError


class CheckoutGate:
    __slots__ = ("_free", "_node", "_timeout", "_waiters")

    def __init__(self, node: str, capacity: int | None, timeout: float) -> None:
        self._node = node
        # None: no client-side pool (NullPool) to queue for.
        self._free = capacity
        self._timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def pooled(self) -> bool:
        """Whether the node has a client-side pool (connections are returned, not closed)."""
        return self._free is not None

    async def enter(self) -> None:
        if self._free is None:
            return
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_later(self._timeout, _expire, waiter)
        try:
            await waiter
        except TimeoutError:
            raise NodeUnavailableError(
                self._node,
                FailureKind.POOL_EXHAUSTED,
                f"every pooled connection stayed busy for {self._timeout:g} s",
            ) from None
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.leave()  # a slot was handed over just as the request was cancelled
            raise
        finally:
            timer.cancel()

    def leave(self) -> None:
        if self._free is None:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # skip waiters that timed out or were cancelled
                waiter.set_result(None)
                return
        self._free += 1


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())
