"""Is a node really behind a pooler? Detected, not taken from the configured `mode`."""

from __future__ import annotations

from collections.abc import Iterator

from service.check.facts import NodeFacts
from service.check.finding import Finding
from service.check.rules.view import View


def _proxied(node: NodeFacts) -> bool:
    # NULL over a unix socket: no evidence either way.
    return node.server_port is not None and node.server_port != node.dialled_port


def findings(view: View) -> Iterator[Finding]:
    for node in view.reachable:
        if node.mode == "direct" and node.transaction_pooling:
            yield Finding(
                severity="error",
                node=node.name,
                code="pooler.transaction_pooling",
                message=(
                    "configured `direct` but behind transaction pooling (the backend changes "
                    f"between transactions; server port {node.server_port}, dialled "
                    f"{node.dialled_port}): prepared statements will fail"
                ),
                action=(
                    f'mode = "pgbouncer" for {node.name} (DATABASE_MODE=pgbouncer), '
                    "or dial the server itself"
                ),
            )
        elif node.mode == "pgbouncer" and node.transaction_pooling is False:
            yield Finding(
                severity="warning",
                node=node.name,
                code="pooler.not_pooled",
                message=(
                    "configured `pgbouncer` but one backend serves each connection (a server "
                    "or session pooling): works, without statement caches, a connect per request"
                ),
                action=f'mode = "direct" for {node.name}, or point its URL at PgBouncer',
            )
        elif node.mode == "direct" and _proxied(node):
            yield Finding(
                severity="info",
                node=node.name,
                code="pooler.proxy",
                message=(
                    f"dialled port {node.dialled_port}, server port {node.server_port}: a proxy, "
                    "port mapping or session pooler in between (no transaction pooling seen)"
                ),
            )
