"""What the service knows about one node's health, and the rules that change it.

States: `up` (serves), `lagging` (a replica too far behind, or catching up after an outage),
`down` (the monitor's probe failed), `banned` (a request failed on it), `fenced` (writable on
an old timeline, or a standby following such a node: split brain) and `foreign` (another
cluster). Down and banned nodes get no traffic until a probe after their back-off succeeds;
the back-off doubles per consecutive failure up to a cap, so a node that comes back is
serving again within seconds, however long it was away.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# 2**_MAX_DOUBLINGS times the initial back-off is far past any sane cap; the exponent stops
# growing there, so a node down for days never overflows the arithmetic.
_MAX_DOUBLINGS = 32


class NodeState(enum.Enum):
    UP = "up"
    LAGGING = "lagging"
    DOWN = "down"
    BANNED = "banned"
    FENCED = "fenced"
    FOREIGN = "foreign"


@dataclass
class NodeHealth:
    state: NodeState = NodeState.UP
    in_recovery: bool | None = None
    timeline: int | None = None
    system_identifier: int | None = None
    # Replay position on a standby, flush position on a primary, as of the last probe.
    lsn: int | None = None
    # On a standby: the WAL it has received so far (judges it while the primary is down).
    received: int | None = None
    # When that probe answered (the event loop's clock): how old `lsn` and the lag are.
    observed_at: float | None = None
    # The highest replay position ever seen: a replica restarted after a crash accepts
    # connections before it has replayed that far again, and must not serve until it has.
    high_water_lsn: int | None = None
    catching_up: bool = False
    # Set when the node failed or restarted unseen: the first primary position observed by a
    # probe that began after this moment bounds everything the node served before, so its
    # high-water mark is raised to it (the monitor's own last view of the node is up to one
    # probe old, and rows read since could otherwise vanish after a restart).
    high_water_from_primary_after: float | None = None
    # The last probe found the replay position lower than the one before: a restart.
    went_backwards: bool = False
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    last_error: str | None = None
    failures: int = 0
    failed_at: float = float("-inf")
    banned_until: float = 0.0

    @property
    def serving(self) -> bool:
        return self.state is NodeState.UP

    @property
    def failed(self) -> bool:
        return self.state in (NodeState.DOWN, NodeState.BANNED)

    def probe_due(self, now: float) -> bool:
        return not self.failed or now >= self.banned_until

    def back_off(self, ban_initial: float, ban_max: float) -> float:
        doublings = min(self.failures - 1, _MAX_DOUBLINGS)
        return float(min(ban_initial * 2.0**doublings, ban_max))

    def fail(
        self, now: float, reason: str, state: NodeState, ban_initial: float, ban_max: float
    ) -> bool:
        """Record a failure; True when the node was serving until now (a new outage)."""
        was_failed = self.failed
        self.last_error = reason
        if was_failed and now < self.banned_until:
            # More news of the same outage (other requests that were on the node): the
            # back-off grows per failed re-admission probe, not per request.
            return False
        self.failures += 1
        self.state = state
        self.failed_at = now
        if self.high_water_from_primary_after is None:
            self.high_water_from_primary_after = now
        self.banned_until = now + self.back_off(ban_initial, ban_max)
        self.catching_up = True
        return not was_failed

    def observe(
        self,
        now: float,
        started: float,
        *,
        in_recovery: bool,
        lsn: int | None,
        received: int | None = None,
        timeline: int | None = None,
        system_identifier: int | None = None,
    ) -> bool:
        """A successful probe that started at `started`; False (and nothing changes) when the
        node failed after the probe began: that probe's answer is older than the failure."""
        if self.failed and self.failed_at >= started:
            return False
        self.failures = 0
        self.in_recovery = in_recovery
        self.went_backwards = lsn is not None and self.lsn is not None and lsn < self.lsn
        self.lsn = lsn
        self.received = received
        self.observed_at = now
        self.timeline = timeline
        self.system_identifier = system_identifier
        if lsn is not None and (self.high_water_lsn is None or lsn > self.high_water_lsn):
            self.high_water_lsn = lsn
        if self.failed or self.state in (NodeState.FENCED, NodeState.FOREIGN):
            self.state = NodeState.UP
        self.last_error = None
        return True

    def exclude(self, state: NodeState, reason: str) -> None:
        """Fenced or foreign: answering, but never to be served."""
        self.state = state
        self.last_error = reason
        self.lag_bytes = self.lag_seconds = None

    def judge_replica(
        self, lag_bytes: int, lag_seconds: float, max_bytes: int, max_seconds: float
    ) -> None:
        """Decide whether an answering standby may serve reads."""
        self.lag_bytes, self.lag_seconds = lag_bytes, lag_seconds
        if not self.high_water_before_outage_reached():
            self.catching_up = True
        if self.went_backwards and self.observed_at is not None:
            # It restarted between two probes, unseen: what it served since the last probe
            # is bounded by the primary's position at a later probe (once, not every round,
            # or the target would move on for as long as it lags).
            self.high_water_from_primary_after = self.observed_at
        if self.catching_up and self.lsn is not None and self.high_water_before_outage_reached():
            self.catching_up = False
        if self.catching_up:
            self.state = NodeState.LAGGING
            self.last_error = "catching up to the position it served before its outage"
        elif lag_bytes > max_bytes or lag_seconds > max_seconds:
            self.state = NodeState.LAGGING
        else:
            self.state = NodeState.UP

    def judge_primary(self) -> None:
        self.lag_bytes = self.lag_seconds = None
        self.catching_up = False
        self.state = NodeState.UP

    def raise_high_water(self, primary_lsn: int, primary_probe_started: float) -> None:
        """Take the primary's position as the catch-up target once it comes from a probe
        that began after this node's failure (or unseen restart)."""
        since = self.high_water_from_primary_after
        if since is None or primary_probe_started <= since:
            return
        self.high_water_from_primary_after = None
        if self.high_water_lsn is None or primary_lsn > self.high_water_lsn:
            self.high_water_lsn = primary_lsn
        self.catching_up = True

    def high_water_before_outage_reached(self) -> bool:
        return self.high_water_lsn is None or (
            self.lsn is not None and self.lsn >= self.high_water_lsn
        )
