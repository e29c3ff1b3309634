"""A bounded read load against the service that records which node served each read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from tests.integration.helpers import Client


@dataclass
class Served:
    at: float  # when the response arrived
    status: int
    node: str | None
    body: str = ""
    started: float = 0.0  # when the request was sent

    @property
    def took(self) -> float:
        return self.at - self.started


@dataclass
class ReadLoad:
    client: Client
    path: str
    concurrency: int = 20
    served: list[Served] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._reader()) for _ in range(self.concurrency)]

    async def stop(self) -> list[Served]:
        self._stop.set()
        await asyncio.gather(*self._tasks)
        return self.served

    async def _reader(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            started = loop.time()
            response = await self.client.get(self.path)
            failed = response.status_code != 200
            self.served.append(
                Served(
                    loop.time(),
                    response.status_code,
                    response.headers.get("X-DB-Node"),
                    response.text if failed else "",
                    started,
                )
            )
            await asyncio.sleep(0.005)

    def failures(self) -> list[Served]:
        return [s for s in self.served if s.status != 200]

    def last_served_by(self, node: str) -> float | None:
        times = [s.at for s in self.served if s.node == node]
        return max(times) if times else None

    def first_served_by_after(self, node: str, after: float) -> float | None:
        times = [s.at for s in self.served if s.node == node and s.at > after]
        return min(times) if times else None
