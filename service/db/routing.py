"""Routing decisions as pure functions: which intent a request has, which node serves it."""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


class Intent(enum.Enum):
    WRITE = "write"
    READ = "read"
    STRONG_READ = "strong_read"


class InvalidHeaderError(ValueError):
    def __init__(self, header: str, detail: str) -> None:
        super().__init__(f"{header}: {detail}")
        self.header = header
        self.detail = detail


def resolve_intent(method: str, route_intent: Intent | None, consistency: str | None) -> Intent:
    """A route option or an unsafe method makes a write; a header can only strengthen a read."""
    value = None if consistency is None else consistency.strip().lower()
    if value is not None and value not in ("strong", "eventual"):
        raise InvalidHeaderError("X-DB-Consistency", "must be 'strong' or 'eventual'")
    if route_intent is Intent.WRITE or method.upper() not in SAFE_METHODS:
        return Intent.WRITE
    if value == "strong":
        return Intent.STRONG_READ
    return route_intent or Intent.READ


def parse_lsn(value: str) -> int:
    """PostgreSQL's text form of an LSN (`0/3009138`) as an integer position."""
    match = _LSN.match(value.strip())
    if match is None:
        raise InvalidHeaderError("X-DB-Min-LSN", "must be an LSN like 0/3009138")
    high, low = match.groups()
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


class ReplicaView(Protocol):
    """What routing needs to know about one replica at the moment of the decision."""

    @property
    def name(self) -> str: ...
    @property
    def serving(self) -> bool: ...  # up, within max lag, not banned
    @property
    def replay_lsn(self) -> int | None: ...
    @property
    def checked_out(self) -> int: ...


R = TypeVar("R", bound=ReplicaView)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plain ReplicaView, for tests and for callers without nodes."""

    name: str
    serving: bool
    replay_lsn: int | None
    checked_out: int


def eligible_replicas(
    replicas: Sequence[R], min_lsn: int | None, exclude: frozenset[str] = frozenset()
) -> list[R]:
    return [
        r
        for r in replicas
        if r.serving
        and (not exclude or r.name not in exclude)
        and (min_lsn is None or (r.replay_lsn is not None and r.replay_lsn >= min_lsn))
    ]


def choose_read_replica(eligible: Sequence[R], turn: int, least_connections: bool) -> R | None:
    """Round robin by `turn`, or the replica with the fewest checked-out connections."""
    if not eligible:
        return None
    if least_connections:
        fewest = min(r.checked_out for r in eligible)
        eligible = [r for r in eligible if r.checked_out == fewest]  # ties: round robin
    return eligible[turn % len(eligible)]
