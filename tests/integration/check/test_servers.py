"""Servers and PgBouncer changed on purpose in the package's own lab: a frozen node, TLS, a
lower max_connections, PgBouncer handing out connections in turn or pooling sessions."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from service.check import check
from service.cluster import LocalCluster
from service.cluster.postgres import psql
from service.cluster.proc import write_server_file
from tests.integration.check.support import (
    alter,
    env_for,
    findings,
    idle_server_connections,
    port_of,
    settled,
    streaming,
)


async def test_lab_is_healthy_before_it_is_broken(lab: LocalCluster) -> None:
    assert findings(await check(env_for(lab))) == {}


async def test_a_frozen_node_times_out(lab: LocalCluster) -> None:
    lab.freeze("replica-2")
    try:
        # The default 2 s connect timeout: a shorter one could give up on a healthy node of
        # a loaded machine too.
        report = await check(env_for(lab))
    finally:
        lab.thaw("replica-2")
    [(key, finding)] = findings(report).items()
    assert key == ("replica-2", "node.unreachable")
    assert "timed out" in finding.message


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


async def take_every_slot(url: str) -> list[asyncpg.Connection]:
    held: list[asyncpg.Connection] = []
    try:
        while len(held) < 100:  # bounded: the server here allows 12
            held.append(await asyncpg.connect(url))
    except asyncpg.TooManyConnectionsError:
        return held
    raise AssertionError("the server never ran out of connection slots")


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
        # Every slot taken (superusers' reserved ones too): the next connect is refused.
        held = await take_every_slot(lab.direct_url("primary"))
        try:
            report = await check(env_for(lab))
        finally:
            for conn in held:
                await conn.close()
        full = findings(report)[("primary", "node.unreachable")]
        assert "no connection slot left" in full.message
    finally:
        psql(port, ["ALTER SYSTEM RESET max_connections"])
        lab.restart("primary")
        await streaming(lab)
    assert findings(await check(env_for(lab))) == {}


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


async def test_a_standby_that_does_not_accept_sessions(lab: LocalCluster) -> None:
    # hot_standby = off: the standby replays but refuses every session, so no SQL can undo
    # it; the line is taken out of postgresql.auto.conf by hand afterwards.
    node = next(n for n in lab.nodes if n.name == "replica-2")
    psql(node.port, ["ALTER SYSTEM SET hot_standby = off"])
    auto_conf = node.data_dir / "postgresql.auto.conf"
    lab.restart("replica-2")
    try:
        report = await check(env_for(lab))
        [(key, finding)] = findings(report).items()
        assert key == ("replica-2", "node.unreachable")
        assert "not accepting sessions" in finding.message
        assert "hot_standby = on" in finding.action
    finally:
        lines = auto_conf.read_text().splitlines(keepends=True)
        write_server_file(auto_conf, "".join(x for x in lines if "hot_standby" not in x))
        lab.restart("replica-2")
        await streaming(lab)
    assert findings(await check(env_for(lab))) == {}
