"""Which node serves a session: pure selection over what the monitor knows of the nodes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from service.db.failure import FailureKind
from service.db.intent import Intent
from service.db.problems import NodeUnavailableError, NoNodeAvailableError


class ReplicaView(Protocol):
    """What routing needs to know about one node at the moment of the decision."""

    @property
    def name(self) -> str: ...
    @property
    def serving(self) -> bool: ...  # up, within max lag, not banned, fenced or foreign
    @property
    def replay_lsn(self) -> int | None: ...
    @property
    def checked_out(self) -> int: ...
    def staleness(self, now: float) -> float | None:
        """How stale its answers may be: its measured lag plus that measurement's age."""
        ...


R = TypeVar("R", bound=ReplicaView)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plain ReplicaView, for tests and for callers without nodes."""

    name: str
    serving: bool
    replay_lsn: int | None
    checked_out: int
    stale: float | None = 0.0

    def staleness(self, now: float) -> float | None:
        return self.stale


# Demand and Choice are made on every request: plain slotted classes (a frozen dataclass
# costs four times as much to build). Nothing mutates them after construction.
@dataclass(slots=True)
class Demand:
    """What one request asks of its session."""

    intent: Intent
    min_lsn: int | None = None
    # Seconds of staleness the client tolerates (X-DB-Max-Staleness, or the route's option).
    max_staleness: float | None = None
    exclude: frozenset[str] = frozenset()


class PrimaryView(Protocol):
    """The node writes go to, as the monitor sees it; `name` None while there is none."""

    @property
    def name(self) -> str | None: ...
    @property
    def failed(self) -> bool: ...
    @property
    def reason(self) -> str | None: ...  # why it is down, or why there is no primary
    @property
    def retry_after(self) -> int: ...
    @property
    def lsn(self) -> int | None: ...  # its WAL position at the last probe


@dataclass(frozen=True, slots=True)
class PrimaryState:
    """A plain PrimaryView: for tests, and for the moments with no primary at all."""

    name: str | None
    failed: bool = False
    reason: str | None = None
    retry_after: int = 1
    lsn: int | None = None


@dataclass(slots=True)
class Choice:
    node: str
    # The node's replay position must be checked against the token first (the monitor's
    # view of it is up to one probe old).
    verify_replay: bool = False
    fallback: bool = False  # a read sent to the primary because no replica qualified


def eligible_replicas(
    replicas: Sequence[R],
    min_lsn: int | None,
    exclude: frozenset[str] = frozenset(),
    max_staleness: float | None = None,
    now: float = 0.0,
) -> list[R]:
    return [
        r
        for r in replicas
        if r.serving
        and (not exclude or r.name not in exclude)
        and (min_lsn is None or (r.replay_lsn is not None and r.replay_lsn >= min_lsn))
        and (max_staleness is None or _within(r.staleness(now), max_staleness))
    ]


def _within(staleness: float | None, bound: float) -> bool:
    return staleness is not None and staleness <= bound


def choose_read_replica(eligible: Sequence[R], turn: int, least_connections: bool) -> R | None:
    """Round robin by `turn`, or the replica with the fewest checked-out connections."""
    if not eligible:
        return None
    if least_connections:
        fewest = min(r.checked_out for r in eligible)
        eligible = [r for r in eligible if r.checked_out == fewest]  # ties: round robin
    return eligible[turn % len(eligible)]


def primary_or_unavailable(primary: PrimaryView, exclude: frozenset[str] = frozenset()) -> str:
    if primary.name is None:
        raise NoNodeAvailableError(f"no primary: {primary.reason or 'no writable node answers'}")
    if primary.failed or primary.name in exclude:
        raise NodeUnavailableError(
            primary.name, FailureKind.MARKED_DOWN, primary.reason, primary.retry_after
        )
    return primary.name


def choose(
    demand: Demand,
    primary: PrimaryView,
    replicas: Sequence[R],
    *,
    turn: int,
    least_connections: bool,
    fallback_to_primary: bool,
    token_margin: int,
    now: float = 0.0,
) -> Choice:
    """The node for a session. Writes and strong reads: the primary. Reads: a serving replica
    that has replayed the client's token, else the primary (or a 503 with fallback off)."""
    if demand.intent is not Intent.READ:
        return Choice(primary_or_unavailable(primary, demand.exclude))
    min_lsn, exclude, bound = demand.min_lsn, demand.exclude, demand.max_staleness
    if min_lsn is not None and primary.lsn is not None and min_lsn > primary.lsn + token_margin:
        # Beyond anything the primary had written at its last probe, by more than it writes
        # between probes: no replica can have it, so none is asked (the token is forged,
        # from another cluster, or from a write this instance has not seen the WAL of yet).
        return Choice(primary_or_unavailable(primary, exclude), fallback=True)
    chosen = choose_read_replica(
        eligible_replicas(replicas, min_lsn, exclude, bound, now), turn, least_connections
    )
    if chosen is not None:
        return Choice(chosen.name)
    if min_lsn is not None:
        # The monitor's positions are up to one probe old: ask a serving replica itself.
        serving = choose_read_replica(
            eligible_replicas(replicas, None, exclude, bound, now), turn, least_connections
        )
        if serving is not None:
            return Choice(serving.name, verify_replay=True)
    if not fallback_to_primary:
        raise NoNodeAvailableError("no replica can serve this read and fallback is off")
    return Choice(primary_or_unavailable(primary, exclude), fallback=True)
