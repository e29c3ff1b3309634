"""Per node: reachable or why not, what it is, and whether it belongs to this cluster."""

from __future__ import annotations

from collections.abc import Iterator

from service.check.errors import action_for
from service.check.facts import NodeFacts
from service.check.finding import CLUSTER, Finding
from service.check.rules.view import View, lag_bytes


def summary(node: NodeFacts, primary: NodeFacts | None) -> str:
    role = "standby" if node.in_recovery else "writable"
    lag = lag_bytes(node, primary) if node.in_recovery else None
    if lag is not None:
        role += f" {lag} bytes behind"
    # "15.18 (Debian 15.18-0+deb12u1)": the number is what an operator compares.
    version = (node.server_version or "?").split(" ")[0]
    tls = {True: "TLS on", False: "TLS off", None: "TLS unknown"}[node.tls]
    return (
        f"{node.address} ({node.mode}): {role}, timeline {node.timeline}, "
        f"system {node.system_identifier}, PostgreSQL {version}, {tls}"
    )


def findings(view: View) -> Iterator[Finding]:
    for node in view.nodes:
        if not node.reachable:
            assert node.error_kind is not None
            yield Finding(
                severity="error",
                node=node.name,
                code="node.unreachable",
                message=f"cannot connect to {node.address}: {node.error}",
                action=action_for(node.error_kind),
            )
        else:
            yield Finding(
                severity="info",
                node=node.name,
                code="node.facts",
                message=summary(node, view.primary),
            )
    yield from _roles(view)
    yield from _foreign(view)


def _roles(view: View) -> Iterator[Finding]:
    if view.primary is None:
        if view.reachable:
            yield Finding(
                severity="error",
                node=CLUSTER,
                code="role.no_primary",
                message="no reachable node accepts writes: every write will answer 503",
                action="promote a standby, or point DATABASE_URL at the writable node",
            )
        return
    primary = view.primary
    for node in view.reachable:
        if (
            node is primary
            or node.in_recovery
            or node.system_identifier != primary.system_identifier
        ):
            continue
        if node.timeline == primary.timeline:
            yield Finding(
                severity="error",
                node=node.name,
                code="role.two_writable",
                message=(
                    f"{node.name} and {primary.name} both accept writes on timeline "
                    f"{primary.timeline}: writes will answer 503 rather than guess"
                ),
                action="stop one of them, or rebuild it as a standby of the other",
            )
        else:
            yield Finding(
                severity="error",
                node=node.name,
                code="role.fenced",
                message=(
                    f"{node.name} accepts writes on timeline {node.timeline}, behind the primary "
                    f"{primary.name} on timeline {primary.timeline}: an old primary, fenced"
                ),
                action=f"rebuild {node.name} as a standby of {primary.name} (pg_rewind, or clone)",
            )
    if primary.configured_role != "primary":
        yield Finding(
            severity="warning",
            node=primary.name,
            code="role.moved",
            message=f"the writable node is {primary.name}, not the node configured as primary",
            action=f"point DATABASE_URL at {primary.name} so the configuration says what is true",
        )


def _foreign(view: View) -> Iterator[Finding]:
    system = view.reference_system
    for node in view.reachable:
        if system is not None and node.system_identifier != system:
            yield Finding(
                severity="error",
                node=node.name,
                code="node.foreign",
                message=(
                    f"{node.name} belongs to another cluster (system identifier "
                    f"{node.system_identifier}, the primary's is {system}): it never serves"
                ),
                action=f"remove {node.name} from the configuration, or fix its URL",
            )
