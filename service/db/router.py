"""The nodes, their monitor, and the choice of one node for each session."""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy import bindparam, text

from service.db import metrics
from service.db.engines import create_node_engine, server_holds_read_only, uses_null_pool
from service.db.errors import NodeUnavailableError, NoNodeAvailableError
from service.db.health_state import NodeState
from service.db.monitor import HealthMonitor
from service.db.nodes import Node, Role
from service.db.routing import Intent, choose_read_replica, eligible_replicas, format_lsn
from service.db.scope import SessionScope
from service.db.session import DbSession
from service.settings import DatabaseSettings, HealthSettings, NodeSettings, PoolSettings

log = logging.getLogger("switchyard.db")

_IGNORED_UNDER_NULL_POOL = (
    "pool_size",
    "max_overflow",
    "pool_timeout",
    "pool_recycle",
    "pool_pre_ping",
)
# asyncpg sends a pg_lsn parameter as an integer: bind the text form and cast it twice.
_REPLAYED = text(
    "SELECT pg_last_wal_replay_lsn() >= CAST(CAST(:lsn AS text) AS pg_lsn)"
).bindparams(bindparam("lsn"))
_REPLAY_POLL = 0.002


class DatabaseRouter:
    def __init__(self, settings: DatabaseSettings, health: HealthSettings) -> None:
        self.settings = settings
        self.primary = self._node(settings.primary, "primary")
        self.replicas = [self._node(replica, "replica") for replica in settings.replicas]
        self.monitor = HealthMonitor(self.primary, self.replicas, health)
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
            server_read_only=server_holds_read_only(role),
        )
        if uses_null_pool(node, self.settings):
            defaults = PoolSettings()
            ignored = [
                key
                for key in _IGNORED_UNDER_NULL_POOL
                if getattr(node.pool, key) != getattr(defaults, key)
            ]
            if ignored:
                message = f"pool settings {', '.join(ignored)} are ignored under NullPool"
                created.warnings.append(message)
                log.warning("node %s: %s", node.name, message)
        return created

    async def start(self) -> None:
        """Warm every pool and learn every node's health before the service reports ready."""
        await asyncio.gather(*(self._warm(node) for node in self.nodes))
        await self.monitor.start()

    async def stop(self) -> None:
        await self.monitor.stop()
        await asyncio.gather(*(node.engine.dispose() for node in self.nodes))

    async def _warm(self, node: Node) -> None:
        """Open the pool's connections now, so the first requests pay no connects.

        A node that cannot be reached is logged and left to the monitor: start-up goes on.
        """
        numbers = node.pool_numbers()
        if numbers is None:
            return
        # Each connect is bounded by the node's connect timeout; a failed one leaves the
        # others to be returned to the pool below rather than leaked.
        opened = await asyncio.gather(
            *(node.engine.connect() for _ in range(numbers["size"])), return_exceptions=True
        )
        failures = [conn for conn in opened if isinstance(conn, BaseException)]
        for conn in opened:
            if not isinstance(conn, BaseException):
                await conn.close()  # back into the pool, warm
        if failures:
            log.warning("node %s: warm-up failed (%s)", node.name, type(failures[0]).__name__)

    def report_failure(self, node_name: str, reason: str) -> None:
        """A request's connection to a replica broke: ban it now rather than at the next probe.

        Other reads running on it are left alone (one broken connection is no proof the node
        is dead; the monitor judges that). The primary is left to the monitor entirely:
        banning it on one broken pooled connection would refuse every write for a while.
        """
        for replica in self.replicas:
            if replica.name == node_name:
                self.monitor.mark_failed(replica, reason, NodeState.BANNED, abandon_inflight=False)

    def _primary_or_unavailable(self) -> Node:
        health = self.primary.health
        if health.failed:
            wait = health.banned_until - asyncio.get_running_loop().time()
            raise NodeUnavailableError(
                self.primary.name, health.last_error or "down", retry_after=max(1, math.ceil(wait))
            )
        return self.primary

    def _choose(
        self, intent: Intent, min_lsn: int | None, exclude: frozenset[str]
    ) -> tuple[Node, bool]:
        """The node for a session, and whether its replay position must be checked first."""
        if intent is not Intent.READ:
            return self._primary_or_unavailable(), False
        least = self.settings.load_balancing == "least_connections"
        turn = next(self._turn)
        chosen = choose_read_replica(
            eligible_replicas(self.replicas, min_lsn, exclude), turn, least
        )
        if chosen is not None:
            return chosen, False
        if min_lsn is not None:
            # The monitor's positions are up to one probe old: ask a serving replica itself.
            serving = choose_read_replica(
                eligible_replicas(self.replicas, None, exclude), turn, least
            )
            if serving is not None:
                return serving, True
        return self._fallback(), False

    def _fallback(self) -> Node:
        if self.settings.fallback == "error":
            raise NoNodeAvailableError("no replica can serve this read and fallback is off")
        metrics.FALLBACKS.inc()
        return self._primary_or_unavailable()

    def session(
        self, intent: Intent, min_lsn: int | None = None, exclude: frozenset[str] = frozenset()
    ) -> AbstractAsyncContextManager[DbSession]:
        """The session for a request: `async with router.session(intent) as db: ...`."""
        node, verify = self._choose(intent, min_lsn, exclude)
        if verify and min_lsn is not None:
            return self._replayed_session(node, intent, min_lsn)
        return self._open(node, intent)

    @asynccontextmanager
    async def _replayed_session(
        self, node: Node, intent: Intent, min_lsn: int
    ) -> AsyncIterator[DbSession]:
        """A session on `node` if it has replayed `min_lsn` (waiting a few ms), else on the
        primary, whatever `fallback` says: the client asked to see its own write."""
        async with self._open(node, intent) as db:
            if await self._has_replayed(db, min_lsn):
                yield db
                return
        metrics.FALLBACKS.inc()
        async with self._open(self._primary_or_unavailable(), intent) as db:
            yield db

    def _open(self, node: Node, intent: Intent) -> SessionScope:
        metrics.routed(node.name, intent.value).inc()
        deadline = (
            self.settings.write_statement_timeout
            if intent is Intent.WRITE
            else self.settings.read_statement_timeout
        )
        return SessionScope(node, intent, deadline)

    async def _has_replayed(self, db: DbSession, min_lsn: int) -> bool:
        """Whether the replica has replayed the client's token, waiting a few ms for it."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.settings.min_lsn_wait
        token = format_lsn(min_lsn)
        while True:
            if (await db.execute(_REPLAYED, {"lsn": token})).scalar():
                return True
            if loop.time() >= give_up:
                return False
            await asyncio.sleep(_REPLAY_POLL)
