"""Client-side deadlines that end a wait by aborting the socket, not by cancelling the task.

Cancelling a task inside asyncpg makes it send a cancel request over a new connection and
then wait for it on close; against a frozen server both wait until the server thaws. Aborting
the driver connection instead fails the pending call at once with a connection error, and
SQLAlchemy's later close of that connection has nothing left to wait for.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Abortable(Protocol):
    def terminate(self) -> None: ...
    def is_closed(self) -> bool: ...


class Deadline:
    __slots__ = ("_driver", "_handle", "fired")

    def __init__(self, driver: Abortable, seconds: float) -> None:
        self._driver = driver
        self.fired = False
        self._handle = asyncio.get_running_loop().call_later(seconds, self.fire)

    def fire(self) -> None:
        """Abort now: at the deadline, or early when the node is found down."""
        if not self.fired:
            self.fired = True
            self._handle.cancel()
            self._driver.terminate()

    def cancel(self) -> None:
        self._handle.cancel()

    @property
    def connection_lost(self) -> bool:
        """Whether the wait ended because the connection is gone (aborted, or closed under us)."""
        return self.fired or self._driver.is_closed()
