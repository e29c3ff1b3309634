"""The failure lab's role changes, against real servers: promotion, failover, rejoin by
pg_rewind on the plain lab, and a real Patroni cluster (3 members + etcd) failing over.

These check the lab itself (which node is writable, timelines, who streams from whom in
pg_stat_wal_receiver); the router's behaviour on top of them is tested elsewhere. SQL goes
through psql, a real client, as the postgres superuser.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from service.cluster import ClusterError, LocalCluster, postgres
from service.cluster.ha import PatroniCluster
from service.cluster.node_sql import NodeSql
from service.cluster.proc import find_binary
from tests.fixtures.topology import scratch_cluster, scratch_dir

# Deadlines, not timings: measured here a postmaster kill is failed over in ~2 s and the
# cluster is whole again in ~6 s, a bring-up takes 8-13 s; a loaded CI machine gets room.
BRING_UP_DEADLINE_S = 60.0
FAILOVER_DEADLINE_S = 20.0
HEALED_DEADLINE_S = 60.0


def _sql(lab: NodeSql, name: str, statement: str) -> str:
    return postgres.psql(lab._node(name).port, [statement])


def _write(lab: NodeSql, name: str) -> str:
    marker = uuid.uuid4().hex
    _sql(lab, name, "CREATE TABLE IF NOT EXISTS lab_ha (v text PRIMARY KEY)")
    _sql(lab, name, f"INSERT INTO lab_ha VALUES ('{marker}')")  # noqa: S608 (a uuid hex)
    return marker


def _has(lab: NodeSql, name: str, marker: str) -> bool:
    found = _sql(lab, name, f"SELECT count(*) FROM lab_ha WHERE v = '{marker}'")  # noqa: S608
    return found == "1"


def _eventually_has(lab: NodeSql, name: str, marker: str, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if _has(lab, name, marker):
                return True
        except ClusterError:
            pass  # the table itself may not have replayed yet
        time.sleep(0.05)
    return False


def _streams_from(lab: NodeSql, name: str, upstream: str) -> bool:
    facts = lab.probe(name)
    return (
        facts.in_recovery
        and facts.receiver_status == "streaming"
        and facts.upstream_port == lab._node(upstream).port
    )


def _psql_url(url: str, statement: str) -> str:
    done = subprocess.run(
        [str(find_binary("psql")), "-X", "-A", "-t", "-d", url, "-c", statement],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# ---- the plain lab -------------------------------------------------------------------------
@pytest.fixture
def lab() -> Iterator[LocalCluster]:
    with scratch_cluster(replicas=2, prefix="switchyard-lab-roles-") as cluster:
        yield cluster


def test_promote_with_the_primary_up_makes_a_split_brain(lab: LocalCluster) -> None:
    with pytest.raises(ClusterError, match="read-only transaction"):
        _write(lab, "replica-1")  # a standby before: the promotion is what changes it
    assert lab.current_primary() == "primary"

    lab.promote("replica-1")

    facts = lab.roles()
    assert not facts["primary"].in_recovery
    assert not facts["replica-1"].in_recovery
    assert (facts["primary"].timeline, facts["replica-1"].timeline) == (1, 2)
    _write(lab, "primary")
    _write(lab, "replica-1")  # both accept writes: two primaries
    assert lab.current_primary() == "replica-1"  # the higher timeline
    assert _streams_from(lab, "replica-2", "primary")  # still follows the old one


def test_failover_promotes_the_standby_with_most_wal_and_repoints_the_rest(
    lab: LocalCluster,
) -> None:
    # replica-1 comes first in the configured order, so a failover that ignored WAL
    # positions would pick it; cut it off so that replica-2 receives more.
    _sql(lab, "replica-1", "ALTER SYSTEM SET primary_conninfo = ''")
    _sql(lab, "replica-1", "SELECT pg_reload_conf()")
    assert postgres.psql(lab._node("replica-1").port, ["SELECT 1"]) == "1"
    time.sleep(0.3)  # the WAL receiver stops asynchronously after the reload
    marker = _write(lab, "primary")
    assert _eventually_has(lab, "replica-2", marker)
    assert lab.probe("replica-1").lsn < lab.probe("replica-2").lsn

    chosen = lab.failover()

    assert chosen == "replica-2"
    assert lab.status()["primary"] == "stopped"
    facts = lab.roles()
    assert not facts["replica-2"].in_recovery
    assert facts["replica-2"].timeline == 2
    assert _streams_from(lab, "replica-1", "replica-2")
    assert lab.probe("replica-1").timeline == 2
    assert _eventually_has(lab, "replica-1", marker)  # caught up on what it had missed
    after = _write(lab, "replica-2")
    assert _eventually_has(lab, "replica-1", after)
    assert lab.current_primary() == "replica-2"


def test_rejoin_rewinds_a_diverged_old_primary_into_a_standby(lab: LocalCluster) -> None:
    lab.promote("replica-1")
    lost = _write(lab, "primary")  # only on the old timeline: the rewind must undo it
    kept = _write(lab, "replica-1")

    lab.rejoin("primary")

    assert _streams_from(lab, "primary", "replica-1")
    assert lab.probe("primary").timeline == 2
    assert _eventually_has(lab, "primary", kept)
    assert not _has(lab, "primary", lost)
    with pytest.raises(ClusterError, match="read-only transaction"):
        _write(lab, "primary")
    # replica-2 replayed `lost` from the old primary: it cannot just be re-pointed, but
    # rejoin rewinds it as well.
    lab.rejoin("replica-2")
    assert _streams_from(lab, "replica-2", "replica-1")
    assert not _has(lab, "replica-2", lost)
    assert [name for name, f in lab.roles().items() if not f.in_recovery] == ["replica-1"]


def test_up_after_a_failover_starts_the_new_primary_and_rejoins_the_old(
    lab: LocalCluster,
) -> None:
    lab.failover()
    marker = _write(lab, "replica-1")
    lab.down()

    lab.up()

    writable = [name for name, f in lab.roles().items() if not f.in_recovery]
    assert writable == ["replica-1"]  # not the configured, stale `primary` as well
    assert _streams_from(lab, "primary", "replica-1")
    assert _streams_from(lab, "replica-2", "replica-1")
    assert _eventually_has(lab, "primary", marker)


# ---- Patroni -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def patroni_lab() -> Iterator[tuple[PatroniCluster, float]]:
    cluster = PatroniCluster(scratch_dir("switchyard-patroni-"), replicas=2)
    started = time.monotonic()
    try:
        cluster.up()
    except ClusterError as exc:
        cluster.destroy()
        pytest.fail(f"could not start the Patroni lab: {exc}", pytrace=False)
    try:
        yield cluster, time.monotonic() - started
    finally:
        cluster.destroy()  # removes the folder too


def test_patroni_comes_up_with_a_leader_and_two_streaming_replicas(
    patroni_lab: tuple[PatroniCluster, float],
) -> None:
    cluster, took = patroni_lab
    assert took < BRING_UP_DEADLINE_S, f"bring-up took {took:.1f} s"
    leader = cluster.leader()
    assert leader == "primary"  # the member that bootstraps alone
    assert cluster.current_primary() == leader
    members = cluster.members() or []
    assert sorted((m.name, m.role, m.state) for m in members) == [
        ("primary", "leader", "running"),
        ("replica-1", "replica", "streaming"),
        ("replica-2", "replica", "streaming"),
    ]
    for name in ("replica-1", "replica-2"):
        assert _streams_from(cluster, name, leader)
    # The service's own login and database exist, directly and through PgBouncer.
    for url in (cluster.direct_url("replica-1"), cluster.pgbouncer_url("replica-1")):
        assert _psql_url(url, "SELECT current_user, pg_is_in_recovery()") == "switchyard|t"
    assert _sql(cluster, leader, "SELECT current_setting('wal_log_hints')") == "on"


def test_patroni_fails_over_a_killed_leader_postmaster_and_heals(
    patroni_lab: tuple[PatroniCluster, float],
) -> None:
    cluster, _ = patroni_lab
    old = cluster.wait_healthy()
    marker = _write(cluster, old)
    for name in cluster.roles():
        assert _eventually_has(cluster, name, marker)
    old_timeline = cluster.probe(old).timeline

    killed_at = time.monotonic()
    assert cluster.kill_leader_postmaster() == old
    writable_counts: list[int] = []
    new = None
    while time.monotonic() - killed_at < FAILOVER_DEADLINE_S:
        writable = [n for n, f in cluster.roles().items() if not f.in_recovery]
        writable_counts.append(len(writable))
        if writable and writable != [old]:
            new = writable[0]
            break
        time.sleep(0.1)
    failed_over = time.monotonic() - killed_at
    assert new is not None, f"no other writable node within {FAILOVER_DEADLINE_S:.0f} s"
    assert max(writable_counts) <= 1  # never two writable nodes
    assert cluster.probe(new).timeline > old_timeline
    assert _has(cluster, new, marker)

    leader = cluster.wait_healthy(HEALED_DEADLINE_S)
    healed = time.monotonic() - killed_at
    assert leader == new
    assert _streams_from(cluster, old, new)  # the old leader came back as a standby
    print(f"postmaster kill: writable {failed_over:.1f} s, whole again {healed:.1f} s")


def test_patroni_switchover_moves_the_leader(patroni_lab: tuple[PatroniCluster, float]) -> None:
    cluster, _ = patroni_lab
    old = cluster.wait_healthy()
    candidate = next(n.name for n in cluster.nodes if n.name != old)

    started = time.monotonic()
    new = cluster.switchover(candidate)
    took = time.monotonic() - started

    assert new == candidate
    assert cluster.current_primary() == candidate
    cluster.wait_healthy(HEALED_DEADLINE_S)
    assert _streams_from(cluster, old, candidate)
    print(f"switchover: new leader writable after {took:.1f} s")


def test_a_killed_patroni_leaves_its_postmaster_and_down_stops_it(
    patroni_lab: tuple[PatroniCluster, float],
) -> None:
    cluster, _ = patroni_lab
    leader = cluster.wait_healthy()
    replica = next(n.name for n in cluster.nodes if n.name != leader)

    cluster.kill_patroni(replica)

    assert cluster.patroni_status()[replica] == "stopped"
    assert cluster.status()[replica] == "running"  # PostgreSQL goes on, unsupervised
    cluster.down()
    assert set(cluster.status().values()) == {"stopped"}
    assert set(cluster.patroni_status().values()) == {"stopped"}

    cluster.up()  # and a stopped Patroni lab comes back whole
    assert cluster.wait_healthy() in {n.name for n in cluster.nodes}
