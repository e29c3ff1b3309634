"""The local topology (primary, streaming replicas, PgBouncer) and its failure lab.

Public API: `LocalCluster` starts and breaks the topology; `NodeInfo` describes one node;
`Topology` is the protocol that `service.cluster.containers.ContainerCluster` (imported only
where a Docker engine answers) satisfies too.
"""

from service.cluster.errors import ClusterError
from service.cluster.local import LocalCluster
from service.cluster.protocol import NodeInfo, Topology

__all__ = ["ClusterError", "LocalCluster", "NodeInfo", "Topology"]
