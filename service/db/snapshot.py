"""The nodes' health as plain Structs: what /health/* and other callers may read of the core."""

from __future__ import annotations

from typing import Literal

import msgspec

from service.db.lsn import format_lsn
from service.db.nodes import Node
from service.db.router import DatabaseRouter

Role = Literal["primary", "replica"]


class NodeSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    # What the node is now, learned from it (a configured replica that was promoted is a
    # primary); the configured role until the node has answered once.
    role: Role
    configured_role: Role
    state: str
    serves_writes: bool
    mode: str
    in_recovery: bool | None
    timeline: int | None
    system_identifier: str | None  # text: a 64-bit number JavaScript clients cannot hold
    lsn: str | None
    lag_bytes: int | None
    lag_seconds: float | None
    pool: dict[str, int] | None
    ignored_settings: list[str]
    last_error: str | None
    consecutive_failures: int


class HealthSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    primary: str | None  # the node writes go to now
    primary_problem: str | None  # why no node takes writes, when none does
    nodes: list[NodeSnapshot]

    @property
    def any_answers(self) -> bool:
        """Some node can serve reads (or writes): what readiness means."""
        return any(node.state in ("up", "lagging") for node in self.nodes)

    @property
    def primary_up(self) -> bool:
        return any(node.serves_writes and node.state == "up" for node in self.nodes)


def snapshot(router: DatabaseRouter) -> HealthSnapshot:
    primary = router.primary
    problem = None
    if primary is None:
        problem = router.monitor.no_primary_reason or "no writable node answers"
    elif primary.health.failed:
        problem = f"{primary.name} is {primary.health.state.value}: {primary.health.last_error}"
    return HealthSnapshot(
        primary=None if primary is None else primary.name,
        primary_problem=problem,
        nodes=[_node(node, node is primary) for node in router.nodes],
    )


def _node(node: Node, is_primary: bool) -> NodeSnapshot:
    health = node.health
    role: Role
    if health.in_recovery is None:
        role = node.configured_role
    else:
        role = "replica" if health.in_recovery else "primary"
    return NodeSnapshot(
        name=node.name,
        role=role,
        configured_role=node.configured_role,
        state=health.state.value,
        serves_writes=is_primary,
        mode=node.settings.mode,
        in_recovery=health.in_recovery,
        timeline=health.timeline,
        system_identifier=None
        if health.system_identifier is None
        else str(health.system_identifier),
        lsn=None if health.lsn is None else format_lsn(health.lsn),
        lag_bytes=health.lag_bytes,
        lag_seconds=health.lag_seconds,
        pool=node.pool_numbers(),
        ignored_settings=list(node.warnings),
        last_error=health.last_error,
        consecutive_failures=health.failures,
    )
