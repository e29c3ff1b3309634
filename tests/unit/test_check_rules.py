"""The check's rules on facts built by hand: each finding appears for its cause, and only then."""

from __future__ import annotations

from service.check.facts import NodeFacts, Slot
from service.check.finding import Finding, exit_status
from service.check.rules import evaluate
from service.check.rules.view import View
from tests.unit.check_facts import deployment, findings, primary, problems, replica, settings


def test_a_healthy_topology_has_nothing_to_say_but_facts() -> None:
    assert problems() == {}
    codes = [f.code for f in findings()]
    assert codes.count("node.facts") == 2
    assert codes.count("pool.fits") == 2


def test_an_unreachable_node_is_an_error_with_its_reason_and_a_remedy() -> None:
    down = replica(error="refused: nothing listens on that address", error_kind="refused")
    [finding] = [f for f in findings([primary(), down]) if f.code == "node.unreachable"]
    assert finding.severity == "error"
    assert "refused" in finding.message
    assert "start the server" in finding.action


def test_the_primary_is_the_writable_node_on_the_highest_timeline() -> None:
    def elected(*nodes: NodeFacts) -> str | None:
        view = View(list(nodes), settings(), deployment())
        return None if view.primary is None else view.primary.name

    assert elected(primary(timeline=1), replica(in_recovery=False, timeline=2)) == "replica-1"
    assert elected(primary(in_recovery=True), replica()) is None
    assert elected(primary(), replica(in_recovery=False)) is None  # a tie: nobody


def test_writable_nodes_besides_the_primary_are_errors() -> None:
    assert problems([primary(), replica(in_recovery=False)]) == {"role.two_writable": "error"}
    fenced = problems([primary(), replica(in_recovery=False, timeline=2)])
    assert fenced == {"role.fenced": "error", "role.moved": "warning"}
    [finding] = [
        f
        for f in findings([primary(), replica(in_recovery=False, timeline=2)])
        if f.code == "role.fenced"
    ]
    assert finding.node == "primary"  # the old primary, behind replica-1's timeline 2


def test_no_writable_node_is_an_error() -> None:
    assert problems([primary(in_recovery=True), replica()])["role.no_primary"] == "error"


def test_a_node_of_another_cluster_is_foreign() -> None:
    assert problems([primary(), replica(system_identifier="42")]) == {"node.foreign": "error"}


def test_direct_behind_transaction_pooling_is_an_error_pgbouncer_on_a_direct_node_a_warning() -> (
    None
):
    pooled = replica(transaction_pooling=True, dialled_port=6432)
    assert problems([primary(), pooled])["pooler.transaction_pooling"] == "error"
    env = {"DATABASE_MODE": "pgbouncer", "DATABASE_MIGRATION_URL": "postgresql://u@h/db"}
    nodes = [primary(mode="pgbouncer"), replica(mode="pgbouncer", transaction_pooling=True)]
    by_node = {(f.node, f.code): f.severity for f in findings(nodes, env=env)}
    assert by_node[("primary", "pooler.not_pooled")] == "warning"
    assert ("replica-1", "pooler.not_pooled") not in by_node
    assert by_node[("replica-1", "pool.pgbouncer")] == "info"


def test_a_port_mapping_without_transaction_pooling_is_only_information() -> None:
    mapped = replica(dialled_port=15433)
    codes = {f.code: f.severity for f in findings([primary(), mapped])}
    assert codes["pooler.proxy"] == "info"
    assert "pooler.transaction_pooling" not in codes


def test_pool_arithmetic_counts_workers_instances_pool_and_probe() -> None:
    # max_connections 100 - 3 reserved = 97 slots; each process opens 10 + 0 + 1 probe.
    assert problems(workers=7) == {}  # 77, within 80% of 97
    assert problems(workers=4, instances=2) == {"pool.tight": "warning"}  # 88
    assert problems(workers=3, instances=3) == {"pool.too_large": "error"}  # 99 > 97
    [message] = {
        f.message
        for f in findings(workers=3, instances=3)
        if f.node == "primary" and f.code == "pool.too_large"
    }
    assert "= 99 connections" in message
    assert "of 97 allowed" in message


def test_a_promoted_replica_counts_a_read_and_a_write_pool() -> None:
    # replica-1 is the primary now (timeline 2): 4 x (2 x 10 + 1) = 84 > 0.8 x 97.
    nodes = [primary(in_recovery=True), replica(in_recovery=False, timeline=2)]
    pools = {f.node: f for f in findings(nodes, workers=4) if f.code.startswith("pool.")}
    assert pools["replica-1"].code == "pool.tight"
    assert "2 x (10 pool + 0 overflow)" in pools["replica-1"].message
    assert pools["primary"].code == "pool.fits"  # 4 x (10 + 1) = 44


def test_schema_findings_name_what_is_missing() -> None:
    assert problems([primary(alembic_revisions=None, tables=())]) == {
        "schema.unmigrated": "error",
        "schema.missing_tables": "error",
    }
    assert problems([primary(alembic_revisions=("0001",))]) == {"schema.behind": "error"}
    assert problems([primary(alembic_revisions=("9999",))]) == {"schema.unknown_revision": "error"}
    assert problems([primary(tables=("customers",))]) == {"schema.missing_tables": "error"}


def test_a_replica_on_an_older_timeline_follows_a_former_primary() -> None:
    nodes = [primary(timeline=2), replica(timeline=1)]
    assert problems(nodes) == {"role.fenced": "error"}


def test_a_replica_streaming_from_elsewhere_is_a_warning_from_a_configured_standby_a_cascade() -> (
    None
):
    elsewhere = replica(upstream_port=5999)
    assert problems([primary(), elsewhere]) == {"replication.other_upstream": "warning"}
    second = replica(
        name="replica-2",
        address="127.0.0.1:5434/app",
        dialled_port=5434,
        server_port=5434,
        upstream_port=5433,
    )
    env = {"DATABASE_REPLICA_URLS": "replica-1=postgresql://u@h/a,replica-2=postgresql://u@h/a"}
    codes = {f.code: f.severity for f in findings([primary(), replica(), second], env=env)}
    assert codes.get("replication.cascade") == "info"
    assert "replication.other_upstream" not in codes
    # localhost and 127.0.0.1 are the same server.
    assert problems([primary(), replica(upstream_host="localhost")]) == {}


def test_slots_missing_inactive_or_absent_without_wal_retention() -> None:
    missing = replica(primary_slot_name="r1", streaming=False)
    assert problems([primary(), missing]) == {
        "replication.slot_missing": "error",
        "replication.not_streaming": "warning",
    }
    assert problems([primary(slots=(Slot("r1", True),)), replica(primary_slot_name="r1")]) == {}
    assert problems([primary(slots=(Slot("old", False),)), replica()]) == {
        "replication.slot_inactive": "warning"
    }
    assert problems([primary(wal_keep_size_mb=0), replica()]) == {
        "replication.no_retention": "warning"
    }


def test_feedback_off_matters_only_when_standby_delay_is_shorter_than_reports() -> None:
    off = {"hot_standby_feedback": False}
    assert problems([primary(), replica(**off, max_standby_streaming_delay_ms=1000)]) == {
        "replication.recovery_conflicts": "warning"
    }
    assert problems([primary(), replica(**off, max_standby_streaming_delay_ms=30000)]) == {}
    assert problems([primary(), replica(**off, max_standby_streaming_delay_ms=-1)]) == {}
    assert problems([primary(), replica(max_standby_streaming_delay_ms=1000)]) == {}


def test_an_apply_delay_and_lag_are_warnings() -> None:
    delayed = [
        f for f in findings([primary(), replica(apply_delay_ms=2000)]) if f.severity != "info"
    ]
    assert [f.code for f in delayed] == ["replication.apply_delay"]
    assert "stale" in delayed[0].message
    long_delay = findings([primary(), replica(apply_delay_ms=60_000)])
    assert any("max_lag_seconds" in f.message for f in long_delay)
    lagging = replica(lsn=1000 - 1)
    assert problems([primary(lsn=1000 + 17 * 1024 * 1024), lagging]) == {
        "replication.lag": "warning"
    }


def test_exit_status_is_the_worst_severity() -> None:
    def one(severity: str) -> Finding:
        return Finding(severity=severity, node="n", code="c", message="m")  # type: ignore[arg-type]

    assert exit_status([]) == 0
    assert exit_status([one("info")]) == 0
    assert exit_status([one("info"), one("warning")]) == 1
    assert exit_status([one("warning"), one("error"), one("info")]) == 2


def test_findings_come_errors_first() -> None:
    nodes = [primary(alembic_revisions=None), replica(apply_delay_ms=1000)]
    severities = [f.severity for f in findings(nodes)]
    assert severities == sorted(severities, key=["error", "warning", "info"].index)


def test_the_migration_url_must_reach_the_primary_itself() -> None:
    def migration_problems(target: NodeFacts) -> dict[str, str]:
        return {
            f.code: f.severity
            for f in evaluate([primary(), replica()], settings(), deployment(), target)
            if f.severity != "info"
        }

    direct = primary(name="migration", address="127.0.0.1:5432/app")
    assert migration_problems(direct) == {}
    for broken in (
        primary(name="migration", transaction_pooling=True),
        primary(name="migration", in_recovery=True),
        primary(name="migration", system_identifier="42"),
    ):
        assert migration_problems(broken) == {"migration.not_primary": "error"}, broken
    down = primary(name="migration", error="refused: nothing listens", error_kind="refused")
    assert migration_problems(down) == {"migration.unreachable": "error"}


def test_privileges_the_api_needs_differ_between_primary_and_standby() -> None:
    lacking = (("customers", "INSERT"), ("orders", "SELECT"))
    assert problems([primary(missing_privileges=lacking), replica()]) == {
        "schema.privileges": "error"
    }
    # A standby without INSERT is fine: nothing is written there.
    assert problems([primary(), replica(missing_privileges=(("customers", "INSERT"),))]) == {}
    assert problems([primary(), replica(missing_privileges=(("orders", "SELECT"),))]) == {
        "schema.privileges": "error"
    }


def test_what_this_role_cannot_read_is_said_not_guessed() -> None:
    unreadable = primary(alembic_revisions=None, alembic_error="permission denied")
    assert problems([unreadable, replica()]) == {"schema.unreadable": "warning"}
    hidden = replica(upstream_host=None, upstream_port=None, streaming=None)
    assert problems([primary(), hidden]) == {}
    codes = {f.code for f in findings([primary(), hidden])}
    assert "replication.upstream_unknown" in codes
    failed = replica(error="connected, but the check's query failed: x", error_kind="query")
    assert problems([primary(), failed]) == {"node.unreadable": "warning"}
