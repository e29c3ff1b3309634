"""Which topology the test session starts, and what ContainerCluster promises without Docker.

No Docker engine is needed: the choice takes the engine check as a callable, and
ContainerCluster talks to Docker only from `up()` on.
"""

from __future__ import annotations

import configparser
import re
import shutil
from pathlib import Path

import pytest

from service.cluster import ClusterError, LocalCluster, Topology, config
from service.settings import load_settings
from tests.fixtures.containers import (
    ContainerCluster,
    docker_available,
    pgbouncer_ini,
    postgres_settings,
    replica_script,
)
from tests.fixtures.topology import choose_topology, make_topology


def _no_docker() -> bool:
    return False


def _docker() -> bool:
    return True


def _must_not_ask() -> bool:
    raise AssertionError("a forced choice must not ping Docker")


# ---- the choice -------------------------------------------------------------------------
def test_no_docker_engine_means_local_binaries() -> None:
    assert choose_topology({}, _no_docker) == "local"


def test_a_docker_engine_means_containers() -> None:
    assert choose_topology({}, _docker) == "containers"


def test_local_can_be_forced_even_where_docker_answers() -> None:
    assert choose_topology({"SWITCHYARD_TOPOLOGY": "local"}, _must_not_ask) == "local"


def test_containers_can_be_forced_even_where_docker_is_missing() -> None:
    # Forced containers without an engine then fail at up(): a failure, never a local run.
    assert choose_topology({"SWITCHYARD_TOPOLOGY": "containers"}, _must_not_ask) == "containers"


def test_an_empty_setting_leaves_the_choice_to_docker() -> None:
    assert choose_topology({"SWITCHYARD_TOPOLOGY": ""}, _docker) == "containers"
    assert choose_topology({"SWITCHYARD_TOPOLOGY": " "}, _no_docker) == "local"


def test_an_unknown_setting_is_an_error_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="SWITCHYARD_TOPOLOGY"):
        choose_topology({"SWITCHYARD_TOPOLOGY": "kubernetes"}, _docker)


def testmake_topology_without_docker_builds_a_local_cluster() -> None:
    topology = make_topology(env={}, docker_answers=_no_docker)
    try:
        assert isinstance(topology, LocalCluster)
        assert isinstance(topology, Topology)
    finally:
        if isinstance(topology, LocalCluster):
            shutil.rmtree(topology.base_dir, ignore_errors=True)


def testmake_topology_forced_to_containers_needs_no_engine_to_construct() -> None:
    topology = make_topology(
        env={"SWITCHYARD_TOPOLOGY": "containers"}, docker_answers=_must_not_ask
    )
    assert isinstance(topology, ContainerCluster)
    assert isinstance(topology, Topology)


def test_docker_available_says_false_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/switchyard-test/docker.sock")
    assert docker_available(timeout=0.5) is False


# ---- ContainerCluster's promises that need no engine --------------------------------------
def test_container_nodes_are_named_like_the_local_lab_on_distinct_ports() -> None:
    cluster = ContainerCluster(replicas=2)
    assert [(n.name, n.role) for n in cluster.nodes] == [
        ("primary", "primary"),
        ("replica-1", "replica"),
        ("replica-2", "replica"),
    ]
    ports = [n.port for n in cluster.nodes] + [cluster.pgbouncer_port]
    assert len(set(ports)) == len(ports)
    assert set(cluster.status()) == {"primary", "replica-1", "replica-2", "pgbouncer"}
    assert set(cluster.status().values()) == {"stopped"}  # nothing created yet


@pytest.mark.parametrize("mode", ["direct", "pgbouncer"])
def test_container_env_has_the_local_format_and_loads(mode: str) -> None:
    cluster = ContainerCluster(replicas=2)
    env = cluster.env(mode)
    assert set(env) == {
        "DATABASE_URL",
        "DATABASE_REPLICA_URLS",
        "DATABASE_MIGRATION_URL",
        "DATABASE_MODE",
    }
    primary, replica_1 = cluster.nodes[0], cluster.nodes[1]
    entries = env["DATABASE_REPLICA_URLS"].split(",")
    assert [e.split("=", 1)[0] for e in entries] == ["replica-1", "replica-2"]
    assert env["DATABASE_MIGRATION_URL"] == cluster.direct_url("primary")
    assert f":{primary.port}/" in env["DATABASE_MIGRATION_URL"]  # never through PgBouncer
    if mode == "pgbouncer":
        assert env["DATABASE_URL"].endswith(f"127.0.0.1:{cluster.pgbouncer_port}/primary")
        assert entries[0].endswith(f"127.0.0.1:{cluster.pgbouncer_port}/replica-1")
    else:
        assert env["DATABASE_URL"].endswith(f"127.0.0.1:{primary.port}/{config.APP_DB}")
        assert entries[0].endswith(f"127.0.0.1:{replica_1.port}/{config.APP_DB}")
    settings = load_settings(environ=env)
    assert [n.name for n in settings.database.replicas] == ["replica-1", "replica-2"]
    assert settings.database.mode == mode


def test_container_cluster_rejects_unknown_names_and_modes() -> None:
    cluster = ContainerCluster(replicas=1)
    with pytest.raises(ClusterError, match="unknown node 'replica-2'"):
        cluster.direct_url("replica-2")
    with pytest.raises(ClusterError, match="unknown mode"):
        cluster.env("session")
    with pytest.raises(ClusterError, match="not a replica"):
        cluster.pause_replay("primary")
    with pytest.raises(ClusterError, match="run up"):
        cluster.freeze("replica-1")


# ---- the containers' configuration matches the local lab's ------------------------------
def _pgbouncer_section(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return dict(parser["pgbouncer"])


# Settings that are about behaviour (pooling, failure timing), not about where files live.
PGBOUNCER_TUNING = [line.split(" = ")[0] for line in config.PGBOUNCER_POOLING] + ["auth_type"]


def _local_pgbouncer_section() -> dict[str, str]:
    text = config.pgbouncer_ini(
        6432, {"primary": 5432}, Path("/run"), Path("/u"), Path("/l"), Path("/p")
    )
    return _pgbouncer_section(text)


def test_container_pgbouncer_tuning_matches_the_local_lab() -> None:
    local = _local_pgbouncer_section()
    ours = _pgbouncer_section(pgbouncer_ini(["primary", "replica-1"]))
    assert {k: ours.get(k) for k in PGBOUNCER_TUNING} == {k: local[k] for k in PGBOUNCER_TUNING}
    assert int(ours["max_client_conn"]) >= 2000


def test_container_pgbouncer_has_one_database_per_node_named_like_it() -> None:
    parser = configparser.ConfigParser()
    parser.read_string(pgbouncer_ini(["primary", "replica-1", "replica-2"]))
    databases = dict(parser["databases"])
    assert set(databases) == {"primary", "replica-1", "replica-2"}
    for name, target in databases.items():
        assert f"host={name} " in target  # the node's network alias
        assert f"dbname={config.APP_DB}" in target


def _conf_settings(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip().strip("'") for k, v in pairs if not k.startswith("#")}


@pytest.mark.parametrize("replica", [False, True])
def test_container_postgres_settings_match_the_local_lab(replica: bool) -> None:
    local = _conf_settings(config.node_conf(5432, Path("/run"), replica))
    flags = postgres_settings(replica)
    assert flags[::2] == ["-c"] * (len(flags) // 2)
    ours = dict(flag.split("=", 1) for flag in flags[1::2])
    # Networking differs on purpose: containers listen on their network, sockets stay default.
    for key in ("listen_addresses", "unix_socket_directories"):
        local.pop(key, None)
    assert ours.pop("listen_addresses") == "*"
    assert ours == local


def test_replica_script_clones_once_then_runs_as_a_standby() -> None:
    script = replica_script("replica-1")
    assert re.search(r"pg_basebackup .*-R -X stream -c fast", script)
    assert "application_name=replica-1" in script
    assert "host=primary" in script
    # The clone is guarded by the data dir's PG_VERSION, so a restart keeps the data.
    assert script.index("PG_VERSION") < script.index("pg_basebackup")
    assert script.rstrip().splitlines()[-1].startswith("exec postgres ")
    assert "hot_standby_feedback=on" in script
