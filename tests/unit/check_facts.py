"""Healthy facts for the check's unit tests, each test breaking one thing on purpose."""

from __future__ import annotations

from typing import Any

from service.check.facts import Deployment, NodeFacts
from service.check.finding import Finding
from service.check.rules import evaluate
from service.settings import Settings, load_settings

SYSTEM = "7000000000000000001"

ENV = {
    "DATABASE_URL": "postgresql://u@127.0.0.1:5432/app",
    "DATABASE_REPLICA_URLS": "replica-1=postgresql://u@127.0.0.1:5433/app",
}


def settings(**env: str) -> Settings:
    return load_settings({**ENV, **env})


def deployment(**changes: Any) -> Deployment:
    values: dict[str, Any] = {
        "workers": 1,
        "instances": 1,
        "migration_heads": ("0002",),
        "known_revisions": ("0002", "0001"),
        "required_tables": ("customers", "orders"),
        "longest_report_timeout": 5.0,
        **changes,
    }
    return Deployment(**values)


def primary(**changes: Any) -> NodeFacts:
    values: dict[str, Any] = {
        "name": "primary",
        "configured_role": "primary",
        "mode": "direct",
        "address": "127.0.0.1:5432/app",
        "in_recovery": False,
        "timeline": 1,
        "system_identifier": SYSTEM,
        "server_version": "15.18 (Debian)",
        "tls": False,
        "dialled_port": 5432,
        "server_addr": "127.0.0.1",
        "server_port": 5432,
        "transaction_pooling": False,
        "max_connections": 100,
        "reserved_connections": 3,
        "hot_standby_feedback": False,
        "max_standby_streaming_delay_ms": 30000,
        "apply_delay_ms": 0,
        "wal_keep_size_mb": 256,
        "lsn": 1000,
        "alembic_revisions": ("0002",),
        "tables": ("customers", "orders"),
        **changes,
    }
    return NodeFacts(**values)


def replica(**changes: Any) -> NodeFacts:
    values: dict[str, Any] = {
        "name": "replica-1",
        "configured_role": "replica",
        "address": "127.0.0.1:5433/app",
        "in_recovery": True,
        "dialled_port": 5433,
        "server_port": 5433,
        "hot_standby_feedback": True,
        "upstream_host": "127.0.0.1",
        "upstream_port": 5432,
        "streaming": True,
        **changes,
    }
    return primary(**values)


def findings(
    nodes: list[NodeFacts] | None = None, env: dict[str, str] | None = None, **deploy: Any
) -> list[Finding]:
    return evaluate(nodes or [primary(), replica()], settings(**(env or {})), deployment(**deploy))


def problems(nodes: list[NodeFacts] | None = None, **deploy: Any) -> dict[str, str]:
    """code -> severity of every finding worse than information."""
    return {f.code: f.severity for f in findings(nodes, **deploy) if f.severity != "info"}
