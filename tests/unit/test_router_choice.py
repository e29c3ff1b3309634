"""The choice of node for a session, as pure logic over what the monitor knows."""

import pytest

from service.db import Intent
from service.db.problems import NodeUnavailableError, NoNodeAvailableError
from service.db.selection import Candidate, Choice, Demand, PrimaryState, PrimaryView, choose

PRIMARY = PrimaryState("primary", lsn=1000)
MARGIN = 100


def pick(
    demand: Demand,
    replicas: list[Candidate],
    primary: PrimaryView = PRIMARY,
    fallback: bool = True,
    turn: int = 0,
) -> Choice:
    return choose(
        demand,
        primary,
        replicas,
        turn=turn,
        least_connections=False,
        fallback_to_primary=fallback,
        token_margin=MARGIN,
    )


def up(name: str, lsn: int = 1000) -> Candidate:
    return Candidate(name, True, lsn, 0)


def test_reads_skip_replicas_that_are_not_serving() -> None:
    replicas = [Candidate("r1", False, 1000, 0), up("r2")]
    assert {pick(Demand(Intent.READ), replicas, turn=t).node for t in range(6)} == {"r2"}


def test_no_replica_falls_back_to_the_primary_or_503_as_configured() -> None:
    down = [Candidate("r1", False, 1000, 0)]
    assert pick(Demand(Intent.READ), down) == Choice("primary", fallback=True)
    with pytest.raises(NoNodeAvailableError):
        pick(Demand(Intent.READ), down, fallback=False)


def test_a_token_no_replica_is_known_to_have_is_checked_on_a_serving_replica() -> None:
    replicas = [up("r1", 900)]
    assert pick(Demand(Intent.READ, min_lsn=950), replicas) == Choice("r1", verify_replay=True)
    assert pick(Demand(Intent.READ, min_lsn=850), replicas) == Choice("r1")


def test_a_token_far_beyond_the_primary_costs_no_replica() -> None:
    """FFFFFFFF/FFFFFFFF once held a replica connection for min_lsn_wait on every request."""
    demand = Demand(Intent.READ, min_lsn=PRIMARY.lsn + MARGIN + 1)  # type: ignore[operator]
    assert pick(demand, [up("r1")]) == Choice("primary", fallback=True)
    within = Demand(Intent.READ, min_lsn=PRIMARY.lsn + MARGIN)  # type: ignore[operator]
    assert pick(within, [up("r1")]) == Choice("r1", verify_replay=True)


def test_a_token_read_without_any_serving_replica_honours_fallback_error() -> None:
    with pytest.raises(NoNodeAvailableError):
        pick(Demand(Intent.READ, min_lsn=10), [Candidate("r1", False, 0, 0)], fallback=False)


def test_writes_fail_fast_while_the_primary_is_down_or_missing() -> None:
    down = PrimaryState("primary", failed=True, reason="refused", retry_after=3)
    with pytest.raises(NodeUnavailableError) as caught:
        pick(Demand(Intent.WRITE), [up("r1")], primary=down)
    assert caught.value.headers is not None
    assert caught.value.headers["Retry-After"] == "3"
    with pytest.raises(NoNodeAvailableError, match="two writable"):
        pick(Demand(Intent.WRITE), [up("r1")], primary=PrimaryState(None, reason="two writable"))


def test_a_strong_read_is_not_rerun_on_the_primary_that_failed_it() -> None:
    assert pick(Demand(Intent.STRONG_READ), []) == Choice("primary")
    with pytest.raises(NodeUnavailableError):
        pick(Demand(Intent.STRONG_READ, exclude=frozenset({"primary"})), [up("r1")])


def test_a_staleness_bound_admits_only_replicas_known_fresh_enough() -> None:
    replicas = [
        Candidate("r1", True, 1000, 0, stale=3.0),
        Candidate("r2", True, 1000, 0, stale=None),
    ]
    assert pick(Demand(Intent.READ, max_staleness=5.0), replicas) == Choice("r1")
    assert pick(Demand(Intent.READ, max_staleness=1.0), replicas) == Choice(
        "primary", fallback=True
    )
    with pytest.raises(NoNodeAvailableError):
        pick(Demand(Intent.READ, max_staleness=1.0), replicas, fallback=False)
    # Unbounded reads do not care how stale a replica is.
    assert pick(Demand(Intent.READ), replicas[:1]) == Choice("r1")
