"""A topology of its own for the tests that break it, so the rest of the suite never sees it
broken; one service on it, with the default probe interval and back-off."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import ClusterError, LocalCluster
from service.settings import Settings, load_settings
from tests.integration.conftest import MODE


@pytest.fixture(scope="package")
def lab() -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="switchyard-failover-", dir="/dev/shm"))
    base.chmod(0o755)  # the servers run as `postgres` and must enter it
    cluster = LocalCluster(base, replicas=2)
    try:
        cluster.up()
    except ClusterError as exc:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start the failover topology: {exc}", pytrace=False)
    try:
        env = {**os.environ, **cluster.env(MODE)}
        migrate = [sys.executable, "-m", "service.cli", "migrate"]
        subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=120)
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="package")
def lab_settings(lab: LocalCluster) -> Settings:
    return load_settings(lab.env(MODE))


@pytest.fixture(scope="package")
async def lab_client(lab_settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(lab_settings)) as client:
        yield client


@pytest.fixture(autouse=True)
def healed(lab: LocalCluster) -> Iterator[None]:
    """Every test leaves every node running, thawed and without apply delay."""
    yield
    for name, state in lab.status().items():
        if state == "frozen":
            lab.thaw(name)
        elif state == "stopped":
            lab.start(name)
    for node in lab.nodes[1:]:
        lab.set_apply_delay(node.name, 0)
