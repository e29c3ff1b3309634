"""`switchyard check` against the real lab: each finding produced by a real misconfiguration,
and absent on the healthy topology.

Configuration mistakes (a wrong URL, a wrong mode, too many workers) need no change to any
server and run on the session topology. Server-side mistakes (an apply delay, a missing slot,
TLS, a lower max_connections, a frozen node) run on a topology of this module's own, and
every test puts it back the way it found it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest

from service.check import Finding, check
from service.check.run import Report
from service.cluster import ClusterError, LocalCluster, Topology
from service.cluster.config import node_url
from service.cluster.postgres import psql
from service.cluster.proc import free_ports, write_server_file
from service.settings import Settings, load_settings
from tests.integration.conftest import MODE
from tests.integration.helpers import wait_for_replicas

RETRY_FAST = "ALTER SYSTEM SET wal_retrieve_retry_interval = '100ms'"
# A frozen node must cost the suite well under a second, not the 2 s default.
FAST = {"SWITCHYARD_DATABASE__POOL__CONNECT_TIMEOUT": "0.5"}


def findings(report: Report, worse_than_info: bool = True) -> dict[tuple[str, str], Finding]:
    return {
        (f.node, f.code): f for f in report.findings if not worse_than_info or f.severity != "info"
    }


def env_for(topology: Topology, mode: str = "direct", **changes: str) -> Settings:
    return load_settings({**topology.env(mode), **FAST, **changes})


# ---- the session topology: configuration mistakes -------------------------------------------


async def test_the_healthy_lab_has_no_errors_or_warnings(settings: Settings) -> None:
    report = await check(settings)
    assert findings(report) == {}
    facts = {n.name: n for n in report.nodes}
    assert [facts[name].in_recovery for name in ("primary", "replica-1", "replica-2")] == [
        False,
        True,
        True,
    ]
    assert len({n.system_identifier for n in report.nodes}) == 1
    assert {n.timeline for n in report.nodes} == {1}
    assert all(n.tls is False for n in report.nodes)
    # The mode this run uses is the mode the nodes really need.
    assert {n.transaction_pooling for n in report.nodes} == {MODE == "pgbouncer"}


async def test_a_replica_behind_pgbouncer_configured_direct_is_an_error(
    cluster: Topology, migrated: None
) -> None:
    replicas = f"replica-1={cluster.pgbouncer_url('replica-1')}"
    report = await check(env_for(cluster, DATABASE_REPLICA_URLS=replicas))
    [(key, finding)] = findings(report).items()
    assert key == ("replica-1", "pooler.transaction_pooling")
    assert finding.severity == "error"
    assert 'mode = "pgbouncer"' in finding.action
    # The same replica dialled directly is fine.
    direct = f"replica-1={cluster.direct_url('replica-1')}"
    assert findings(await check(env_for(cluster, DATABASE_REPLICA_URLS=direct))) == {}


async def test_pgbouncer_mode_on_direct_urls_is_a_warning(
    cluster: Topology, migrated: None
) -> None:
    report = await check(env_for(cluster, DATABASE_MODE="pgbouncer"))
    assert {code for _, code in findings(report)} == {"pooler.not_pooled"}
    assert {f.severity for f in findings(report).values()} == {"warning"}
    # Through PgBouncer, the same mode draws no warning.
    assert findings(await check(env_for(cluster, "pgbouncer"))) == {}


async def test_a_pool_too_large_for_max_connections_is_an_error(
    cluster: Topology, migrated: None
) -> None:
    # The lab allows 300 - 3 = 297 connections; 8 x 4 x (10 + 1 probe) = 352.
    report = await check(env_for(cluster), workers=8, instances=4)
    too_large = {node for node, code in findings(report) if code == "pool.too_large"}
    assert too_large == {"primary", "replica-1", "replica-2"}
    assert "352 connections" in findings(report)[("primary", "pool.too_large")].message
    fits = await check(env_for(cluster), workers=2, instances=2)  # 44
    assert findings(fits) == {}


async def test_unreachable_nodes_say_why_in_plain_words(cluster: Topology, migrated: None) -> None:
    [closed] = free_ports(1)
    primary_port = cluster.nodes[0].port
    replicas = ",".join(
        [
            f"refused=postgresql://switchyard@127.0.0.1:{closed}/switchyard",
            f"nodb=postgresql://switchyard@127.0.0.1:{primary_port}/no_such_db",
            f"nobody=postgresql://no_such_role@127.0.0.1:{primary_port}/switchyard",
        ]
    )
    report = await check(env_for(cluster, DATABASE_REPLICA_URLS=replicas))
    errors = {node: f for (node, code), f in findings(report).items() if code == "node.unreachable"}
    assert set(errors) == {"refused", "nodb", "nobody"}
    assert errors["refused"].message.endswith("refused: nothing listens on that address")
    assert "unknown database" in errors["nodb"].message
    assert "authentication failed" in errors["nobody"].message
    kinds = {n.name: n.error_kind for n in report.nodes}
    assert kinds == {
        "primary": None,
        "refused": "refused",
        "nodb": "database",
        "nobody": "authentication",
    }


async def test_a_database_without_migrations(cluster: Topology, migrated: None) -> None:
    name = f"check_{uuid.uuid4().hex[:8]}"
    port = cluster.nodes[0].port
    psql(port, [f"CREATE DATABASE {name} OWNER switchyard"])
    try:
        env = {"DATABASE_URL": node_url(port, name), "DATABASE_REPLICA_URLS": ""}
        report = await check(env_for(cluster, **env))
        assert set(findings(report)) == {
            ("primary", "schema.unmigrated"),
            ("primary", "schema.missing_tables"),
        }
        assert "customers, orders" in findings(report)[("primary", "schema.missing_tables")].message
        # A revision this code does not know: the database was migrated by newer code.
        psql(
            port,
            [
                "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
                "INSERT INTO alembic_version VALUES ('ffffffff')",
            ],
            database=name,
        )
        report = await check(env_for(cluster, **env))
        assert ("primary", "schema.unknown_revision") in findings(report)
    finally:
        psql(port, [f"DROP DATABASE {name} WITH (FORCE)"])


async def test_a_migration_url_that_is_not_the_primary_itself(
    cluster: Topology, migrated: None
) -> None:
    wrong = {
        "through PgBouncer": cluster.pgbouncer_url("primary"),
        "to a standby": cluster.direct_url("replica-1"),
    }
    for why, url in wrong.items():
        report = await check(env_for(cluster, DATABASE_MIGRATION_URL=url))
        assert set(findings(report)) == {("migration", "migration.not_primary")}, why
        assert report.migration is not None
    port = cluster.nodes[0].port
    unknown = node_url(port, "no_such_db")
    report = await check(env_for(cluster, DATABASE_MIGRATION_URL=unknown))
    assert set(findings(report)) == {("migration", "migration.unreachable")}
    # The lab's own migration URL, the direct primary, is probed in pgbouncer mode: fine.
    report = await check(env_for(cluster, "pgbouncer"))
    assert report.migration is not None
    assert findings(report) == {}


async def test_no_writable_node_is_an_error(cluster: Topology, migrated: None) -> None:
    env = {"DATABASE_URL": cluster.direct_url("replica-1"), "DATABASE_REPLICA_URLS": ""}
    report = await check(env_for(cluster, **env))
    assert set(findings(report)) == {("*", "role.no_primary")}


def test_the_cli_prints_one_line_per_finding_json_and_exit_status(
    cluster: Topology, migrated: None
) -> None:
    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", "check", *args],
            env={**os.environ, **cluster.env("direct"), **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # The lab trusts every login, so a password in the URL changes nothing but the output.
    secret = cluster.direct_url("primary").replace("switchyard@", "switchyard:pa55word@")
    healthy = run(DATABASE_URL=secret)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "pa55word" not in healthy.stdout + healthy.stderr
    assert healthy.stdout.strip().splitlines()[-1].endswith("0 error(s), 0 warning(s): fine")
    warned = run(DATABASE_MODE="pgbouncer")
    assert warned.returncode == 1
    assert any(line.startswith("WARN ") for line in warned.stdout.splitlines())
    broken = run("--json", "--workers", "8", "--instances", "4", DATABASE_URL=secret)
    assert "pa55word" not in broken.stdout
    assert broken.returncode == 2
    body = json.loads(broken.stdout)
    assert body["status"] == 2
    assert body["deployment"]["workers"] == 8
    assert {f["code"] for f in body["findings"] if f["severity"] == "error"} == {"pool.too_large"}
    assert [n["name"] for n in body["nodes"]] == ["primary", "replica-1", "replica-2"]


# ---- a topology of its own: server-side mistakes -------------------------------------------


@pytest.fixture(scope="module")
def lab() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="switchyard-check-", dir="/dev/shm"))
    base.chmod(0o755)  # the servers run as `postgres` and must enter it
    topology = LocalCluster(base, replicas=2)
    try:
        topology.up()
    except ClusterError as exc:
        topology.destroy()
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start the check topology: {exc}", pytrace=False)
    try:
        migrate = [sys.executable, "-m", "service.cli", "migrate"]
        env = {**os.environ, **topology.env("direct")}
        subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=120)
        for node in topology.nodes[1:]:
            # A standby retries a failed stream after 5 s by default; the slot and restart
            # tests break streaming on purpose and should not wait that long for it back.
            psql(node.port, [RETRY_FAST, "SELECT pg_reload_conf()"])
        yield topology
    finally:
        topology.destroy()


def port_of(lab: LocalCluster, name: str) -> int:
    return next(n.port for n in lab.nodes if n.name == name)


@pytest.fixture
async def reset_after(lab: LocalCluster) -> AsyncIterator[list[tuple[str, str]]]:
    """Settings a test changes with ALTER SYSTEM, as (node, name): reset and reloaded after,
    and the replicas streaming again before the next test looks."""
    changed: list[tuple[str, str]] = []
    yield changed
    for node, setting in changed:
        psql(port_of(lab, node), [f"ALTER SYSTEM RESET {setting}", "SELECT pg_reload_conf()"])
    await streaming(lab)


def alter(
    lab: LocalCluster, node: str, changes: dict[str, str], log: list[tuple[str, str]]
) -> None:
    statements = [f"ALTER SYSTEM SET {k} = '{v}'" for k, v in changes.items()]
    log.extend((node, k) for k in changes)
    psql(port_of(lab, node), [*statements, "SELECT pg_reload_conf()"])


async def settled(lab: LocalCluster, node: str, sql: str, expected: object) -> None:
    """A reload is asynchronous: wait (bounded) until the node shows the change."""
    conn = await asyncpg.connect(lab.direct_url(node))
    try:
        for _ in range(200):
            if await conn.fetchval(sql) == expected:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{node}: {sql} never returned {expected!r}")
    finally:
        await conn.close()


async def streaming(lab: LocalCluster) -> None:
    """Every replica streams from the primary again (after a restart or a reverted change)."""
    sender = "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'"
    for node in lab.nodes[1:]:
        await settled(lab, node.name, sender, port_of(lab, "primary"))


async def test_lab_is_healthy_before_it_is_broken(lab: LocalCluster) -> None:
    assert findings(await check(env_for(lab))) == {}


async def test_an_apply_delay_is_a_warning(lab: LocalCluster) -> None:
    lab.set_apply_delay("replica-1", 2)
    try:
        report = await check(env_for(lab))
        assert set(findings(report)) == {("replica-1", "replication.apply_delay")}
        assert "2000 ms" in findings(report)[("replica-1", "replication.apply_delay")].message
    finally:
        lab.set_apply_delay("replica-1", 0)
    await settled(lab, "replica-1", "SHOW recovery_min_apply_delay", "0")
    assert findings(await check(env_for(lab))) == {}


async def test_a_replica_behind_the_lag_bound_is_a_warning(lab: LocalCluster) -> None:
    bound = {"SWITCHYARD_HEALTH__MAX_LAG_BYTES": "1000"}
    lab.pause_replay("replica-1")
    try:
        # About 40 kB of WAL the paused standby does not replay.
        filler = ["CREATE TABLE check_filler AS SELECT g FROM generate_series(1, 1000) AS g"]
        psql(port_of(lab, "primary"), [*filler, "DROP TABLE check_filler"], database="switchyard")
        report = await check(env_for(lab, **bound))
        assert set(findings(report)) == {("replica-1", "replication.lag")}
    finally:
        lab.resume_replay("replica-1")
    await settled(lab, "replica-1", "SELECT pg_is_wal_replay_paused()", False)
    await wait_for_replicas(lab)
    assert findings(await check(env_for(lab, **bound))) == {}


async def test_feedback_off_with_a_short_standby_delay_warns_of_recovery_conflicts(
    lab: LocalCluster, reset_after: list[tuple[str, str]]
) -> None:
    changes = {"hot_standby_feedback": "off", "max_standby_streaming_delay": "1s"}
    alter(lab, "replica-2", changes, reset_after)
    await settled(lab, "replica-2", "SHOW hot_standby_feedback", "off")
    report = await check(env_for(lab))
    assert set(findings(report)) == {("replica-2", "replication.recovery_conflicts")}
    # With the standby allowed to wait longer than any report runs, feedback off is fine.
    alter(lab, "replica-2", {"max_standby_streaming_delay": "30s"}, reset_after)
    await settled(lab, "replica-2", "SHOW max_standby_streaming_delay", "30s")
    assert findings(await check(env_for(lab))) == {}


async def test_a_missing_and_an_unused_replication_slot(
    lab: LocalCluster, reset_after: list[tuple[str, str]]
) -> None:
    alter(lab, "replica-1", {"primary_slot_name": "check_missing"}, reset_after)
    await settled(lab, "replica-1", "SHOW primary_slot_name", "check_missing")
    report = await check(env_for(lab))
    assert findings(report)[("replica-1", "replication.slot_missing")].severity == "error"
    primary_port = port_of(lab, "primary")
    psql(primary_port, ["SELECT pg_create_physical_replication_slot('check_unused')"])
    try:
        report = await check(env_for(lab))
        assert findings(report)[("primary", "replication.slot_inactive")].severity == "warning"
    finally:
        psql(primary_port, ["SELECT pg_drop_replication_slot('check_unused')"])


async def test_a_replica_following_a_node_that_is_not_the_primary(
    lab: LocalCluster, reset_after: list[tuple[str, str]]
) -> None:
    original = psql(port_of(lab, "replica-1"), ["SHOW primary_conninfo"])
    upstream = f"host=127.0.0.1 port={port_of(lab, 'replica-2')} user=postgres"
    alter(lab, "replica-1", {"primary_conninfo": upstream}, [])
    try:
        sender = "SELECT sender_port FROM pg_stat_wal_receiver WHERE status = 'streaming'"
        await settled(lab, "replica-1", sender, port_of(lab, "replica-2"))
        # replica-2 is not configured: replica-1 follows someone unknown.
        only_one = f"replica-1={lab.direct_url('replica-1')}"
        report = await check(env_for(lab, DATABASE_REPLICA_URLS=only_one))
        assert set(findings(report)) == {("replica-1", "replication.other_upstream")}
        # Configured, replica-2 makes it a cascade: information, not a warning.
        report = await check(env_for(lab))
        assert findings(report) == {}
        assert ("replica-1", "replication.cascade") in findings(report, worse_than_info=False)
    finally:
        escaped = original.replace("'", "''")
        psql(
            port_of(lab, "replica-1"),
            [f"ALTER SYSTEM SET primary_conninfo = '{escaped}'", "SELECT pg_reload_conf()"],
        )
        await streaming(lab)


async def test_a_node_of_another_cluster_is_foreign(lab: LocalCluster, cluster: Topology) -> None:
    stranger = f"replica-1={cluster.direct_url('replica-1')}"
    report = await check(env_for(lab, DATABASE_REPLICA_URLS=stranger))
    assert set(findings(report)) == {("replica-1", "node.foreign")}


async def test_a_frozen_node_times_out(lab: LocalCluster) -> None:
    lab.freeze("replica-2")
    try:
        report = await check(env_for(lab))
    finally:
        lab.thaw("replica-2")
    [(key, finding)] = findings(report).items()
    assert key == ("replica-2", "node.unreachable")
    assert "timed out" in finding.message


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A certificate and its key, signed by nobody a client trusts."""
    keys = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=switchyard-check", "-keyout", keys / "k", "-out", keys / "c"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return (keys / "c").read_text(), (keys / "k").read_text()


async def test_tls_on_and_a_certificate_the_client_rejects(
    lab: LocalCluster, reset_after: list[tuple[str, str]], self_signed: tuple[str, str]
) -> None:
    data = next(n.data_dir for n in lab.nodes if n.name == "primary")
    write_server_file(data / "check.crt", self_signed[0])
    write_server_file(data / "check.key", self_signed[1])
    (data / "check.key").chmod(0o600)  # the server refuses a key others can read
    tls = {"ssl_cert_file": "check.crt", "ssl_key_file": "check.key", "ssl": "on"}
    alter(lab, "primary", tls, reset_after)
    await settled(lab, "primary", "SHOW ssl", "on")
    url = lab.direct_url("primary")
    report = await check(env_for(lab, DATABASE_URL=f"{url}?sslmode=require"))
    assert findings(report) == {}
    assert report.nodes[0].tls is True
    verified = f"{url}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt"
    report = await check(env_for(lab, DATABASE_URL=verified))
    finding = findings(report)[("primary", "node.unreachable")]
    assert "certificate rejected" in finding.message
    assert report.nodes[0].error_kind == "certificate"


async def test_max_connections_too_low_for_the_pool(lab: LocalCluster) -> None:
    # 12 - 3 reserved = 9 slots, below one process's 10 + 1 probe. A standby needs at least
    # its primary's max_connections, so lowering the primary's alone is allowed.
    port = port_of(lab, "primary")
    psql(port, ["ALTER SYSTEM SET max_connections = 12"])
    lab.restart("primary")
    try:
        await streaming(lab)
        report = await check(env_for(lab))
        assert set(findings(report)) == {("primary", "pool.too_large")}
    finally:
        psql(port, ["ALTER SYSTEM RESET max_connections"])
        lab.restart("primary")
        await streaming(lab)
    assert findings(await check(env_for(lab))) == {}


@pytest.fixture
def bouncer(lab: LocalCluster) -> Iterator[Callable[[str], None]]:
    """Change the lab PgBouncer at run time (its admin console); put back after."""

    def change(statement: str) -> None:
        psql(lab.pgbouncer_port, [statement], database="pgbouncer")

    yield change
    change("SET server_round_robin = 0")
    change("SET pool_mode = 'transaction'")


async def idle_server_connections(lab: LocalCluster, database: str, count: int) -> None:
    """Leave `count` idle server connections in PgBouncer's pool for `database`."""
    url = lab.pgbouncer_url(database)
    clients = [await asyncpg.connect(url, statement_cache_size=0) for _ in range(count)]
    try:
        held = [client.transaction() for client in clients]
        for client, transaction in zip(clients, held, strict=True):
            await transaction.start()
            await client.fetchval("SELECT 1")  # each holds a server connection of its own
        for transaction in held:
            await transaction.commit()
    finally:
        for client in clients:
            await client.close()


async def test_transaction_pooling_is_seen_when_pgbouncer_hands_out_connections_in_turn(
    lab: LocalCluster, bouncer: Callable[[str], None]
) -> None:
    # With server_round_robin the idle connection used longest ago goes first; with two idle
    # ones, a client's backend changes only on its second transaction after a held one.
    bouncer("SET server_round_robin = 1")
    replicas = f"replica-1={lab.pgbouncer_url('replica-1')}"
    for idle in (1, 2, 3):
        await idle_server_connections(lab, "replica-1", idle)
        report = await check(env_for(lab, DATABASE_REPLICA_URLS=replicas))
        assert set(findings(report)) == {("replica-1", "pooler.transaction_pooling")}, idle


async def test_session_pooling_is_not_transaction_pooling(
    lab: LocalCluster, bouncer: Callable[[str], None]
) -> None:
    bouncer("SET pool_mode = 'session'")
    replicas = f"replica-1={lab.pgbouncer_url('replica-1')}"
    await idle_server_connections(lab, "replica-1", 2)
    report = await check(env_for(lab, DATABASE_REPLICA_URLS=replicas))
    assert findings(report) == {}  # direct behind session pooling works
    assert ("replica-1", "pooler.proxy") in findings(report, worse_than_info=False)
    pgbouncer_mode = await check(env_for(lab, "pgbouncer"))
    assert {code for _, code in findings(pgbouncer_mode)} == {"pooler.not_pooled"}


async def test_a_promotion_leaves_the_old_primary_and_its_standby_fenced(lab: LocalCluster) -> None:
    """Last in this module on purpose: a promotion cannot be undone, and the lab is destroyed
    right after."""
    psql(port_of(lab, "replica-2"), ["SELECT pg_promote()"])
    await settled(lab, "replica-2", "SELECT pg_is_in_recovery()", False)
    report = await check(env_for(lab))
    assert {key: f.severity for key, f in findings(report).items()} == {
        ("primary", "role.fenced"): "error",  # still writable, on timeline 1 of 2
        ("replica-1", "role.fenced"): "error",  # follows it
        ("replica-2", "role.moved"): "warning",
    }
