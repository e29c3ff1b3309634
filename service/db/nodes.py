"""A database node: its engines, its health, and the statements now waiting on it."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from service.db.deadline import Deadline
from service.db.engines import NodeEngine, Shape, create_node_engine
from service.db.health_state import NodeHealth, NodeState
from service.settings import DatabaseSettings, NodeSettings


@dataclass(eq=False)
class Node:
    name: str
    # The role the configuration gave it: it shapes the read engine. The role it has now is
    # learned from the node by the monitor (`health.in_recovery`, the election).
    configured_role: Shape
    settings: NodeSettings
    database: DatabaseSettings
    reader: NodeEngine
    health: NodeHealth = field(default_factory=NodeHealth)
    warnings: list[str] = field(default_factory=list)
    # Deadlines of statements waiting on this node: when the monitor finds the node dead
    # they fire at once, so reads are re-run elsewhere and writes get their 503 now. A
    # COMMIT never registers: cut off on a false alarm, its outcome would be unknown.
    inflight: set[Deadline] = field(default_factory=set)
    # Sessions open on this node now: what least-connections balancing compares (the pool's
    # own count is always 0 under NullPool).
    sessions: int = 0
    # When a statement on this node last answered: a probe that timed out while requests
    # kept getting answers found the node busy, not dead.
    last_answer: float = float("-inf")
    _writer: NodeEngine | None = None

    @classmethod
    def create(cls, settings: NodeSettings, role: Shape, database: DatabaseSettings) -> Node:
        reader = create_node_engine(settings, role, database)
        node = cls(settings.name, role, settings, database, reader)
        if role == "primary":
            node._writer = reader
        return node

    @property
    def writer(self) -> NodeEngine:
        """The engine writes use: the read engine on a configured primary; on a configured
        replica that was promoted, one of the primary's shape, made on first use."""
        if self._writer is None:
            self._writer = create_node_engine(self.settings, "primary", self.database)
        return self._writer

    @property
    def engines(self) -> list[NodeEngine]:
        writer = self._writer
        return [self.reader] if writer is None or writer is self.reader else [self.reader, writer]

    def read_only_by_server(self) -> bool:
        """Whether the server refuses writes on the read engine's connections right now."""
        return self.reader.startup_read_only or bool(self.health.in_recovery)

    def abandon_inflight(self) -> None:
        for deadline in list(self.inflight):
            deadline.fire()

    def pool_numbers(self) -> dict[str, int] | None:
        return self.reader.pool_numbers()

    # As the PrimaryView routing reads while this node takes the writes: its own health, no
    # copy made per request.
    @property
    def failed(self) -> bool:
        return self.health.failed

    @property
    def reason(self) -> str | None:
        return self.health.last_error

    @property
    def retry_after(self) -> int:
        """Whole seconds until the node's ban ends and it is probed again (at least 1)."""
        wait = self.health.banned_until - asyncio.get_running_loop().time()
        return max(1, math.ceil(wait))

    @property
    def lsn(self) -> int | None:
        return self.health.lsn

    @property
    def serving(self) -> bool:
        return self.health.state is NodeState.UP

    @property
    def replay_lsn(self) -> int | None:
        return self.health.lsn

    @property
    def checked_out(self) -> int:
        return self.sessions

    def staleness(self, now: float) -> float | None:
        """An upper bound on how stale a read here is: the lag last measured plus how long
        ago it was measured (None before the first measurement)."""
        health = self.health
        if health.lag_seconds is None or health.observed_at is None:
            return None
        return health.lag_seconds + max(0.0, now - health.observed_at)
