"""Pool arithmetic: connections this deployment opens against what each server allows."""

from __future__ import annotations

from collections.abc import Iterator

from service.check.facts import NodeFacts
from service.check.finding import Finding
from service.check.rules.view import View
from service.db.engines import uses_null_pool
from service.settings import NodeSettings

# Above this share of the available slots, a restart, a deploy that overlaps old and new
# processes, or one more tool (psql, a backup) runs the server out of connections.
TIGHT_SHARE = 0.8
# Each process also probes every node (the health monitor) on a connection of its own.
MONITOR_CONNECTIONS = 1


def planned(node: NodeSettings, workers: int, instances: int, pools: int = 1) -> int:
    per_process = pools * (node.pool.pool_size + node.pool.max_overflow) + MONITOR_CONNECTIONS
    return workers * instances * per_process


def pools_on(node: NodeFacts, view: View) -> int:
    """Engines a process keeps on the node: a configured replica that was promoted gets a
    writer beside its read engine, each with a pool of the node's size."""
    return 2 if node is view.primary and node.configured_role == "replica" else 1


def findings(view: View) -> Iterator[Finding]:
    deployment = view.deployment
    settings_by_name = {n.name: n for n in view.settings.database.nodes}
    for node in view.reachable:
        settings = settings_by_name[node.name]
        if node.max_connections is None or node.reserved_connections is None:
            continue
        if node.transaction_pooling:
            yield Finding(
                severity="info",
                node=node.name,
                code="pool.pgbouncer",
                message=(
                    "behind a transaction pooler: its pool size bounds the server connections "
                    f"(the server allows {_available(node)})"
                ),
            )
        elif uses_null_pool(settings, view.settings.database):
            yield Finding(
                severity="info",
                node=node.name,
                code="pool.unbounded",
                message=(
                    "no client-side pool (pgbouncer mode): one server connection per request "
                    f"in flight, of {_available(node)} allowed"
                ),
            )
        else:
            pools = pools_on(node, view)
            wanted = planned(settings, deployment.workers, deployment.instances, pools)
            yield _arithmetic(node, settings, pools, wanted, view)


def _available(node: NodeFacts) -> int:
    assert node.max_connections is not None
    assert node.reserved_connections is not None
    return node.max_connections - node.reserved_connections


def _arithmetic(
    node: NodeFacts, settings: NodeSettings, pools: int, wanted: int, view: View
) -> Finding:
    d = view.deployment
    available = _available(node)
    per_engine = f"{settings.pool.pool_size} pool + {settings.pool.max_overflow} overflow"
    # A promoted replica's read and write engines: "2 x (10 pool + 0 overflow)".
    engines = per_engine if pools == 1 else f"{pools} x ({per_engine})"
    sum_text = (
        f"{d.workers} workers x {d.instances} instances x ({engines} + "
        f"{MONITOR_CONNECTIONS} probe) = {wanted} "
        f"connections, of {available} allowed (max_connections {node.max_connections} - "
        f"{node.reserved_connections} reserved)"
    )
    fix = "lower pool_size, run fewer processes, raise max_connections, or pool with PgBouncer"
    if wanted > available:
        return Finding(
            severity="error",
            node=node.name,
            code="pool.too_large",
            message=f"{sum_text}: does not fit",
            action=fix,
        )
    if wanted > TIGHT_SHARE * available:
        return Finding(
            severity="warning",
            node=node.name,
            code="pool.tight",
            message=f"{sum_text}: over {TIGHT_SHARE:.0%}, no room for a deploy's overlap",
            action=fix,
        )
    return Finding(severity="info", node=node.name, code="pool.fits", message=f"{sum_text}: fits")
