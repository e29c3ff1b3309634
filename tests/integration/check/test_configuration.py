"""Configuration mistakes on the session topology (a wrong URL, a wrong mode, too many
workers, an unmigrated database): each finding appears for its cause and not on the healthy
lab. No server is changed here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

from service.check import check, exit_status, run_checks
from service.cluster import Topology
from service.cluster.config import node_url
from service.cluster.postgres import psql
from service.cluster.proc import free_ports
from service.settings import Settings
from tests.integration.check.support import env_for, findings
from tests.integration.conftest import MODE
from tests.integration.helpers import wait_for_replicas


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


async def test_run_checks_at_start_up_reports_a_dead_topology_instead_of_raising(
    cluster: Topology,
) -> None:
    closed = free_ports(3)
    urls = [f"postgresql://switchyard@127.0.0.1:{port}/switchyard" for port in closed]
    env = {
        "DATABASE_URL": urls[0],
        "DATABASE_REPLICA_URLS": f"r1={urls[1]},r2={urls[2]}",
        "DATABASE_MIGRATION_URL": "",
    }
    result = await run_checks(env_for(cluster, **env))
    errors = {(f.node, f.code) for f in result if f.severity == "error"}
    assert errors == {
        ("primary", "node.unreachable"),
        ("r1", "node.unreachable"),
        ("r2", "node.unreachable"),
    }
    assert exit_status(result) == 2


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


async def test_a_role_without_grants_and_then_with_them(cluster: Topology, migrated: None) -> None:
    role = f"check_{uuid.uuid4().hex[:8]}"
    port = cluster.nodes[0].port

    def as_role(name: str) -> str:
        return cluster.direct_url(name).replace("switchyard@", f"{role}@")

    env = {
        "DATABASE_URL": as_role("primary"),
        "DATABASE_REPLICA_URLS": f"replica-1={as_role('replica-1')}",
    }
    psql(port, [f"CREATE ROLE {role} LOGIN"])
    try:
        await wait_for_replicas(cluster)
        report = await check(env_for(cluster, **env))
        assert {key: f.severity for key, f in findings(report).items()} == {
            ("primary", "schema.privileges"): "error",
            ("replica-1", "schema.privileges"): "error",
            ("primary", "schema.unreadable"): "warning",
        }
        assert "INSERT on customers" in findings(report)[("primary", "schema.privileges")].message
        # A standby is only read: SELECT is all it needs.
        assert "INSERT" not in findings(report)[("replica-1", "schema.privileges")].message
        # Hidden from a plain role, so not checked rather than guessed.
        everything = findings(report, worse_than_info=False)
        assert ("replica-1", "replication.upstream_unknown") in everything
        psql(
            port,
            [
                f"GRANT SELECT, INSERT, UPDATE ON customers, orders TO {role}",
                f"GRANT SELECT ON alembic_version TO {role}",
                f"GRANT pg_read_all_stats, pg_read_all_settings TO {role}",
            ],
            database="switchyard",
        )
        await wait_for_replicas(cluster)
        report = await check(env_for(cluster, **env))
        assert findings(report) == {}
        assert ("replica-1", "replication.upstream_unknown") not in findings(report, False)
    finally:
        psql(port, [f"DROP OWNED BY {role}", f"DROP ROLE {role}"], database="switchyard")


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
