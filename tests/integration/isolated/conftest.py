"""Tests that change who the primary is or inject lag: each owns a topology and a service."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import LocalCluster
from service.settings import Settings, load_settings
from tests.fixtures.topology import migrate_or_fail, scratch_cluster
from tests.integration.conftest import MODE

# A short probe interval keeps the tests short; the bounds below are in intervals.
PROBE_INTERVAL = 0.5


@pytest.fixture
def stranger() -> Iterator[LocalCluster]:
    """A one-node cluster of its own: another system identifier."""
    with scratch_cluster(replicas=0, prefix="switchyard-stranger-") as cluster:
        yield cluster


@pytest.fixture
def lab() -> Iterator[LocalCluster]:
    with scratch_cluster(replicas=2, prefix="switchyard-roles-") as cluster:
        migrate_or_fail(cluster.env(MODE))
        yield cluster


def lab_settings(env: dict[str, str]) -> Settings:
    settings = load_settings(env)
    health = msgspec.structs.replace(settings.health, interval=PROBE_INTERVAL, timeout=0.5)
    return msgspec.structs.replace(settings, health=health)


@pytest.fixture
async def client(lab: LocalCluster) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(lab_settings(lab.env(MODE)))) as test_client:
        yield test_client
