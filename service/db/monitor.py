"""The health monitor: probes every node on an interval and keeps each node's health current."""

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
from service.settings import HealthSettings

log = logging.getLogger("switchyard.health")

# Primary positions seen over the last minutes: a replica's lag in seconds is the age of the
# oldest position it has not replayed yet (0 when it has replayed everything, however idle).
_HISTORY = 600


class HealthMonitor:
    def __init__(self, primary: Node, replicas: Sequence[Node], settings: HealthSettings) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.settings = settings
        self._primary_positions: deque[tuple[float, int]] = deque(maxlen=_HISTORY)
        self._task: asyncio.Task[None] | None = None

    @property
    def nodes(self) -> list[Node]:
        return [self.primary, *self.replicas]

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
        now = asyncio.get_running_loop().time()
        due = [node for node in self.nodes if node.health.probe_due(now)]
        results = await asyncio.gather(
            *(probe(node, self.settings.timeout) for node in due), return_exceptions=True
        )
        now = asyncio.get_running_loop().time()
        outcomes = dict(zip((node.name for node in due), results, strict=True))
        returned: list[Node] = []
        # The primary first: replicas' lag is measured against what it just reported.
        for node in self.nodes:
            outcome = outcomes.get(node.name)
            if isinstance(outcome, ProbeResult):
                if node.health.failed:
                    returned.append(node)
                self._succeeded(node, outcome, now)
            elif isinstance(outcome, BaseException):
                self.mark_failed(node, f"probe failed: {_describe(outcome)}", NodeState.DOWN)
            health = node.health
            metrics.set_node_gauges(
                node.name, health.state, health.lag_bytes, health.lag_seconds, node.pool_numbers()
            )
        # Pooled connections from before an outage point at a dead or restarted server. They
        # are dropped, not closed: a goodbye to a server that is gone could wait forever.
        await asyncio.gather(*(node.engine.dispose(close=False) for node in returned))

    def _succeeded(self, node: Node, result: ProbeResult, now: float) -> None:
        health = node.health
        if health.failed:
            log.info("node %s answers again", node.name)
        health.observe(result.in_recovery, result.lsn)
        if node is self.primary:
            if result.lsn is not None:
                self._primary_positions.append((now, result.lsn))
            health.lag_bytes = health.lag_seconds = None
            return
        lag_bytes, lag_seconds = self._lag(result, now)
        health.judge_replica(
            lag_bytes, lag_seconds, self.settings.max_lag_bytes, self.settings.max_lag_seconds
        )

    def _lag(self, replica: ProbeResult, now: float) -> tuple[int, float]:
        replay = replica.lsn
        if not self._primary_positions or replay is None:
            return 0, 0.0
        latest = self._primary_positions[-1][1]
        if self.primary.health.failed and replica.received is not None:
            # With the primary gone, WAL it flushed but never sent is lost to every replica:
            # judge a replica by what it has received, or it would lag forever.
            latest = min(latest, max(replica.received, replay))
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
