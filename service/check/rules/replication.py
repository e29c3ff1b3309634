"""Standbys: whom they follow, slots, recovery conflicts, deliberate delays, lag."""

from __future__ import annotations

import socket
from collections.abc import Iterator

from service.check.facts import NodeFacts
from service.check.finding import CLUSTER, Finding
from service.check.rules.view import View, lag_bytes


def _addresses(host: str) -> set[str]:
    """Every address a host name stands for, so `localhost` and `127.0.0.1` compare equal."""
    try:
        return {str(info[4][0]) for info in socket.getaddrinfo(host, None)} | {host}
    except OSError:
        return {host}


def _server_of(node: NodeFacts) -> tuple[str, int | None]:
    """Host and port of the node's server itself (through a pooler: the server behind it)."""
    host = node.server_addr or node.address.rsplit(":", 1)[0]
    return host, node.server_port or node.dialled_port


def _same_server(host: str, port: int | None, node: NodeFacts) -> bool:
    names = {node.address.rsplit(":", 1)[0], *([node.server_addr] if node.server_addr else [])}
    dialled = set().union(*(_addresses(name) for name in names))
    return port == _server_of(node)[1] and bool(_addresses(host) & dialled)


def findings(view: View) -> Iterator[Finding]:
    primary = view.primary
    for node in view.standbys:
        if primary is not None:
            yield from _upstream(node, primary, view)
        yield from _slot(node, primary)
        yield from _conflicts(node, view)
        yield from _delay_and_lag(node, primary, view)
    if primary is not None:
        yield from _primary_slots(primary, view)


def _upstream(node: NodeFacts, primary: NodeFacts, view: View) -> Iterator[Finding]:
    if node.upstream_host is None:
        yield Finding(
            severity="info",
            node=node.name,
            code="replication.upstream_unknown",
            message="whom it streams from is hidden from this role: not checked",
            action="grant pg_read_all_stats (or pg_monitor) to check it",
        )
        return
    host, port = node.upstream_host, node.upstream_port
    if _same_server(host, port, primary):
        return
    via = [n for n in view.standbys if n is not node and _same_server(host, port, n)]
    if via:
        yield Finding(
            severity="info",
            node=node.name,
            code="replication.cascade",
            message=f"{node.name} streams from {via[0].name} (cascading), not from the primary",
        )
        return
    yield Finding(
        severity="warning",
        node=node.name,
        code="replication.other_upstream",
        message=(
            f"{node.name} streams from {host}:{port}, which is neither the primary "
            f"{primary.name} ({':'.join(map(str, _server_of(primary)))}) nor a configured node"
        ),
        action=f"point {node.name}'s primary_conninfo at {primary.name}, or configure that node",
    )


def _slot(node: NodeFacts, primary: NodeFacts | None) -> Iterator[Finding]:
    if (
        node.primary_slot_name
        and primary is not None
        and node.primary_slot_name not in {s.name for s in primary.slots}
    ):
        yield Finding(
            severity="error",
            node=node.name,
            code="replication.slot_missing",
            message=(
                f"{node.name} streams through slot {node.primary_slot_name!r}, which does "
                f"not exist on {primary.name}: it cannot stream"
            ),
            action=(
                f"on {primary.name}: SELECT pg_create_physical_replication_slot("
                f"'{node.primary_slot_name}'), or clear {node.name}'s primary_slot_name"
            ),
        )
    if node.streaming is False:
        yield Finding(
            severity="warning",
            node=node.name,
            code="replication.not_streaming",
            message=f"{node.name} has no WAL receiver streaming: it falls further behind",
            action=f"read {node.name}'s server log for the walreceiver's error",
        )


def _primary_slots(primary: NodeFacts, view: View) -> Iterator[Finding]:
    for slot in primary.slots:
        if not slot.active:
            yield Finding(
                severity="warning",
                node=primary.name,
                code="replication.slot_inactive",
                message=(
                    f"slot {slot.name!r} on {primary.name} has no standby attached: it keeps "
                    "WAL until the disk fills"
                ),
                action=f"attach its standby, or SELECT pg_drop_replication_slot('{slot.name}')",
            )
    no_slot = [n for n in view.standbys if not n.primary_slot_name]
    if no_slot and primary.wal_keep_size_mb == 0:
        names = ", ".join(n.name for n in no_slot)
        yield Finding(
            severity="warning",
            node=CLUSTER,
            code="replication.no_retention",
            message=(
                f"{names} stream without a replication slot and {primary.name} keeps no extra "
                "WAL (wal_keep_size = 0): a standby that falls behind needs a rebuild"
            ),
            action="give each standby a slot (primary_slot_name), or set wal_keep_size",
        )


def _conflicts(node: NodeFacts, view: View) -> Iterator[Finding]:
    longest = view.deployment.longest_report_timeout
    delay_ms = node.max_standby_streaming_delay_ms
    # -1 means the standby waits for queries forever: no cancels (at the price of lag).
    if node.hot_standby_feedback is not False or delay_ms is None or delay_ms < 0:
        return
    if delay_ms < longest * 1000:
        yield Finding(
            severity="warning",
            node=node.name,
            code="replication.recovery_conflicts",
            message=(
                f"{node.name} has hot_standby_feedback off and max_standby_streaming_delay "
                f"{delay_ms} ms, shorter than the longest analytics timeout ({longest:g} s): "
                "reports will be cancelled by recovery conflicts"
            ),
            action=f"set hot_standby_feedback = on on {node.name}",
        )


def _delay_and_lag(node: NodeFacts, primary: NodeFacts | None, view: View) -> Iterator[Finding]:
    if node.apply_delay_ms:
        health = view.settings.health
        skipped = node.apply_delay_ms / 1000 > health.max_lag_seconds
        yield Finding(
            severity="warning",
            node=node.name,
            code="replication.apply_delay",
            message=(
                f"applies WAL {node.apply_delay_ms} ms late (recovery_min_apply_delay): "
                + (
                    "over health.max_lag_seconds: no reads after writes"
                    if skipped
                    else "reads are that stale after writes"
                )
            ),
            action=f"ALTER SYSTEM RESET recovery_min_apply_delay on {node.name}, then reload",
        )
    lag = lag_bytes(node, primary)
    if primary is not None and lag is not None and lag > view.settings.health.max_lag_bytes:
        yield Finding(
            severity="warning",
            node=node.name,
            code="replication.lag",
            message=(
                f"{node.name} is {lag} bytes behind {primary.name} "
                f"(over health.max_lag_bytes {view.settings.health.max_lag_bytes}): "
                "skipped for reads"
            ),
            action=f"see why {node.name} replays slowly (load, apply delay, paused replay)",
        )
