"""`cluster up --tls`: the whole routing path over verified TLS in both modes, every service
connection encrypted (pg_stat_ssl on the nodes, PgBouncer's own log for its clients), and a
CA that does not match refused quickly with a message naming the node and "certificate"."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.cluster import LocalCluster, tls
from service.db.probe import asyncpg_dsn
from service.settings import load_settings
from service.urls import asyncpg_connect_args
from tests.integration.conftest import build_app
from tests.integration.helpers import unique_email

PASSWORD = "never-shown-4711"  # trust auth ignores it; it must still never be printed

# Client backends of the app database (the service's pools, or PgBouncer's server
# connections), split by whether they are encrypted. Run from the `postgres` database so the
# checking connection itself is not counted.
_SSL_COUNTS = """
SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl)
FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
WHERE a.datname = 'switchyard' AND a.backend_type = 'client backend'
"""


async def connect(url: str, **overrides: object) -> asyncpg.Connection:
    clean, args = asyncpg_connect_args(url)
    return await asyncpg.connect(asyncpg_dsn(clean), **{**args, **overrides})


async def ssl_counts(cluster: LocalCluster, node: str) -> tuple[int, int]:
    url = cluster.direct_url(node).replace("/switchyard?", "/postgres?")
    conn = await connect(url)
    try:
        encrypted, plain = await conn.fetchrow(_SSL_COUNTS)
    finally:
        await conn.close()
    return int(encrypted), int(plain)


def pgbouncer_logins(cluster: LocalCluster, since: int) -> list[str]:
    log = (cluster.base_dir / "pgbouncer" / "pgbouncer.log").read_text()[since:]
    return [line for line in log.splitlines() if "login attempt: db=" in line]


@pytest.mark.parametrize("mode", ["direct", "pgbouncer"])
async def test_the_routing_path_over_tls_with_every_connection_encrypted(
    tls_cluster: LocalCluster, mode: str
) -> None:
    env = tls_cluster.env(mode)
    assert "sslmode=verify-full" in env["DATABASE_URL"]
    log_start = len((tls_cluster.base_dir / "pgbouncer" / "pgbouncer.log").read_text())
    email = unique_email("tls")
    async with AsyncTestClient[Litestar](app=build_app(load_settings(env))) as client:
        write = await client.put(f"/customers/{email}", json={"name": "T"})
        assert write.status_code == 201, write.text
        strong = await client.get(f"/customers/{email}", headers={"X-DB-Consistency": "strong"})
        assert (strong.status_code, strong.headers["x-db-node"]) == (200, "primary")
        token = {"X-DB-Min-LSN": write.headers["x-db-lsn"]}
        async with asyncio.timeout(10):
            while True:
                read = await client.get(f"/customers/{email}", headers=token)
                if read.headers.get("x-db-node") == "replica-1":
                    break
                await asyncio.sleep(0.05)
        assert read.status_code == 200
        health = (await client.get("/health/db")).json()["nodes"]
        assert {n["name"]: n["state"] for n in health} == {"primary": "up", "replica-1": "up"}

        for node in ("primary", "replica-1"):
            encrypted, plain = await ssl_counts(tls_cluster, node)
            assert encrypted >= 1, f"{node}: no service connection seen"
            assert plain == 0, f"{node}: {plain} unencrypted connection(s)"
    if mode == "pgbouncer":
        logins = [line for line in pgbouncer_logins(tls_cluster, log_start) if "db=pgb" not in line]
        assert logins, "the service never logged in to PgBouncer"
        assert all("tls=TLSv1" in line for line in logins), logins


async def test_the_encryption_check_sees_a_plain_connection(tls_cluster: LocalCluster) -> None:
    """The opposite: the nodes accept a plain connection, and the check above would catch it."""
    plain = await connect(tls_cluster.direct_url("primary"), ssl=False)
    try:
        assert (await ssl_counts(tls_cluster, "primary"))[1] >= 1
    finally:
        await plain.close()


async def test_pgbouncer_refuses_a_plain_client(tls_cluster: LocalCluster) -> None:
    with pytest.raises(asyncpg.PostgresError, match="SSL required"):
        await connect(tls_cluster.pgbouncer_url("primary"), ssl=False)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _with_password(url: str) -> str:
    return url.replace("switchyard@", f"switchyard:{PASSWORD}@")


@pytest.fixture(scope="module")
def wrong_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wrong-ca") / "ca.crt"
    path.write_bytes(tls.cert_pem(tls.new_authority("Somebody else's CA").cert))
    return path


async def test_a_replica_behind_a_wrong_ca_is_down_naming_certificate(
    tls_cluster: LocalCluster, wrong_ca: Path
) -> None:
    env = tls_cluster.env("direct")
    ca = str(tls_cluster.tls_ca)
    replica = _with_password(tls_cluster.direct_url("replica-1")).replace(ca, str(wrong_ca))
    env["DATABASE_REPLICA_URLS"] = f"replica-1={replica}"
    app = build_app(load_settings(env))
    # On the service's own logger: Litestar's logging config replaces pytest's root handler.
    records = Records()
    logging.getLogger("switchyard").addHandler(records)
    try:
        async with asyncio.timeout(15):  # never a hang
            async with AsyncTestClient[Litestar](app=app) as client:
                health = (await client.get("/health/db")).json()
                read = await client.get(f"/customers/{unique_email('ca')}")
    finally:
        logging.getLogger("switchyard").removeHandler(records)
    nodes = {n["name"]: n for n in health["nodes"]}
    assert nodes["primary"]["state"] == "up"
    assert nodes["replica-1"]["state"] in ("down", "banned")
    assert "certificate" in nodes["replica-1"]["last_error"]
    assert read.status_code == 404  # the read still went somewhere: the primary
    assert read.headers["x-db-node"] == "primary"
    named = [line for line in records.lines if "replica-1" in line]
    assert any("certificate" in line for line in named), records.lines
    assert not any(PASSWORD in line for line in records.lines)
    assert PASSWORD not in str(nodes)


def test_migrate_with_a_wrong_ca_fails_naming_certificate(
    tls_cluster: LocalCluster, wrong_ca: Path
) -> None:
    env = tls_cluster.env("direct")
    url = _with_password(env["DATABASE_MIGRATION_URL"]).replace(
        str(tls_cluster.tls_ca), str(wrong_ca)
    )
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "migrate"],
        env={**os.environ, **env, "DATABASE_MIGRATION_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "database.migration_url" in done.stderr
    assert "certificate" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout


def test_a_missing_ca_file_stops_start_up_naming_the_key(tls_cluster: LocalCluster) -> None:
    env = tls_cluster.env("direct")
    env["DATABASE_URL"] = env["DATABASE_URL"].replace(str(tls_cluster.tls_ca), "/nonexistent/ca")
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "run", "--port", "1"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "database.primary.url" in done.stderr
    assert "/nonexistent/ca" in done.stderr


def test_switchyard_check_sees_tls_and_names_a_wrong_ca(
    tls_cluster: LocalCluster, wrong_ca: Path
) -> None:
    env = {**os.environ, **tls_cluster.env("direct")}
    good = subprocess.run(
        [sys.executable, "-m", "service.cli", "check"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.count("TLS on") == 2
    replica = _with_password(tls_cluster.direct_url("replica-1"))
    env["DATABASE_REPLICA_URLS"] = "replica-1=" + replica.replace(
        str(tls_cluster.tls_ca), str(wrong_ca)
    )
    bad = subprocess.run(
        [sys.executable, "-m", "service.cli", "check"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    line = next(x for x in bad.stdout.splitlines() if x.startswith("ERROR"))
    assert "replica-1" in line
    assert "certificate" in line
    assert PASSWORD not in bad.stdout + bad.stderr
