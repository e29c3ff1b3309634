"""Patroni for the lab: one member's configuration, the binary, and its REST API.

The configuration is written as JSON, which YAML parsers read as YAML, so the lab needs no
YAML library. Timings are the lowest Patroni accepts (`loop_wait + 2 * retry_timeout <= ttl`;
lower ones are raised with a warning), so failures are handled as fast as Patroni can.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.cluster import config
from service.cluster.errors import ClusterError

VERSION = "4.1.5"
# Where `make system-deps` installs it: a versioned venv outside any checkout, so the
# `postgres` OS user can always read it (a checkout under a 0700 home is out of its reach).
DEFAULT_VENV = Path(f"/opt/switchyard/patroni-{VERSION}")
PATRONI_ENV = "SWITCHYARD_PATRONI"
SCOPE = "switchyard-lab"
NAMESPACE = "/switchyard/"
# A frozen member's REST API never answers: every call is bounded.
REST_TIMEOUT = 1.0

DCS_TIMINGS: dict[str, int] = {
    "ttl": 20,
    "loop_wait": 1,
    "retry_timeout": 3,
    # A crashed leader is failed over at once instead of being restarted in place.
    "primary_start_timeout": 0,
}


def find_patroni() -> Path:
    override = os.environ.get(PATRONI_ENV)
    path = Path(override) if override else DEFAULT_VENV / "bin" / "patroni"
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ClusterError(
            f"Patroni {VERSION} not found at {path}; run `make system-deps` (it installs "
            f"patroni[etcd3,psycopg3]=={VERSION} into {DEFAULT_VENV}) or point {PATRONI_ENV} at "
            "a patroni executable"
        )
    return path


@dataclass(frozen=True)
class MemberPlan:
    """Everything one member's configuration depends on."""

    name: str
    pg_port: int
    rest_port: int
    data_dir: Path
    bin_dir: Path
    socket_dir: Path
    log_dir: Path
    pgpass: Path


def member_config(member: MemberPlan, etcd_port: int) -> dict[str, Any]:
    """One member's Patroni configuration; every address on loopback."""
    local = "127.0.0.1"
    admin = {"username": config.ADMIN_USER}
    return {
        "scope": SCOPE,
        "namespace": NAMESPACE,
        "name": member.name,
        "restapi": {
            "listen": f"{local}:{member.rest_port}",
            "connect_address": f"{local}:{member.rest_port}",
        },
        "etcd3": {"hosts": [f"{local}:{etcd_port}"], "protocol": "http"},
        "bootstrap": {
            "dcs": {
                **DCS_TIMINGS,
                "postgresql": {
                    "use_pg_rewind": True,
                    # Cluster-wide settings: Patroni keeps them equal on every member.
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        # pg_rewind needs hint-bit changes in the WAL, and full-page writes.
                        "wal_log_hints": "on",
                        "full_page_writes": "on",
                        "max_connections": 300,
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": "256MB",
                        "hot_standby_feedback": "on",
                        "wal_receiver_status_interval": "1s",
                        # A throwaway lab: never copy this to a database whose data you keep.
                        "fsync": "off",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, "no-locale"],
        },
        "postgresql": {
            "listen": f"{local}:{member.pg_port}",
            "connect_address": f"{local}:{member.pg_port}",
            "data_dir": str(member.data_dir),
            "bin_dir": str(member.bin_dir),
            "pgpass": str(member.pgpass),
            "authentication": {"superuser": admin, "replication": admin, "rewind": admin},
            # Without it a clone waits for a spread checkpoint on the leader.
            "basebackup": [{"checkpoint": "fast"}],
            "pg_hba": [
                "local all all trust",
                f"host all all {local}/32 trust",
                f"host replication all {local}/32 trust",
            ],
            "parameters": {
                "unix_socket_directories": str(member.socket_dir),
                "logging_collector": "on",
                "log_directory": str(member.log_dir),
                "log_filename": f"{member.name}.postgres.log",
            },
        },
    }


def config_text(member: MemberPlan, etcd_port: int) -> str:
    return json.dumps(member_config(member, etcd_port), indent=2) + "\n"


@dataclass(frozen=True)
class Member:
    """One row of Patroni's `/cluster`: what the DCS says about a member."""

    name: str
    role: str  # "leader" | "replica" | "sync_standby" | ...
    state: str  # "running" | "streaming" | "starting" | "stopped" | ...
    timeline: int | None
    lag: int | None  # bytes behind the leader, None when Patroni does not know

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Member:
        lag = raw.get("lag")
        timeline = raw.get("timeline")
        return cls(
            name=str(raw["name"]),
            role=str(raw.get("role", "")),
            state=str(raw.get("state", "")),
            timeline=int(timeline) if isinstance(timeline, int) else None,
            lag=int(lag) if isinstance(lag, int) else None,
        )


def rest(
    port: int, path: str, body: dict[str, Any] | None = None, timeout: float = REST_TIMEOUT
) -> tuple[int, str]:
    """GET (or POST `body` as JSON) to a member's REST API: (status, text); status 0 on no answer.

    Patroni answers health endpoints with 503 on purpose; that is a status, not an error.
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except (OSError, ValueError):
        return 0, ""


def cluster_members(rest_ports: list[int]) -> list[Member] | None:
    """`/cluster` from the first member that answers; it lists every member's role and state
    and is the authority even when the leader's own Patroni is dead."""
    for port in rest_ports:
        status, text = rest(port, "/cluster")
        if status != 200:
            continue
        try:
            return [Member.from_json(m) for m in json.loads(text).get("members", [])]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return None
