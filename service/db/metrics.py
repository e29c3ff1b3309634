"""Prometheus metrics of the routing core, served by Litestar's PrometheusController.

Counters move on the request path (one cached child per label set); gauges are refreshed by
the health monitor once per probe round, so scraping costs the request path nothing.
"""

from __future__ import annotations

from functools import cache

from prometheus_client import Counter, Gauge

from service.db.health_state import NodeState

ROUTED = Counter(
    "switchyard_db_sessions_total", "Sessions opened, by node and intent", ["node", "intent"]
)
FALLBACKS = Counter(
    "switchyard_db_fallbacks_total", "Reads sent to the primary because no replica qualified"
)
RETRIES = Counter(
    "switchyard_db_read_retries_total", "Reads re-run on another node after a node failure"
)
BANS = Counter("switchyard_db_bans_total", "Times a node was taken out of rotation", ["node"])
ROLE_CHANGES = Counter(
    "switchyard_primary_changes_total", "Times the node serving writes changed (a promotion)"
)
EXCLUSIONS = Counter(
    "switchyard_node_exclusions_total",
    "Times a node was fenced (split brain) or found foreign (another cluster)",
    ["node", "state"],
)
BUSY_PROBES = Counter(
    "switchyard_probe_timeouts_busy_total",
    "Probes that timed out on a node that kept answering requests (busy, not down)",
    ["node"],
)
LAG_BYTES = Gauge("switchyard_replica_lag_bytes", "Replay lag in bytes", ["node"])
LAG_SECONDS = Gauge("switchyard_replica_lag_seconds", "Replay lag in seconds", ["node"])
NODE_STATE = Gauge(
    "switchyard_node_state", "1 for the node's current state, 0 for the others", ["node", "state"]
)
POOL = Gauge("switchyard_db_pool_connections", "Client-side pool numbers", ["node", "kind"])


@cache
def routed(node: str, intent: str) -> Counter:
    return ROUTED.labels(node=node, intent=intent)


def set_node_gauges(
    node: str,
    state: NodeState,
    lag_bytes: int | None,
    lag_seconds: float | None,
    pool: dict[str, int] | None,
) -> None:
    for candidate in NodeState:
        NODE_STATE.labels(node=node, state=candidate.value).set(1 if candidate is state else 0)
    if lag_bytes is not None:
        LAG_BYTES.labels(node=node).set(lag_bytes)
    if lag_seconds is not None:
        LAG_SECONDS.labels(node=node).set(lag_seconds)
    for kind, value in (pool or {}).items():
        POOL.labels(node=node, kind=kind).set(value)
