"""Liveness, readiness and per-node health, answered from the health monitor's state.

Neither readiness nor /health/db opens a connection: a load balancer polling readiness from
many instances must cost the database nothing. What they show is as fresh as the monitor's
last round (one probe interval, 1 s by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from service.db.errors import PROBLEM_BASE
from service.db.nodes import Node
from service.db.plugin import STATE_KEY
from service.db.router import DatabaseRouter
from service.db.routing import format_lsn


class NodeReadiness(msgspec.Struct):
    name: str
    role: str
    reachable: bool


class Readiness(msgspec.Struct):
    ready: bool
    primary_up: bool
    nodes: list[NodeReadiness]


def _nodes(state: State) -> Sequence[Node]:
    """The nodes as the monitor last saw them: the one place this module reads the core."""
    router: DatabaseRouter = state[STATE_KEY]
    return router.nodes


def _reachable(node: Node) -> bool:
    """Whether the node answered the monitor's last probe (lagging nodes answer too)."""
    return not node.health.failed


def _node_health(node: Node) -> dict[str, Any]:
    return {
        "name": node.name,
        "role": node.role,
        "state": node.health.state.value,
        "mode": node.settings.mode,
        "in_recovery": node.health.in_recovery,
        "lsn": None if node.health.lsn is None else format_lsn(node.health.lsn),
        "lag_bytes": node.health.lag_bytes,
        "lag_seconds": node.health.lag_seconds,
        "pool": node.pool_numbers(),
        "ignored_settings": node.warnings,
        "last_error": node.health.last_error,
    }


class HealthController(Controller):
    path = "/health"

    @get("/live")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, state: State) -> Response[Any]:
        """200 while some node can serve reads (a primary outage must not pull the instance)."""
        nodes = [NodeReadiness(node.name, node.role, _reachable(node)) for node in _nodes(state)]
        body = Readiness(
            ready=any(node.reachable for node in nodes), primary_up=nodes[0].reachable, nodes=nodes
        )
        if body.ready:
            return Response(body)
        return Response(
            {
                "type": PROBLEM_BASE + "not-ready",
                "title": "No database node answers",
                "status": 503,
                "detail": "no node (primary or replica) answered the last probe; see /health/db",
                **msgspec.structs.asdict(body),
            },
            status_code=503,
            media_type="application/problem+json",
            headers={"Retry-After": "1"},
        )

    @get("/db")
    async def db(self, state: State) -> dict[str, Any]:
        return {"nodes": [_node_health(node) for node in _nodes(state)]}
