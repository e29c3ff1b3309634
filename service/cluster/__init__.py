"""The local topology (primary, streaming replicas, PgBouncer) and its failure lab.

Public API: `LocalCluster` starts and breaks the topology (and changes roles: promote, failover,
rejoin); `PatroniCluster` runs the same nodes under Patroni with one etcd; `NodeInfo` describes
one node; `Topology` is the protocol all of them and
`service.cluster.containers.ContainerCluster` (imported only where a Docker engine answers)
satisfy.
"""

from service.cluster.errors import ClusterError
from service.cluster.ha import PatroniCluster
from service.cluster.local import LocalCluster
from service.cluster.protocol import NodeInfo, Topology

__all__ = ["ClusterError", "LocalCluster", "NodeInfo", "PatroniCluster", "Topology"]
