"""A database node: its engine, its health, and the statements now waiting on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

from service.db.deadline import Deadline
from service.db.gate import CheckoutGate
from service.db.health_state import NodeHealth, NodeState
from service.settings import NodeSettings

Role = Literal["primary", "replica"]


@dataclass(eq=False)
class Node:
    name: str
    role: Role
    settings: NodeSettings
    engine: AsyncEngine
    # True when the server itself refuses writes on every connection (a hot standby), so a
    # read needs no READ ONLY transaction of its own and runs in autocommit.
    server_read_only: bool
    health: NodeHealth = field(default_factory=NodeHealth)
    warnings: list[str] = field(default_factory=list)
    # Deadlines of statements waiting on this node: when the monitor finds the node dead
    # they fire at once, so reads are re-run elsewhere and writes get their 503 now. A
    # COMMIT never registers: cut off on a false alarm, its outcome would be unknown.
    inflight: set[Deadline] = field(default_factory=set)
    # Sessions open on this node now: what least-connections balancing compares (the pool's
    # own count is always 0 under NullPool).
    sessions: int = 0
    gate: CheckoutGate = field(init=False)

    def __post_init__(self) -> None:
        pool = self.engine.pool
        capacity = None
        if isinstance(pool, QueuePool):
            capacity = self.settings.pool.pool_size + self.settings.pool.max_overflow
        self.gate = CheckoutGate(self.name, capacity, self.settings.pool.pool_timeout)

    def abandon_inflight(self) -> None:
        for deadline in list(self.inflight):
            deadline.fire()

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

    @property
    def serving(self) -> bool:
        return self.health.state is NodeState.UP

    @property
    def replay_lsn(self) -> int | None:
        return self.health.lsn

    @property
    def checked_out(self) -> int:
        return self.sessions
