"""A topology of its own for the tests that break it, so the rest of the suite never sees it
broken; one service on it, with the default probe interval and back-off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import Topology
from service.settings import Settings, load_settings
from tests.fixtures.topology import started_topology
from tests.integration.conftest import MODE


@pytest.fixture(scope="package")
def lab() -> Iterator[Topology]:
    """Local binaries or containers, as SWITCHYARD_TOPOLOGY chooses for the whole run."""
    with started_topology("switchyard-failover-") as cluster:
        env = {**os.environ, **cluster.env(MODE)}
        migrate = [sys.executable, "-m", "service.cli", "migrate"]
        subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=120)
        yield cluster


@pytest.fixture(scope="package")
def lab_settings(lab: Topology) -> Settings:
    return load_settings(lab.env(MODE))


@pytest.fixture(scope="package")
async def lab_client(lab_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(lab_settings)) as client:
        yield client


@pytest.fixture(autouse=True)
def healed(lab: Topology) -> Iterator[None]:
    """Every test leaves every node running, thawed and without apply delay."""
    yield
    for name, state in lab.status().items():
        if state == "frozen":
            lab.thaw(name)
        elif state == "stopped":
            lab.start(name)
    for node in lab.nodes[1:]:
        lab.set_apply_delay(node.name, 0)
