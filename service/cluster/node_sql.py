"""What the local-binary labs (LocalCluster, PatroniCluster) share: asking a node over psql.

Roles are read from the nodes each time, so a replica promoted since the configuration was
written is treated as the primary it now is.
"""

from __future__ import annotations

import time

from service.cluster import postgres, roles
from service.cluster.errors import ClusterError
from service.cluster.protocol import NodeInfo
from service.cluster.roles import NodeFacts

# ALTER SYSTEM + pg_reload_conf() only asks the server to re-read its config.
RELOAD_SETTLE_S = 0.05


def apply_delay_sql(seconds: float) -> list[str]:
    """The statements (each outside a transaction) that set a replica's apply delay; 0 ends it.
    Every topology's set_apply_delay runs them, over psql here or inside a container."""
    if seconds < 0:
        raise ClusterError("an apply delay cannot be negative")
    if seconds == 0:
        change = "ALTER SYSTEM RESET recovery_min_apply_delay"
    else:
        change = f"ALTER SYSTEM SET recovery_min_apply_delay = '{round(seconds * 1000)}ms'"
    return [change, "SELECT pg_reload_conf()"]


class NodeSql:
    """Mixin for a topology with `nodes`, `status()` and `_node()` whose nodes run locally."""

    @property
    def nodes(self) -> list[NodeInfo]:
        raise NotImplementedError

    def status(self) -> dict[str, str]:
        raise NotImplementedError

    def _node(self, name: str) -> NodeInfo:
        raise NotImplementedError

    def probe(self, name: str) -> NodeFacts:
        """What a running node says about itself: recovery, timeline, WAL position, upstream."""
        node = self._node(name)
        if self.status()[node.name] != "running":
            raise ClusterError(f"{name} is not running")
        return NodeFacts.parse(postgres.psql(node.port, [roles.FACTS_SQL]))

    def roles(self) -> dict[str, NodeFacts]:
        """Every running node's facts, in configured order; stopped and frozen ones left out
        (a frozen one would only hang the probe)."""
        status = self.status()
        found: dict[str, NodeFacts] = {}
        for node in self.nodes:
            if status[node.name] != "running":
                continue
            try:
                found[node.name] = self.probe(node.name)
            except ClusterError:
                continue  # stopped or crashed between the status and the probe
        return found

    def current_primary(self) -> str | None:
        """The writable node on the highest timeline, asked of the nodes (not the config)."""
        return roles.pick_primary(self.roles())

    def _standby_port(self, name: str) -> int:
        if not self.probe(name).in_recovery:
            raise ClusterError(f"{name} is not a standby")
        return self._node(name).port

    def set_apply_delay(self, name: str, seconds: float) -> None:
        statements = apply_delay_sql(seconds)
        # Ending a delay is harmless anywhere: a node promoted since it was set keeps the
        # setting in its auto.conf, and cleaning up after a test must not fail on it.
        port = self._node(name).port if seconds == 0 else self._standby_port(name)
        postgres.psql(port, statements)
        time.sleep(RELOAD_SETTLE_S)

    def pause_replay(self, name: str) -> None:
        postgres.psql(self._standby_port(name), ["SELECT pg_wal_replay_pause()"])

    def resume_replay(self, name: str) -> None:
        postgres.psql(self._standby_port(name), ["SELECT pg_wal_replay_resume()"])
