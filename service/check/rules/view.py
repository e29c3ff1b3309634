"""What every rule reads: the nodes' facts, the settings, the deployment, and who is primary.

Who is primary, fenced or foreign is decided by the router's own election (`service.db.roles`)
over the same facts, so the check says what the service will do, not a second opinion.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from service.check.facts import Deployment, NodeFacts
from service.db.roles import Election, Memory, Observation, elect
from service.settings import Settings


def lag_bytes(node: NodeFacts, primary: NodeFacts | None) -> int | None:
    """WAL the primary has that the standby has not replayed (0 when idle, never negative:
    the two positions are read a moment apart)."""
    if primary is None or primary.lsn is None or node.lsn is None:
        return None
    return max(primary.lsn - node.lsn, 0)


def _observation(node: NodeFacts) -> Observation:
    system = node.system_identifier
    return Observation(
        name=node.name,
        in_recovery=bool(node.in_recovery),
        timeline=node.timeline,
        system_identifier=int(system) if system is not None else None,
    )


@dataclass(frozen=True)
class View:
    nodes: list[NodeFacts]
    settings: Settings
    deployment: Deployment
    migration: NodeFacts | None = None  # the migration URL's facts, when not the primary's
    election: Election = field(init=False)

    def __post_init__(self) -> None:
        observations = [_observation(n) for n in self.nodes if n.reachable]
        configured = self.settings.database.primary.name
        object.__setattr__(self, "election", elect(observations, Memory(), configured))

    @property
    def reachable(self) -> list[NodeFacts]:
        return [n for n in self.nodes if n.reachable]

    @property
    def primary(self) -> NodeFacts | None:
        return next((n for n in self.nodes if n.name == self.election.primary), None)

    @property
    def standbys(self) -> list[NodeFacts]:
        """Reachable standbys that serve this cluster (foreign and fenced ones are findings of
        their own)."""
        left_out = self.election.foreign.keys() | self.election.fenced.keys()
        return [n for n in self.reachable if n.in_recovery and n.name not in left_out]
