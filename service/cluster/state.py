"""`<base>/state.json`: what separate CLI invocations need to find the same cluster again.

Only the stable facts live here (names, roles, ports); whether something runs is read
from its pidfile and /proc each time, so the file never goes stale when a node dies.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from service.cluster.errors import ClusterError
from service.cluster.proc import free_ports

STATE_VERSION = 1


@dataclass
class NodeRecord:
    name: str
    role: str
    port: int


@dataclass
class ClusterState:
    nodes: list[NodeRecord] = field(default_factory=list)
    pgbouncer_port: int = 0
    tls: bool = False  # decided when the cluster is created (`up --tls`)

    def node(self, name: str) -> NodeRecord | None:
        return next((n for n in self.nodes if n.name == name), None)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": STATE_VERSION,
                "nodes": [{"name": n.name, "role": n.role, "port": n.port} for n in self.nodes],
                "pgbouncer_port": self.pgbouncer_port,
                "tls": self.tls,
            },
            indent=2,
        )


def load_state(path: Path) -> ClusterState | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cannot read {path}: {exc}; remove the folder to start over") from exc
    if raw.get("version") != STATE_VERSION:
        raise ClusterError(f"{path} has an unknown format; remove the folder to start over")
    try:
        nodes = [NodeRecord(str(n["name"]), str(n["role"]), int(n["port"])) for n in raw["nodes"]]
        return ClusterState(
            nodes=nodes,
            pgbouncer_port=int(raw["pgbouncer_port"]),
            tls=bool(raw.get("tls", False)),  # absent in folders made before TLS existed
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClusterError(f"{path} is damaged ({exc}); remove the folder to start over") from exc


def save_state(path: Path, state: ClusterState) -> None:
    # Write-then-rename so that a crash never leaves half a file for the next invocation.
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.to_json() + "\n")
    os.replace(tmp, path)


def plan_nodes(state: ClusterState, replicas: int) -> bool:
    """Give every wanted node a name and a free port; existing ones keep theirs.

    Returns True if anything was added (the caller then saves the state).
    """
    wanted = [("primary", "primary")]
    wanted += [(f"replica-{i}", "replica") for i in range(1, replicas + 1)]
    missing = [(name, role) for name, role in wanted if state.node(name) is None]
    need = len(missing) + (0 if state.pgbouncer_port else 1)
    if need == 0:
        return False
    # A stopped node's port is free too, but it is taken: skip ports already assigned.
    taken = {n.port for n in state.nodes} | {state.pgbouncer_port}
    ports = [p for p in free_ports(need + len(taken)) if p not in taken][:need]
    for name, role in missing:
        state.nodes.append(NodeRecord(name, role, ports.pop(0)))
    if not state.pgbouncer_port:
        state.pgbouncer_port = ports.pop(0)
    return True
