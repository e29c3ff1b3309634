"""What every rule reads: the nodes' facts, the settings, the deployment, and who is primary."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.check.facts import Deployment, NodeFacts
from service.settings import Settings


def choose_primary(nodes: list[NodeFacts]) -> NodeFacts | None:
    """The writable node on the highest timeline, as the router decides; the configured
    primary wins a tie (which is an error of its own: two writable nodes)."""
    writable = [n for n in nodes if n.reachable and n.in_recovery is False]
    if not writable:
        return None
    return max(writable, key=lambda n: (n.timeline or 0, n.configured_role == "primary"))


def lag_bytes(node: NodeFacts, primary: NodeFacts | None) -> int | None:
    """WAL the primary has that the standby has not replayed (0 when idle, never negative:
    the two positions are read a moment apart)."""
    if primary is None or primary.lsn is None or node.lsn is None:
        return None
    return max(primary.lsn - node.lsn, 0)


@dataclass(frozen=True)
class View:
    nodes: list[NodeFacts]
    settings: Settings
    deployment: Deployment
    primary: NodeFacts | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "primary", choose_primary(self.nodes))

    @property
    def reachable(self) -> list[NodeFacts]:
        return [n for n in self.nodes if n.reachable]

    @property
    def reference_system(self) -> str | None:
        """The cluster every node should belong to: the primary's, else the configured one's."""
        if self.primary is not None:
            return self.primary.system_identifier
        configured = [n for n in self.reachable if n.configured_role == "primary"]
        return configured[0].system_identifier if configured else None

    @property
    def standbys(self) -> list[NodeFacts]:
        """Reachable standbys of this cluster (foreign ones are a finding of their own)."""
        system = self.reference_system
        return [
            n
            for n in self.reachable
            if n.in_recovery and (system is None or n.system_identifier == system)
        ]
