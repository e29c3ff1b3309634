"""Standby settings broken on purpose in the package's own lab: an apply delay, paused replay,
feedback off, slots, a standby re-pointed, a stranger, a promotion."""

from __future__ import annotations

from service.check import check
from service.cluster import LocalCluster, Topology
from service.cluster.postgres import psql
from tests.integration.check.support import (
    alter,
    env_for,
    findings,
    port_of,
    settled,
    started_lab,
    streaming,
)
from tests.integration.helpers import wait_for_replicas


async def test_an_apply_delay_is_a_warning(lab: LocalCluster) -> None:
    lab.set_apply_delay("replica-1", 2)
    try:
        await settled(lab, "replica-1", "SHOW recovery_min_apply_delay", "2s")
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


async def test_a_promotion_leaves_the_old_primary_and_its_standby_fenced() -> None:
    # A promotion cannot be undone: a lab of its own, thrown away after.
    with started_lab("switchyard-check-promoted-") as lab:
        psql(port_of(lab, "replica-2"), ["SELECT pg_promote()"])
        await settled(lab, "replica-2", "SELECT pg_is_in_recovery()", False)
        report = await check(env_for(lab))
    assert {key: f.severity for key, f in findings(report).items()} == {
        ("primary", "role.fenced"): "error",  # still writable, on timeline 1 of 2
        ("replica-1", "role.fenced"): "error",  # follows it
        ("replica-2", "role.moved"): "warning",
    }
    assert {n.name: n.timeline for n in report.nodes} == {
        "primary": 1,
        "replica-1": 1,
        "replica-2": 2,
    }
