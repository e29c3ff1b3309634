"""What the service knows about one node's health, and the rules that change it.

States: `up` (serves), `lagging` (a replica too far behind, or catching up after an outage),
`down` (the monitor's probe failed), `banned` (a request failed on it). Down and banned nodes
get no traffic until a probe after their back-off succeeds; the back-off doubles per
consecutive failure up to a cap, so a node that comes back is serving again within seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class NodeState(enum.Enum):
    UP = "up"
    LAGGING = "lagging"
    DOWN = "down"
    BANNED = "banned"


@dataclass
class NodeHealth:
    state: NodeState = NodeState.UP
    in_recovery: bool | None = None
    # Replay position on a standby, flush position on a primary, as of the last probe.
    lsn: int | None = None
    # The highest replay position ever seen: a replica restarted after a crash accepts
    # connections before it has replayed that far again, and must not serve until it has.
    high_water_lsn: int | None = None
    catching_up: bool = False
    lag_bytes: int | None = None
    lag_seconds: float | None = None
    last_error: str | None = None
    failures: int = 0
    banned_until: float = 0.0

    @property
    def serving(self) -> bool:
        return self.state is NodeState.UP

    @property
    def failed(self) -> bool:
        return self.state in (NodeState.DOWN, NodeState.BANNED)

    def probe_due(self, now: float) -> bool:
        return not self.failed or now >= self.banned_until

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
        self.banned_until = now + min(ban_initial * 2 ** (self.failures - 1), ban_max)
        self.catching_up = True
        return not was_failed

    def observe(self, in_recovery: bool, lsn: int | None) -> None:
        """A successful probe: the node answers again."""
        self.failures = 0
        self.in_recovery = in_recovery
        self.lsn = lsn
        if lsn is not None and (self.high_water_lsn is None or lsn > self.high_water_lsn):
            self.high_water_lsn = lsn
        if self.state in (NodeState.DOWN, NodeState.BANNED):
            self.state = NodeState.UP
        self.last_error = None

    def judge_replica(
        self, lag_bytes: int, lag_seconds: float, max_bytes: int, max_seconds: float
    ) -> None:
        """Decide whether an answering replica may serve reads."""
        self.lag_bytes, self.lag_seconds = lag_bytes, lag_seconds
        if not self.high_water_before_outage_reached():
            # Its replay position went backwards: it restarted between two probes, unseen.
            self.catching_up = True
        if self.catching_up and self.lsn is not None and self.high_water_before_outage_reached():
            self.catching_up = False
        if not self.in_recovery:
            # A replica that left recovery was promoted: it no longer follows the primary.
            self.state = NodeState.LAGGING
            self.last_error = "not in recovery (promoted?): not following the primary"
        elif self.catching_up:
            self.state = NodeState.LAGGING
            self.last_error = "catching up to the position it served before its outage"
        elif lag_bytes > max_bytes or lag_seconds > max_seconds:
            self.state = NodeState.LAGGING
        else:
            self.state = NodeState.UP

    def high_water_before_outage_reached(self) -> bool:
        return self.high_water_lsn is None or (
            self.lsn is not None and self.lsn >= self.high_water_lsn
        )
