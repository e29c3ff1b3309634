"""A database node: its engine, and what the service currently knows about its health."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from service.settings import NodeSettings

Role = Literal["primary", "replica"]


class NodeState(enum.Enum):
    UP = "up"
    LAGGING = "lagging"
    DOWN = "down"
    BANNED = "banned"


@dataclass(eq=False)
class Node:
    name: str
    role: Role
    settings: NodeSettings
    engine: AsyncEngine
    # True when the server holds every connection read-only (startup parameter), so a read
    # needs no READ ONLY transaction of its own.
    server_read_only: bool
    state: NodeState = NodeState.UP
    replay_lsn: int | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    last_error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def serving(self) -> bool:
        return self.state is NodeState.UP

    def pool_numbers(self) -> dict[str, int] | None:
        """Size, checked-out and overflow of the client-side pool; None under NullPool."""
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return None
        return {
            "size": pool.size(),
            "checked_out": pool.checkedout(),
            "overflow": max(pool.overflow(), 0),
            "idle": pool.checkedin(),
        }

    def checked_out(self) -> int:
        numbers = self.pool_numbers()
        return numbers["checked_out"] if numbers else 0
