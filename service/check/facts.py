"""What the check learned from each node, as plain data: the rules read only this."""

from __future__ import annotations

from typing import Literal

import msgspec

from service.settings import Mode

ErrorKind = Literal[
    "refused",
    "timeout",
    "authentication",
    "certificate",
    "tls",
    "database",
    "host",
    "not_accepting",  # up, but refusing sessions: starting, stopping, or hot_standby = off
    "full",  # no connection slot left
    "query",  # connected, but the check's own query failed
    "other",
]


class Slot(msgspec.Struct, frozen=True):
    name: str
    active: bool


class NodeFacts(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    configured_role: Literal["primary", "replica"]
    mode: Mode
    address: str  # host:port/database as dialled, never with a password
    error: str | None = None
    error_kind: ErrorKind | None = None
    in_recovery: bool | None = None
    timeline: int | None = None
    system_identifier: str | None = None  # text: 64-bit, beyond what JSON readers keep exact
    server_version: str | None = None
    tls: bool | None = None
    dialled_port: int | None = None
    server_addr: str | None = None  # inet_server_addr(), NULL over a unix socket
    server_port: int | None = None  # inet_server_port(): the port the server itself listens on
    transaction_pooling: bool | None = None
    max_connections: int | None = None
    reserved_connections: int | None = None  # superuser_reserved_connections
    connections_in_use: int | None = None
    hot_standby_feedback: bool | None = None
    max_standby_streaming_delay_ms: int | None = None
    apply_delay_ms: int | None = None  # recovery_min_apply_delay
    wal_keep_size_mb: int | None = None
    upstream_host: str | None = None  # whom a standby streams from
    upstream_port: int | None = None
    streaming: bool | None = None  # a standby's WAL receiver is connected
    primary_slot_name: str | None = None
    slots: tuple[Slot, ...] = ()
    lsn: int | None = None  # replay position on a standby, insert position on a primary
    alembic_revisions: tuple[str, ...] | None = None  # None: no alembic_version table
    alembic_error: str | None = None  # alembic_version exists but this role cannot read it
    tables: tuple[str, ...] = ()  # the required tables that exist
    # (table, privilege) pairs: what this role may not do to a required table.
    missing_privileges: tuple[tuple[str, str], ...] = ()

    @property
    def reachable(self) -> bool:
        return self.error is None


class Deployment(msgspec.Struct, frozen=True, kw_only=True):
    """What the rules compare the nodes against, besides the settings."""

    workers: int
    instances: int
    migration_heads: tuple[str, ...]
    known_revisions: tuple[str, ...]
    required_tables: tuple[str, ...]
    longest_report_timeout: float  # seconds
