"""Liveness, readiness and per-node health."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from service.db.errors import PROBLEM_BASE
from service.db.nodes import Node
from service.db.plugin import STATE_KEY
from service.db.probe import probe
from service.db.router import DatabaseRouter
from service.db.routing import format_lsn

_READY_PROBE_TIMEOUT = 1.0


class NodeReadiness(msgspec.Struct):
    name: str
    role: str
    reachable: bool


class Readiness(msgspec.Struct):
    ready: bool
    primary_up: bool
    nodes: list[NodeReadiness]


async def _reachable(node: Node) -> bool:
    try:
        await probe(node, _READY_PROBE_TIMEOUT)
    except Exception:  # any failure means "not reachable now"; the detail is in /health/db
        return False
    return True


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
        router: DatabaseRouter = state[STATE_KEY]
        reachable = await asyncio.gather(*(_reachable(node) for node in router.nodes))
        nodes = [
            NodeReadiness(node.name, node.role, ok)
            for node, ok in zip(router.nodes, reachable, strict=True)
        ]
        body = Readiness(ready=any(reachable), primary_up=reachable[0], nodes=nodes)
        if body.ready:
            return Response(body)
        return Response(
            {
                "type": PROBLEM_BASE + "not-ready",
                "title": "No database node answers",
                "status": 503,
                "detail": "no node (primary or replica) answered a probe; see /health/db",
                **msgspec.structs.asdict(body),
            },
            status_code=503,
            media_type="application/problem+json",
            headers={"Retry-After": "1"},
        )

    @get("/db")
    async def db(self, state: State) -> dict[str, Any]:
        router: DatabaseRouter = state[STATE_KEY]
        return {"nodes": [_node_health(node) for node in router.nodes]}
