"""The node state machine, as pure logic: bans, back-off, re-admission, monotonic reads."""

from service.db.health_state import NodeHealth, NodeState

MAX_BYTES, MAX_SECONDS = 1000, 5.0


def judged(health: NodeHealth, lsn: int, lag_bytes: int = 0, lag_seconds: float = 0.0) -> NodeState:
    # A probe that started after every failure in these tests.
    health.observe(1000.0, 999.0, in_recovery=True, lsn=lsn)
    health.judge_replica(lag_bytes, lag_seconds, MAX_BYTES, MAX_SECONDS)
    return health.state


def test_back_off_doubles_and_is_capped() -> None:
    health = NodeHealth()
    bans = []
    for now in (0.0, 10.0, 20.0, 30.0, 40.0):
        health.fail(now, "refused", NodeState.DOWN, ban_initial=1.0, ban_max=5.0)
        bans.append(health.banned_until - now)
    assert bans == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_failed_node_is_probed_again_only_after_its_back_off() -> None:
    health = NodeHealth()
    assert health.fail(100.0, "refused", NodeState.BANNED, 1.0, 5.0) is True
    assert not health.serving
    assert not health.probe_due(100.5)
    assert health.probe_due(101.0)
    assert health.fail(101.0, "again", NodeState.DOWN, 1.0, 5.0) is False  # not a new outage


def test_a_successful_probe_readmits_and_resets_the_back_off() -> None:
    health = NodeHealth()
    assert judged(health, 100) is NodeState.UP
    health.fail(0.0, "refused", NodeState.DOWN, 1.0, 5.0)
    assert judged(health, 100) is NodeState.UP
    health.fail(10.0, "refused", NodeState.DOWN, 1.0, 5.0)
    assert health.banned_until == 11.0  # the first step again


def test_a_restarted_replica_serves_only_once_past_what_it_served_before() -> None:
    """Monotonic reads: after a crash a standby answers before it has replayed as far."""
    health = NodeHealth()
    assert judged(health, 500) is NodeState.UP
    health.fail(0.0, "stopped", NodeState.DOWN, 1.0, 5.0)
    assert judged(health, 400) is NodeState.LAGGING
    assert judged(health, 499) is NodeState.LAGGING
    assert judged(health, 500) is NodeState.UP


def test_a_replay_position_that_went_backwards_is_a_restart_nobody_saw() -> None:
    """In PgBouncer mode a standby can restart between probes without a failed request."""
    health = NodeHealth()
    assert judged(health, 500) is NodeState.UP
    assert judged(health, 450) is NodeState.LAGGING
    assert judged(health, 500) is NodeState.UP


def test_lag_over_either_limit_takes_a_replica_out_until_it_catches_up() -> None:
    health = NodeHealth()
    assert judged(health, 1, lag_bytes=MAX_BYTES + 1) is NodeState.LAGGING
    assert judged(health, 2, lag_seconds=MAX_SECONDS + 0.1) is NodeState.LAGGING
    assert judged(health, 3) is NodeState.UP


def test_back_off_never_overflows_however_long_the_outage() -> None:
    """85 minutes of failed probes at 1 s once overflowed 2 ** failures and killed the monitor."""
    health = NodeHealth()
    for probe in range(5000):
        health.fail(probe * 10.0, "refused", NodeState.DOWN, ban_initial=1.0, ban_max=5.0)
    assert health.banned_until - health.failed_at == 5.0


def test_a_probe_that_started_before_a_ban_does_not_lift_it() -> None:
    health = NodeHealth()
    health.observe(0.0, 0.0, in_recovery=True, lsn=10)
    health.fail(5.0, "a request's connection broke", NodeState.BANNED, 1.0, 5.0)
    assert health.observe(5.5, started=4.9, in_recovery=True, lsn=10) is False
    assert health.state is NodeState.BANNED
    assert health.observe(7.0, started=6.1, in_recovery=True, lsn=10) is True
    assert health.serving


def test_after_a_failure_the_catch_up_target_is_the_primary_position_seen_after_it() -> None:
    """The monitor's last view of a replica is up to a probe old: rows it served since may be
    newer. The primary's position from a probe begun after the failure bounds them all."""
    health = NodeHealth()
    health.observe(1.0, 0.5, in_recovery=True, lsn=500)
    health.fail(2.0, "stopped", NodeState.DOWN, 1.0, 5.0)
    health.raise_high_water(900, primary_probe_started=1.5)  # began before the failure: no
    assert health.high_water_lsn == 500
    health.raise_high_water(900, primary_probe_started=2.5)
    assert health.high_water_lsn == 900
    assert judged(health, 600) is NodeState.LAGGING
    assert judged(health, 900) is NodeState.UP


def test_a_lagging_replica_catching_up_is_not_taken_for_a_restart() -> None:
    """The catch-up target moves to the primary once per restart, not every round it lags."""
    health = NodeHealth()
    assert judged(health, 500) is NodeState.UP
    assert judged(health, 450) is NodeState.LAGGING  # went backwards: an unseen restart
    health.raise_high_water(800, primary_probe_started=2000.0)
    assert health.high_water_lsn == 800
    assert judged(health, 600) is NodeState.LAGGING  # forwards, still behind: no new target
    health.raise_high_water(900, primary_probe_started=3000.0)
    assert health.high_water_lsn == 800
    assert judged(health, 800) is NodeState.UP
