"""A topology of its own for the tests that break it, so the rest of the suite never sees it
broken, and a service of its own per test, so no test inherits another's bans and back-off."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.cluster import Topology
from service.settings import Settings, load_settings
from tests.fixtures.topology import migrate_or_fail, started_topology
from tests.integration.conftest import MODE, serving
from tests.integration.failover.heal import heal


@pytest.fixture(scope="package")
def lab() -> Iterator[Topology]:
    """Local binaries or containers, as SWITCHYARD_TOPOLOGY chooses for the whole run."""
    with started_topology("switchyard-failover-") as topology:
        migrate_or_fail(topology.env(MODE))
        yield topology


@pytest.fixture(scope="package")
def lab_settings(lab: Topology) -> Settings:
    return load_settings(lab.env(MODE))


@pytest.fixture
async def lab_client(lab_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with serving(lab_settings) as client:
        yield client


@pytest.fixture(autouse=True)
async def healed(lab: Topology) -> AsyncIterator[None]:
    """Every test leaves every node running, thawed, without apply delay, streaming and
    caught up, so the next test's service starts on a whole topology."""
    yield
    await heal(lab)
