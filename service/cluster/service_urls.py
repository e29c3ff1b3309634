"""What every implementation of the Topology protocol shares: finding a node by name, how
the service reaches it (URLs and DATABASE_* variables), and the SQL that steers replay."""

from __future__ import annotations

from service.cluster import config
from service.cluster.errors import ClusterError
from service.cluster.protocol import NodeInfo

PGBOUNCER = "pgbouncer"


def apply_delay_sql(seconds: float) -> list[str]:
    """Statements (each outside a transaction) that set a replica's recovery_min_apply_delay;
    0 ends the delay. pg_reload_conf() only asks the server to re-read its configuration."""
    if seconds < 0:
        raise ClusterError("an apply delay cannot be negative")
    if seconds == 0:
        change = "ALTER SYSTEM RESET recovery_min_apply_delay"
    else:
        change = f"ALTER SYSTEM SET recovery_min_apply_delay = '{round(seconds * 1000)}ms'"
    return [change, "SELECT pg_reload_conf()"]


class ServiceUrls:
    """Mixin for a topology that has `nodes` (primary first) and `pgbouncer_port`."""

    @property
    def nodes(self) -> list[NodeInfo]:
        raise NotImplementedError

    @property
    def pgbouncer_port(self) -> int:
        raise NotImplementedError

    def _node(self, name: str) -> NodeInfo:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ClusterError(self._unknown_node(name))

    def _unknown_node(self, name: str) -> str:
        known = ", ".join([n.name for n in self.nodes] + [PGBOUNCER])
        return f"unknown node {name!r}; known: {known}"

    def _replica(self, name: str) -> NodeInfo:
        node = self._node(name)
        if node.role != "replica":
            raise ClusterError(f"{name} is not a replica")
        return node

    def direct_url(self, name: str) -> str:
        return config.node_url(self._node(name).port, config.APP_DB)

    def pgbouncer_url(self, name: str) -> str:
        return config.node_url(self.pgbouncer_port, self._node(name).name)

    def env(self, mode: str = "direct") -> dict[str, str]:
        """DATABASE_URL, DATABASE_REPLICA_URLS, DATABASE_MIGRATION_URL, DATABASE_MODE."""
        ports = {n.name: n.port for n in self.nodes}
        replicas = [n.name for n in self.nodes if n.role == "replica"]
        try:
            return config.service_env(
                replicas, ports[self.nodes[0].name], ports, self.pgbouncer_port, mode
            )
        except ValueError as exc:
            raise ClusterError(str(exc)) from None
