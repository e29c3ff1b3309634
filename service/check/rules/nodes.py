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
        role += f" ({lag} bytes behind)"
    # "15.18 (Debian 15.18-0+deb12u1)": the number is what an operator compares.
    version = (node.server_version or "?").split(" ")[0]
    tls = {True: "TLS on", False: "TLS off", None: "TLS unknown"}[node.tls]
    return (
        f"{node.address} ({node.mode}): {role}, timeline {node.timeline}, "
        f"system {node.system_identifier}, PostgreSQL {version}, {tls}"
    )


def findings(view: View) -> Iterator[Finding]:
    for node in view.nodes:
        if node.error_kind == "query":
            yield Finding(
                severity="warning",
                node=node.name,
                code="node.unreadable",
                message=f"{node.address}: {node.error}",
                action=action_for("query"),
            )
        elif not node.reachable:
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
    election = view.election
    if election.no_primary_reason is not None:
        yield Finding(
            severity="error",
            node=CLUSTER,
            code="role.two_writable",
            message=f"{election.no_primary_reason}: writes will answer 503",
            action="stop all but one writable node, or rebuild the others as its standbys",
        )
    elif election.primary is None and view.reachable:
        yield Finding(
            severity="error",
            node=CLUSTER,
            code="role.no_primary",
            message="no reachable node of this cluster accepts writes: writes will answer 503",
            action="promote a standby, or point DATABASE_URL at the writable node",
        )
    for name, reason in election.fenced.items():
        yield Finding(
            severity="error",
            node=name,
            code="role.fenced",
            message=f"fenced, it serves nothing: {reason}",
            action=f"rebuild {name} as a standby of the primary (pg_rewind, or a new clone)",
        )
    primary = view.primary
    if primary is not None and primary.configured_role != "primary":
        yield Finding(
            severity="warning",
            node=primary.name,
            code="role.moved",
            message=f"the writable node is {primary.name}, not the node configured as primary",
            action=f"point DATABASE_URL at {primary.name} so the configuration says what is true",
        )


def _foreign(view: View) -> Iterator[Finding]:
    for name, reason in view.election.foreign.items():
        yield Finding(
            severity="error",
            node=name,
            code="node.foreign",
            message=f"another cluster's node, never served: {reason}",
            action=f"remove {name} from the configuration, or fix its URL",
        )
