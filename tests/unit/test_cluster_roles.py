"""The lab's pure decisions: who is primary, whom to promote, what Patroni is told, what a
data dir's timeline is, how the Patroni lab's ports are kept. No servers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cluster import ClusterError, ha_state, patroni
from service.cluster.postgres import data_dir_timeline
from service.cluster.roles import (
    NodeFacts,
    pick_most_advanced,
    pick_primary,
    primary_conninfo,
    sql_literal,
)


def _primary(timeline: int, lsn: int = 100) -> NodeFacts:
    return NodeFacts(False, timeline, lsn, "", 0)


def _standby(lsn: int, timeline: int = 1) -> NodeFacts:
    return NodeFacts(True, timeline, lsn, "streaming", 5432)


def test_facts_parse_psql_row() -> None:
    assert NodeFacts.parse("t|2|67109128|streaming|37201\n") == NodeFacts(
        True, 2, 67109128, "streaming", 37201
    )
    assert NodeFacts.parse("f|1|42||0") == NodeFacts(False, 1, 42, "", 0)
    with pytest.raises(ClusterError, match="unexpected answer"):
        NodeFacts.parse("f|1")


def test_the_only_writable_node_is_primary_whatever_its_name() -> None:
    facts = {"primary": _standby(10), "replica-1": _primary(2)}
    assert pick_primary(facts) == "replica-1"


def test_no_writable_node_means_no_primary() -> None:
    assert pick_primary({"a": _standby(1), "b": _standby(2)}) is None
    assert pick_primary({}) is None


def test_two_writable_nodes_the_higher_timeline_wins_in_either_order() -> None:
    assert pick_primary({"old": _primary(1, lsn=999), "new": _primary(2, lsn=1)}) == "new"
    assert pick_primary({"new": _primary(2, lsn=1), "old": _primary(1, lsn=999)}) == "new"


def test_two_writable_nodes_on_one_timeline_are_an_error_not_a_guess() -> None:
    with pytest.raises(ClusterError, match="split brain: a, b"):
        pick_primary({"b": _primary(2), "a": _primary(2), "c": _primary(1)})


def test_the_standby_with_most_wal_is_promoted_not_the_first() -> None:
    facts = {"replica-1": _standby(100), "replica-2": _standby(200), "p": _primary(1, 300)}
    assert pick_most_advanced(facts) == "replica-2"


def test_equal_wal_goes_to_the_configured_order() -> None:
    assert pick_most_advanced({"replica-1": _standby(5), "replica-2": _standby(5)}) == "replica-1"
    assert pick_most_advanced({"replica-2": _standby(5), "replica-1": _standby(5)}) == "replica-2"


def test_nothing_to_promote_without_a_standby() -> None:
    with pytest.raises(ClusterError, match="no running standby"):
        pick_most_advanced({"p": _primary(1)})


def test_conninfo_names_the_standby_and_quotes_safely() -> None:
    conninfo = primary_conninfo(6543, "replica-2")
    assert conninfo == "host=127.0.0.1 port=6543 user=postgres application_name=replica-2"
    assert sql_literal("it's") == "'it''s'"


def test_data_dir_timeline_is_the_newest_history_file(tmp_path: Path) -> None:
    wal = tmp_path / "pg_wal"
    wal.mkdir()
    assert data_dir_timeline(tmp_path) == 1  # never promoted: no history file
    for name in ("00000002.history", "0000000A.history", "000000010000000000000003", "x.history"):
        (wal / name).write_text("")
    assert data_dir_timeline(tmp_path) == 10


def _plan(name: str = "replica-1") -> patroni.MemberPlan:
    base = Path("/lab")
    return patroni.MemberPlan(
        name=name,
        pg_port=5001,
        rest_port=8001,
        data_dir=base / name,
        bin_dir=Path("/usr/lib/postgresql/15/bin"),
        socket_dir=base / "run",
        log_dir=base / "log",
        pgpass=base / "patroni" / f"{name}.pgpass",
    )


def test_patroni_config_has_the_fast_timings_and_rewind() -> None:
    conf = json.loads(patroni.config_text(_plan(), etcd_port=2399))
    dcs = conf["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (20, 1, 3)
    # Patroni raises anything below its floor: loop_wait + 2 * retry_timeout <= ttl.
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert dcs["primary_start_timeout"] == 0
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["parameters"]["wal_log_hints"] == "on"
    assert dcs["postgresql"]["parameters"]["full_page_writes"] == "on"
    assert conf["name"] == "replica-1"
    assert conf["etcd3"]["hosts"] == ["127.0.0.1:2399"]


def test_patroni_config_listens_on_loopback_only() -> None:
    conf = json.loads(patroni.config_text(_plan(), etcd_port=2399))
    addresses = [
        conf["restapi"]["listen"],
        conf["restapi"]["connect_address"],
        conf["postgresql"]["listen"],
        conf["postgresql"]["connect_address"],
        *conf["etcd3"]["hosts"],
    ]
    assert all(a.startswith("127.0.0.1:") for a in addresses), addresses
    assert "0.0.0.0" not in json.dumps(conf)
    assert conf["postgresql"]["listen"].endswith(":5001")
    assert conf["restapi"]["listen"].endswith(":8001")


def test_patroni_member_rows_tolerate_missing_fields() -> None:
    row = {"name": "primary", "role": "leader", "state": "running", "timeline": 3}
    assert patroni.Member.from_json(row) == patroni.Member("primary", "leader", "running", 3, None)
    replica = {"name": "r", "role": "replica", "state": "streaming", "lag": 0}
    assert patroni.Member.from_json(replica).lag == 0
    assert patroni.Member.from_json({"name": "x", "lag": "unknown"}).lag is None


def test_missing_patroni_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(patroni.PATRONI_ENV, str(tmp_path / "nope"))
    with pytest.raises(ClusterError, match="make system-deps"):
        patroni.find_patroni()


def test_ha_state_plans_distinct_ports_and_round_trips(tmp_path: Path) -> None:
    state = ha_state.plan(replicas=2)
    assert [m.name for m in state.members] == ["primary", "replica-1", "replica-2"]
    assert [m.role for m in state.members] == ["primary", "replica", "replica"]
    ports = [p for m in state.members for p in (m.port, m.rest_port)]
    ports += [state.pgbouncer_port, state.etcd_client_port, state.etcd_peer_port]
    assert len(set(ports)) == len(ports) == 9
    path = tmp_path / "ha.json"
    ha_state.save(path, state)
    assert ha_state.load(path) == state
    assert ha_state.load(tmp_path / "absent.json") is None
    path.write_text(json.dumps({"version": 1, "engine": "other"}))
    with pytest.raises(ClusterError, match="unknown format"):
        ha_state.load(path)
