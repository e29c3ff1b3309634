"""Liveness, readiness and per-node health, answered from the monitor's state: a readiness
probe costs the databases nothing (the monitor already probes every node each interval)."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State

from service.check import FINDINGS_KEY, Finding
from service.db import HealthSnapshot, NodeSnapshot, health_snapshot
from service.problems import Problem


class NodeReadiness(msgspec.Struct):
    name: str
    role: str
    reachable: bool


class Readiness(msgspec.Struct):
    ready: bool
    primary_up: bool
    nodes: list[NodeReadiness]


class DbHealth(msgspec.Struct, frozen=True, kw_only=True):
    primary: str | None
    primary_problem: str | None
    nodes: list[NodeSnapshot]
    checks: list[Finding]


class NotReady(Problem):
    slug = "not-ready"
    title_text = "No database node answers"
    status = 503


def _readiness(health: HealthSnapshot) -> Readiness:
    nodes = [
        NodeReadiness(node.name, node.role, node.state in ("up", "lagging"))
        for node in health.nodes
    ]
    return Readiness(ready=health.any_answers, primary_up=health.primary_up, nodes=nodes)


class HealthController(Controller):
    path = "/health"

    @get("/live")
    async def live(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, state: State) -> Response[Readiness]:
        """200 while some node can serve reads (a primary outage must not pull the instance)."""
        body = _readiness(health_snapshot(state))
        if not body.ready:
            raise NotReady(
                "no node (primary or replica) answered its last probe; see /health/db",
                headers={"Retry-After": "1"},
                extra=msgspec.structs.asdict(body),
            )
        return Response(body)

    @get("/db")
    async def db(self, state: State) -> DbHealth:
        health = health_snapshot(state)
        findings = state.get(FINDINGS_KEY, [])
        return DbHealth(
            primary=health.primary,
            primary_problem=health.primary_problem,
            nodes=health.nodes,
            # What the start-up check found wrong (warnings and errors; empty until it ran).
            checks=[finding for finding in findings if finding.severity != "info"],
        )
