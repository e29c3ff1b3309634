"""The router's choice of node from what the monitor knows (engines never connect here)."""

import msgspec
import pytest

from service.db.errors import NodeUnavailableError, NoNodeAvailableError
from service.db.health_state import NodeState
from service.db.router import DatabaseRouter
from service.db.routing import Intent
from service.settings import HealthSettings, load_settings


def router(fallback: str = "primary") -> DatabaseRouter:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u@primary.invalid/db",
            "DATABASE_REPLICA_URLS": "r1=postgresql://u@r1.invalid/db,r2=postgresql://u@r2.invalid/db",
        }
    )
    database = msgspec.structs.replace(settings.database, fallback=fallback)
    return DatabaseRouter(database, HealthSettings())


def test_reads_skip_replicas_that_are_not_up() -> None:
    chosen = router()
    chosen.replicas[0].health.state = NodeState.LAGGING
    picks = {chosen._choose(Intent.READ, None, frozenset())[0].name for _ in range(6)}
    assert picks == {"r2"}


def test_no_replica_falls_back_to_the_primary_or_503_as_configured() -> None:
    for fallback, expected in (("primary", "primary"), ("error", None)):
        chosen = router(fallback)
        for replica in chosen.replicas:
            replica.health.state = NodeState.DOWN
        if expected is None:
            with pytest.raises(NoNodeAvailableError):
                chosen._choose(Intent.READ, None, frozenset())
        else:
            assert chosen._choose(Intent.READ, None, frozenset())[0].name == expected


def test_a_token_ahead_of_every_known_position_is_checked_on_a_serving_replica() -> None:
    chosen = router()
    for replica in chosen.replicas:
        replica.health.lsn = 100
    node, verify = chosen._choose(Intent.READ, 200, frozenset())
    assert node.role == "replica"
    assert verify is True
    node, verify = chosen._choose(Intent.READ, 50, frozenset())
    assert verify is False


async def test_writes_fail_fast_while_the_primary_is_down() -> None:
    chosen = router()
    chosen.primary.health.fail(0.0, "refused", NodeState.DOWN, 1.0, 5.0)
    with pytest.raises(NodeUnavailableError) as caught:
        chosen._choose(Intent.WRITE, None, frozenset())
    assert int(caught.value.headers["Retry-After"]) >= 1
