"""The local topology (primary, streaming replicas, PgBouncer) and its failure lab.

Public API: `LocalCluster` starts and breaks the topology; `Topology` is the protocol a
future testcontainers implementation must satisfy too; `NodeInfo` describes one node.
"""

from service.cluster.errors import ClusterError
from service.cluster.local import LocalCluster
from service.cluster.protocol import NodeInfo, Topology

__all__ = ["ClusterError", "LocalCluster", "NodeInfo", "Topology"]
