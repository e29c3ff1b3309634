"""Text of every configuration file the lab writes: PostgreSQL, pg_hba, PgBouncer, env files."""

from __future__ import annotations

import shlex
from pathlib import Path

# The postgresql.conf that initdb writes pulls this file in; pg_basebackup copies both, and
# each replica then gets its own copy with its own port, so every node keeps a normal,
# self-describing data directory that `pg_ctl start -D` alone can run.
NODE_CONF = "switchyard.conf"
INCLUDE_LINE = f"include_if_exists = '{NODE_CONF}'\n"

APP_USER = "switchyard"
APP_DB = "switchyard"
ADMIN_USER = "postgres"


# With `cluster up --tls`: where each node's files are (relative to its data directory).
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"


def node_conf(port: int, socket_dir: Path, replica: bool, tls: bool = False) -> str:
    lines = [
        "# Written by `switchyard cluster`; rewritten on every `up`.",
        "listen_addresses = '127.0.0.1'",
        f"port = {port}",
        f"unix_socket_directories = '{socket_dir}'",
        "wal_level = replica",
        "hot_standby = on",
        "max_wal_senders = 10",
        "max_connections = 300",
        # A throwaway lab: no crash safety wanted, speed is. Never copy this setting to a
        # database whose data you keep. synchronous_commit stays on on purpose: off adds
        # ~200 ms of replication lag (WAL waits for the walwriter), which the
        # read-your-writes tests would mistake for real lag.
        "fsync = off",
        # pg_rewind (`cluster rejoin`) refuses a source without full-page writes, and needs
        # hint-bit changes in the WAL of the target it rewinds.
        "full_page_writes = on",
        "wal_log_hints = on",
        "wal_receiver_status_interval = 1s",
        # No replication slots (a replica stopped for good would pin WAL forever); instead
        # keep enough WAL that a replica stopped for a while in the lab can catch up, and
        # that a checkpoint cannot remove WAL a running pg_basebackup still needs.
        "wal_keep_size = '256MB'",
    ]
    if replica:
        lines.append("hot_standby_feedback = on")
    if tls:
        # pg_hba keeps `host` lines (TLS or not) so a test can show a plain connection is
        # visible as such in pg_stat_ssl; the service's URLs demand verify-full.
        lines += ["ssl = on", f"ssl_cert_file = '{SERVER_CERT}'", f"ssl_key_file = '{SERVER_KEY}'"]
    return "\n".join(lines) + "\n"


def pg_hba() -> str:
    # Loopback only (listen_addresses is 127.0.0.1 too); trust because nothing here is secret.
    return (
        "# Written by `switchyard cluster`.\n"
        "local all all trust\n"
        "host all all 127.0.0.1/32 trust\n"
        "host replication all 127.0.0.1/32 trust\n"
    )


# How every lab PgBouncer pools and fails, wherever it runs (local binaries or containers).
PGBOUNCER_POOLING = (
    "pool_mode = transaction",
    # The default 100 is below what the load tests open at once.
    "max_client_conn = 2000",
    "default_pool_size = 20",
    # PgBouncer's defaults (15 s connect, 120 s query wait) hide a dead server behind long
    # waits; the failure lab wants failures to surface within seconds.
    "server_connect_timeout = 2",
    "server_login_retry = 1",
    "query_wait_timeout = 5",
    "server_check_delay = 1",
    # asyncpg sends extra_float_digits at startup; anything else unsupported must stay an
    # error so the app notices it is sending options PgBouncer cannot pass on.
    "ignore_startup_parameters = extra_float_digits",
)


def pgbouncer_ini(
    listen_port: int,
    node_ports: dict[str, int],
    socket_dir: Path,
    auth_file: Path,
    logfile: Path,
    pidfile: Path,
    tls: tuple[Path, Path, Path] | None = None,
) -> str:
    """`tls`: (CA, certificate, key) for TLS on both sides of PgBouncer."""
    databases = [
        f"{name} = host=127.0.0.1 port={port} dbname={APP_DB}" for name, port in node_ports.items()
    ]
    settings = [
        "listen_addr = 127.0.0.1",
        f"listen_port = {listen_port}",
        f"unix_socket_dir = {socket_dir}",
        # trust still looks the user up in auth_file, hence the file with empty passwords.
        "auth_type = trust",
        f"auth_file = {auth_file}",
        f"admin_users = {ADMIN_USER}",
        *PGBOUNCER_POOLING,
        f"logfile = {logfile}",
        f"pidfile = {pidfile}",
    ]
    if tls is not None:
        ca, cert, key = tls
        settings += [
            # Clients must encrypt; towards the nodes PgBouncer checks their certificates.
            "client_tls_sslmode = require",
            f"client_tls_cert_file = {cert}",
            f"client_tls_key_file = {key}",
            "server_tls_sslmode = verify-full",
            f"server_tls_ca_file = {ca}",
        ]
    return (
        "; Written by `switchyard cluster`; rewritten on every `up`.\n"
        "[databases]\n" + "\n".join(databases) + "\n\n[pgbouncer]\n" + "\n".join(settings) + "\n"
    )


def pgbouncer_userlist() -> str:
    return "".join(f'"{user}" ""\n' for user in (APP_USER, ADMIN_USER))


def node_url(port: int, database: str, ca: Path | None = None) -> str:
    """`ca`: the lab's CA when it runs TLS; the URL then verifies the server fully."""
    url = f"postgresql://{APP_USER}@127.0.0.1:{port}/{database}"
    return url if ca is None else f"{url}?sslmode=verify-full&sslrootcert={ca}"


def service_env(
    replicas: list[str],
    primary_port: int,
    replica_ports: dict[str, int],
    pgbouncer_port: int,
    mode: str,
    ca: Path | None = None,
) -> dict[str, str]:
    """The service's DATABASE_* variables for a topology, in either mode.

    Migrations always get the direct primary: they need session features PgBouncer's
    transaction mode breaks.
    """
    if mode not in ("direct", "pgbouncer"):
        raise ValueError(f"unknown mode {mode!r}; use 'direct' or 'pgbouncer'")

    def url(name: str, port: int) -> str:
        if mode == "direct":
            return node_url(port, APP_DB, ca)
        return node_url(pgbouncer_port, name, ca)

    return {
        "DATABASE_URL": url("primary", primary_port),
        "DATABASE_REPLICA_URLS": ",".join(
            f"{name}={url(name, replica_ports[name])}" for name in replicas
        ),
        "DATABASE_MIGRATION_URL": node_url(primary_port, APP_DB, ca),
        "DATABASE_MODE": mode,
    }


def export_lines(env: dict[str, str]) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())
