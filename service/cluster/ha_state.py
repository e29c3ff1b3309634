"""`<base>/ha.json`: names and ports of a Patroni lab, for separate CLI invocations.

Its presence is also how the CLI tells a Patroni lab folder from a plain one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from service.cluster.errors import ClusterError
from service.cluster.proc import free_ports

HA_STATE_VERSION = 1
ENGINE = "patroni"


@dataclass
class MemberState:
    name: str
    role: str  # as configured: the member bootstrapped first is "primary"
    port: int
    rest_port: int


@dataclass
class HaState:
    members: list[MemberState] = field(default_factory=list)
    pgbouncer_port: int = 0
    etcd_client_port: int = 0
    etcd_peer_port: int = 0

    def to_json(self) -> str:
        return json.dumps({"version": HA_STATE_VERSION, "engine": ENGINE, **asdict(self)}, indent=2)


def plan(replicas: int) -> HaState:
    names = ["primary"] + [f"replica-{i}" for i in range(1, replicas + 1)]
    ports = free_ports(2 * len(names) + 3)
    members = [
        MemberState(name, "primary" if i == 0 else "replica", ports[2 * i], ports[2 * i + 1])
        for i, name in enumerate(names)
    ]
    return HaState(members, ports[-3], ports[-2], ports[-1])


def load(path: Path) -> HaState | None:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cannot read {path}: {exc}; remove the folder to start over") from exc
    if raw.get("version") != HA_STATE_VERSION or raw.get("engine") != ENGINE:
        raise ClusterError(f"{path} has an unknown format; remove the folder to start over")
    try:
        return HaState(
            members=[MemberState(**m) for m in raw["members"]],
            pgbouncer_port=int(raw["pgbouncer_port"]),
            etcd_client_port=int(raw["etcd_client_port"]),
            etcd_peer_port=int(raw["etcd_peer_port"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ClusterError(f"{path} is damaged ({exc}); remove the folder to start over") from exc


def save(path: Path, state: HaState) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.to_json() + "\n")
    os.replace(tmp, path)
