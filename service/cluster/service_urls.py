"""What every implementation of the Topology protocol shares: finding a node by name, and
how the service reaches it (URLs and DATABASE_* variables)."""

from __future__ import annotations

from pathlib import Path

from service.cluster import config
from service.cluster.errors import ClusterError
from service.cluster.protocol import NodeInfo


class ServiceUrls:
    """Mixin for a topology that has `nodes` (primary first), `pgbouncer_port` and `_node`."""

    @property
    def nodes(self) -> list[NodeInfo]:
        raise NotImplementedError

    @property
    def pgbouncer_port(self) -> int:
        raise NotImplementedError

    def _node(self, name: str) -> NodeInfo:
        raise NotImplementedError

    @property
    def tls_ca(self) -> Path | None:
        """The CA that signed the nodes' certificates when the topology runs TLS."""
        return None

    def _replica(self, name: str) -> NodeInfo:
        node = self._node(name)
        if node.role != "replica":
            raise ClusterError(f"{name} is not a replica")
        return node

    def direct_url(self, name: str) -> str:
        return config.node_url(self._node(name).port, config.APP_DB, self.tls_ca)

    def pgbouncer_url(self, name: str) -> str:
        return config.node_url(self.pgbouncer_port, self._node(name).name, self.tls_ca)

    def env(self, mode: str = "direct") -> dict[str, str]:
        """DATABASE_URL, DATABASE_REPLICA_URLS, DATABASE_MIGRATION_URL, DATABASE_MODE."""
        ports = {n.name: n.port for n in self.nodes}
        replicas = [n.name for n in self.nodes if n.role == "replica"]
        try:
            return config.service_env(
                replicas, ports[self.nodes[0].name], ports, self.pgbouncer_port, mode, self.tls_ca
            )
        except ValueError as exc:
            raise ClusterError(str(exc)) from None
