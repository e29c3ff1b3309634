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
                    f"{node.name} is configured `direct` but sits behind transaction pooling "
                    f"(its server backend changes between transactions; server port "
                    f"{node.server_port}, dialled {node.dialled_port}): prepared statements "
                    "and session settings will fail"
                ),
                action=(
                    f'set mode = "pgbouncer" for {node.name} (or DATABASE_MODE=pgbouncer), '
                    "or point its URL at the server itself"
                ),
            )
        elif node.mode == "pgbouncer" and node.transaction_pooling is False:
            yield Finding(
                severity="warning",
                node=node.name,
                code="pooler.not_pooled",
                message=(
                    f"{node.name} is configured `pgbouncer` but keeps one server backend per "
                    "connection (a direct server or session pooling): it works, but without "
                    "statement caches and with a connect per request"
                ),
                action=f'set mode = "direct" for {node.name}, or point its URL at PgBouncer',
            )
        elif node.mode == "direct" and _proxied(node):
            yield Finding(
                severity="info",
                node=node.name,
                code="pooler.proxy",
                message=(
                    f"{node.name} answers on port {node.dialled_port} but the server listens "
                    f"on {node.server_port}: a proxy, port mapping or session pooler in "
                    "between (no transaction pooling seen)"
                ),
            )
