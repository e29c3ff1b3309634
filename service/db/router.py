"""The nodes and their engines, the monitor that watches them, and each session's node."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from sqlalchemy import bindparam, text

from service.db import metrics
from service.db.engines import uses_null_pool
from service.db.health_state import NodeState
from service.db.intent import Intent
from service.db.lsn import format_lsn
from service.db.monitor import HealthMonitor
from service.db.nodes import Node
from service.db.selection import (
    Choice,
    Demand,
    PrimaryState,
    PrimaryView,
    choose,
    primary_or_unavailable,
)
from service.db.session import DbSession
from service.db.transaction import SessionScope
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
        self.nodes = [self._node(settings.primary, "primary")] + [
            self._node(replica, "replica") for replica in settings.replicas
        ]
        self._by_name = {node.name: node for node in self.nodes}
        self.monitor = HealthMonitor(self.nodes, health)
        self._turn = itertools.count()
        self._least = settings.load_balancing == "least_connections"
        self._candidates: list[Node] | None = None
        self._candidates_for: Node | None = None

    def node(self, name: str) -> Node:
        return self._by_name[name]

    @property
    def primary(self) -> Node | None:
        """The node writes go to now (learned from the nodes), or None while none qualifies."""
        return self.monitor.primary

    def _node(self, settings: NodeSettings, role: str) -> Node:
        created = Node.create(
            settings, "primary" if role == "primary" else "replica", self.settings
        )
        if uses_null_pool(settings, self.settings):
            defaults = PoolSettings()
            ignored = [
                key
                for key in _IGNORED_UNDER_NULL_POOL
                if getattr(settings.pool, key) != getattr(defaults, key)
            ]
            if ignored:
                message = f"pool settings {', '.join(ignored)} are ignored under NullPool"
                created.warnings.append(message)
                log.warning("node %s: %s", settings.name, message)
        return created

    async def start(self) -> None:
        """Warm every pool and learn every node's health before the service reports ready."""
        await asyncio.gather(*(self._warm(node) for node in self.nodes))
        await self.monitor.start()

    async def stop(self) -> None:
        await self.monitor.stop()
        await asyncio.gather(
            *(engine.engine.dispose() for node in self.nodes for engine in node.engines)
        )

    async def _warm(self, node: Node) -> None:
        """Open the pool's connections now, so the first requests pay no connects.

        A node that cannot be reached is logged and left to the monitor: start-up goes on.
        """
        numbers = node.pool_numbers()
        if numbers is None:
            return
        # Each connect is bounded by the node's connect timeout; a failed one leaves the
        # others to be returned to the pool below rather than leaked.
        engine = node.reader.engine
        opened = await asyncio.gather(
            *(engine.connect() for _ in range(numbers["size"])), return_exceptions=True
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
        is dead; the monitor judges that). The node serving writes is left to the monitor
        entirely: banning it on one broken pooled connection would refuse every write for a
        while.
        """
        node = self._by_name.get(node_name)
        if node is not None and node is not self.primary:
            self.monitor.mark_failed(node, reason, NodeState.BANNED, abandon_inflight=False)

    def primary_view(self) -> PrimaryView:
        primary = self.monitor.primary
        if primary is None:
            return PrimaryState(None, reason=self.monitor.no_primary_reason)
        return primary

    def _read_candidates(self) -> list[Node]:
        """Every node but the one taking writes; rebuilt only when that one changes."""
        primary = self.monitor.primary
        if self._candidates_for is not primary or self._candidates is None:
            self._candidates = [node for node in self.nodes if node is not primary]
            self._candidates_for = primary
        return self._candidates

    def choose(self, demand: Demand) -> Choice:
        return choose(
            demand,
            self.primary_view(),
            self._read_candidates(),
            turn=next(self._turn),
            least_connections=self._least,
            fallback_to_primary=self.settings.fallback == "primary",
            token_margin=self.settings.token_margin_bytes,
            now=asyncio.get_running_loop().time(),
        )

    def session(self, demand: Demand) -> AbstractAsyncContextManager[DbSession]:
        """The session for a request: `async with router.session(Demand(intent)) as db: ...`."""
        choice = self.choose(demand)
        if choice.fallback:
            metrics.FALLBACKS.inc()
        node = self._by_name[choice.node]
        if choice.verify_replay and demand.min_lsn is not None:
            return self._replayed_session(node, demand)
        return self._open(node, demand.intent)

    @asynccontextmanager
    async def _replayed_session(self, node: Node, demand: Demand) -> AsyncIterator[DbSession]:
        """A session on `node` if it has replayed the token (waiting a few ms), else on the
        primary, whatever `fallback` says: the client asked to see its own write."""
        assert demand.min_lsn is not None
        async with self._open(node, demand.intent) as db:
            if await self._has_replayed(db, demand.min_lsn):
                yield db
                return
        metrics.FALLBACKS.inc()
        primary = self._by_name[primary_or_unavailable(self.primary_view(), demand.exclude)]
        async with self._open(primary, demand.intent) as db:
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
