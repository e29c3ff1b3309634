"""What tests and the CLI need from a topology, whatever starts it.

`LocalCluster` (local binaries) implements it today. A testcontainers-based topology for
machines with a Docker engine should implement the same protocol, so fixtures can pick one
without tests noticing. Node names are "primary", "replica-1", "replica-2", ...; PgBouncer
database names equal node names; "pgbouncer" is a valid name for the process operations.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class NodeInfo:
    name: str
    role: str  # "primary" | "replica" as configured; current_primary() says who is now
    port: int
    data_dir: Path


@runtime_checkable
class Topology(Protocol):
    @property
    def nodes(self) -> list[NodeInfo]:
        """Every PostgreSQL node, primary first."""
        ...

    @property
    def pgbouncer_port(self) -> int: ...

    def up(self) -> None:
        """Start everything; idempotent (running parts are left alone, stopped ones start)."""
        ...

    def down(self) -> None:
        """Stop everything this topology started; keep the data."""
        ...

    def destroy(self) -> None:
        """down() and remove all data."""
        ...

    def status(self) -> dict[str, str]:
        """Node name (and "pgbouncer") -> "running" | "stopped" | "frozen"."""
        ...

    def current_primary(self) -> str | None:
        """The node that is writable now, asked of the nodes: after a failover it is not the
        one `nodes` calls "primary". With two writable nodes, the one on the higher timeline;
        None when no running node is writable; ClusterError when two tie."""
        ...

    def direct_url(self, name: str) -> str: ...

    def pgbouncer_url(self, name: str) -> str: ...

    def env(self, mode: str = "direct") -> dict[str, str]:
        """DATABASE_URL, DATABASE_REPLICA_URLS, DATABASE_MIGRATION_URL, DATABASE_MODE."""
        ...

    def stop(self, name: str, mode: str = "immediate") -> None: ...

    def start(self, name: str) -> None:
        """Start a node and return once it accepts connections."""
        ...

    def restart(self, name: str) -> None: ...

    def freeze(self, name: str) -> None:
        """SIGSTOP the node and its children: sockets stay open, nothing answers."""
        ...

    def thaw(self, name: str) -> None: ...

    def set_apply_delay(self, name: str, seconds: float) -> None:
        """recovery_min_apply_delay on a replica; 0 ends the delay."""
        ...

    def pause_replay(self, name: str) -> None: ...

    def resume_replay(self, name: str) -> None: ...
