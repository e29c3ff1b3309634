"""The nodes, and the choice of one of them for each session."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.db.engines import create_node_engine, server_holds_read_only, uses_null_pool
from service.db.errors import NoNodeAvailableError
from service.db.nodes import Node, NodeState, Role
from service.db.routing import Candidate, Intent, choose_read_replica, eligible_replicas
from service.db.session import DbSession, open_session
from service.settings import DatabaseSettings, NodeSettings, PoolSettings

log = logging.getLogger("switchyard.db")

_IGNORED_UNDER_NULL_POOL = (
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
)


class DatabaseRouter:
    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self.primary = self._node(settings.primary, "primary")
        self.replicas = [self._node(replica, "replica") for replica in settings.replicas]
        self._turn = itertools.count()

    @property
    def nodes(self) -> list[Node]:
        return [self.primary, *self.replicas]

    def _node(self, node: NodeSettings, role: Role) -> Node:
        created = Node(
            name=node.name,
            role=role,
            settings=node,
            engine=create_node_engine(node, role, self.settings),
            server_read_only=server_holds_read_only(node, role),
        )
        if uses_null_pool(node, self.settings):
            defaults = PoolSettings()
            ignored = [
                k for k in _IGNORED_UNDER_NULL_POOL if getattr(node.pool, k) != getattr(defaults, k)
            ]
            if ignored:
                message = f"pool settings {', '.join(ignored)} are ignored under NullPool"
                created.warnings.append(message)
                log.warning("node %s: %s", node.name, message)
        return created

    async def warm_up(self) -> None:
        """Open each pool's connections before the service reports ready.

        A node that cannot be reached is logged and left for later: start-up never fails on it.
        """
        await asyncio.gather(*(self._warm(node) for node in self.nodes))

    async def _warm(self, node: Node) -> None:
        numbers = node.pool_numbers()
        if numbers is None:
            return
        timeout = node.settings.pool.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                connections = await asyncio.gather(
                    *(node.engine.connect() for _ in range(numbers["size"]))
                )
            for conn in connections:
                await conn.close()
        except Exception as exc:  # any failure here only delays the first connects
            node.last_error = f"warm-up failed: {type(exc).__name__}"
            log.warning(
                "node %s: warm-up failed (%s); it will connect on demand",
                node.name,
                type(exc).__name__,
            )

    async def dispose(self) -> None:
        await asyncio.gather(*(node.engine.dispose() for node in self.nodes))

    def node_for(
        self, intent: Intent, min_lsn: int | None = None, exclude: frozenset[str] = frozenset()
    ) -> Node:
        if intent is not Intent.READ:
            return self.primary
        by_name = {replica.name: replica for replica in self.replicas}
        candidates = [
            Candidate(r.name, r.serving, r.replay_lsn, r.checked_out()) for r in self.replicas
        ]
        chosen = choose_read_replica(
            eligible_replicas(candidates, min_lsn, exclude),
            next(self._turn),
            self.settings.load_balancing == "least_connections",
        )
        if chosen is not None:
            return by_name[chosen.name]
        if self.settings.fallback == "primary" and self.primary.state is not NodeState.DOWN:
            return self.primary
        raise NoNodeAvailableError("no replica can serve this read and fallback is off")

    @asynccontextmanager
    async def session(
        self, intent: Intent, min_lsn: int | None = None, exclude: frozenset[str] = frozenset()
    ) -> AsyncIterator[DbSession]:
        node = self.node_for(intent, min_lsn, exclude)
        pool = node.settings.pool
        deadline = (
            self.settings.write_statement_timeout
            if intent is Intent.WRITE
            else self.settings.read_statement_timeout
        )
        async with open_session(
            node,
            intent,
            checkout_timeout=pool.pool_timeout + pool.connect_timeout,
            deadline=deadline,
        ) as db:
            yield db
