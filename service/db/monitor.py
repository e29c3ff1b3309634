"""The health monitor: probes every node on an interval, keeps each node's health current and
learns from the nodes which one is the primary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from collections.abc import Sequence

from service.db import metrics
from service.db.health_state import NodeState
from service.db.nodes import Node
from service.db.probe import ProbeResult, probe
from service.db.roles import Election, Memory, Observation, elect
from service.settings import HealthSettings

log = logging.getLogger("switchyard.health")

# Primary positions seen over the last minutes: a replica's lag in seconds is the age of the
# oldest position it has not replayed yet (0 when it has replayed everything, however idle).
_HISTORY = 600


class HealthMonitor:
    def __init__(self, nodes: Sequence[Node], settings: HealthSettings) -> None:
        self.nodes = list(nodes)
        self.settings = settings
        self.configured_primary = self.nodes[0]
        # The node writes go to: the configured primary until the nodes say otherwise; None
        # while no node qualifies (then `no_primary_reason` says why).
        self.primary: Node | None = self.configured_primary
        self.no_primary_reason: str | None = None
        self._memory = Memory()
        self._primary_positions: deque[tuple[float, int]] = deque(maxlen=_HISTORY)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One round before the service reports ready, then a round per interval."""
        await self.probe_all()
        self._task = asyncio.create_task(self._run(), name="switchyard-health-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.interval)
            try:
                await self.probe_all()
            except Exception:  # the monitor must outlive any one bad round
                log.exception("health probe round failed")

    async def probe_all(self) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        due = [node for node in self.nodes if node.health.probe_due(started)]
        results = await asyncio.gather(
            *(probe(node.settings.url, self.settings.timeout) for node in due),
            return_exceptions=True,
        )
        now = loop.time()
        returned: list[Node] = []
        for node, outcome in zip(due, results, strict=True):
            # Each node's outcome on its own: one node's trouble never stops the round.
            try:
                if isinstance(outcome, ProbeResult):
                    was_failed = node.health.failed
                    if self._observed(node, outcome, started, now) and was_failed:
                        log.info("node %s answers again", node.name)
                        returned.append(node)
                else:
                    self._probe_failed(node, outcome, started)
            except Exception:
                log.exception("node %s: handling its probe failed", node.name)
        self._apply(
            elect(self._observations(), self._memory, self.configured_primary.name), started, now
        )
        for node in self.nodes:
            health = node.health
            metrics.set_node_gauges(
                node.name, health.state, health.lag_bytes, health.lag_seconds, node.pool_numbers()
            )
        # Pooled connections from before an outage point at a dead or restarted server. They
        # are dropped, not closed: a goodbye to a server that is gone could wait forever.
        await asyncio.gather(
            *(engine.engine.dispose(close=False) for node in returned for engine in node.engines)
        )

    def _observed(self, node: Node, result: ProbeResult, started: float, now: float) -> bool:
        return node.health.observe(
            now,
            started,
            in_recovery=result.in_recovery,
            lsn=result.lsn,
            received=result.received,
            timeline=result.timeline,
            system_identifier=result.system_identifier,
        )

    def _probe_failed(self, node: Node, exc: BaseException, started: float) -> None:
        """A probe that failed outright (refused, reset, not accepting connections) marks the
        node down. One that timed out is judged against the node's own answers: when some
        request statement on it completed while the probe waited, the node is busy (its pool
        or PgBouncer's queue saturated), not dead; a frozen node answers nothing and is
        marked down, its waiting statements abandoned (at the next probe when its last answer
        came less than a probe timeout before this one began). A node whose every connection is
        held by statements longer than the probe timeout cannot be told from a frozen one:
        keep `health.timeout` above the longest statement the service runs behind PgBouncer.
        """
        # "While the probe waited" reaches back one probe timeout before it began: on a
        # starved event loop a burst of answers can be handled just after the probe's timer.
        if isinstance(exc, TimeoutError) and node.last_answer >= started - self.settings.timeout:
            # Busy, not dead: requests on it kept getting answers while the probe waited
            # (a saturated pool or PgBouncer queue delays the probe's own connection).
            log.info("node %s: probe timed out, but requests are answered: busy", node.name)
            metrics.BUSY_PROBES.labels(node=node.name).inc()
            return
        self.mark_failed(node, f"probe failed: {_describe(exc)}", NodeState.DOWN)

    def _observations(self) -> list[Observation]:
        return [
            Observation(
                node.name,
                bool(node.health.in_recovery),
                node.health.timeline,
                node.health.system_identifier,
            )
            for node in self.nodes
            if not node.health.failed and node.health.in_recovery is not None
        ]

    def _apply(self, election: Election, started: float, now: float) -> None:
        self._memory = election.memory
        by_name = {node.name: node for node in self.nodes}
        for name, reason in election.foreign.items():
            self._exclude(by_name[name], NodeState.FOREIGN, reason)
        for name, reason in election.fenced.items():
            self._exclude(by_name[name], NodeState.FENCED, reason)
        self._follow(by_name.get(election.primary or ""), election.no_primary_reason)
        primary = self.primary
        # Whether this round's probe of the primary answered (it began at `started`).
        primary_observed = (
            primary is not None
            and not primary.health.failed
            and primary.health.observed_at is not None
            and primary.health.observed_at >= started
        )
        if primary is not None and not primary.health.failed and election.primary:
            primary.health.judge_primary()
            if primary.health.lsn is not None:
                self._primary_positions.append((now, primary.health.lsn))
        excluded = election.foreign.keys() | election.fenced.keys()
        for node in self.nodes:
            health = node.health
            if node is primary or node.name in excluded or health.failed:
                continue
            if health.in_recovery is None:
                continue  # never answered yet
            if not health.in_recovery:
                # Writable, but not elected (two writable nodes on one timeline).
                health.exclude(NodeState.FENCED, election.no_primary_reason or "writable")
                continue
            lag_bytes, lag_seconds = self._lag(node, now)
            if primary_observed and primary is not None and primary.health.lsn is not None:
                health.raise_high_water(primary.health.lsn, started)
            settings = self.settings
            health.judge_replica(
                lag_bytes, lag_seconds, settings.max_lag_bytes, settings.max_lag_seconds
            )

    def _follow(self, elected: Node | None, no_primary_reason: str | None) -> None:
        """Point writes at the elected node. With nobody elected, a primary that is merely
        down stays the primary (its writes get the 'down' 503); otherwise there is none."""
        if elected is None:
            current = self.primary
            if no_primary_reason is None and current is not None and current.health.failed:
                return
            if current is not None:
                log.warning("no primary: %s", no_primary_reason or "no writable node answers")
            self.primary, self.no_primary_reason = (
                None,
                (no_primary_reason or "no writable node answers"),
            )
            return
        self.no_primary_reason = None
        if elected is not self.primary:
            log.warning(
                "primary is now %s (was %s)",
                elected.name,
                self.primary.name if self.primary else "none",
            )
            metrics.ROLE_CHANGES.inc()
            self._primary_positions.clear()
            self.primary = elected

    def _exclude(self, node: Node, state: NodeState, reason: str) -> None:
        if node.health.state is not state:
            log.warning("node %s is %s: %s", node.name, state.value, reason)
            metrics.EXCLUSIONS.labels(node=node.name, state=state.value).inc()
            # Statements still waiting on it are answered from nowhere else: cut them off.
            node.abandon_inflight()
        node.health.exclude(state, reason)
        if node is self.primary:
            self.primary = None

    def _lag(self, replica: Node, now: float) -> tuple[int, float]:
        replay = replica.health.lsn
        if not self._primary_positions or replay is None:
            return 0, 0.0
        latest = self._primary_positions[-1][1]
        primary = self.primary
        received = replica.health.received
        if (primary is None or primary.health.failed) and received is not None:
            # With the primary gone, WAL it flushed but never sent is lost to every replica:
            # judge a replica by what it has received, or it would lag forever.
            latest = min(latest, max(received, replay))
        if replay >= latest:
            return 0, 0.0
        oldest_unreplayed = next(t for t, lsn in self._primary_positions if lsn > replay)
        return latest - replay, now - oldest_unreplayed

    def mark_failed(
        self, node: Node, reason: str, state: NodeState, abandon_inflight: bool = True
    ) -> None:
        """Take a node out of rotation now; when the monitor itself found it dead, the
        statements still waiting on it are abandoned (reads are re-run elsewhere)."""
        now = asyncio.get_running_loop().time()
        settings = self.settings
        if node.health.fail(now, reason, state, settings.ban_initial, settings.ban_max):
            metrics.BANS.labels(node=node.name).inc()
            log.warning("node %s is %s: %s", node.name, state.value, reason)
        if abandon_inflight:
            node.abandon_inflight()


def _describe(exc: BaseException) -> str:
    """A short reason without the URL (which could carry a password)."""
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, ssl.SSLCertVerificationError):
        # A wrong CA or host name is a configuration fault: name it, not just its type.
        return f"TLS certificate not accepted: {exc.verify_message}"
    return type(exc).__name__
