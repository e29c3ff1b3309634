"""Each test here changes who the primary is, so each gets a topology and a service of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import ClusterError, LocalCluster
from service.settings import Settings, load_settings
from tests.integration.conftest import MODE

# A short probe interval keeps the tests short; the bounds below are in intervals.
PROBE_INTERVAL = 0.5


@contextlib.contextmanager
def scratch_cluster(replicas: int) -> Iterator[LocalCluster]:
    base = Path(tempfile.mkdtemp(prefix="switchyard-roles-", dir="/dev/shm"))
    base.chmod(0o755)  # the servers run as `postgres` and must enter it
    cluster = LocalCluster(base, replicas=replicas)
    try:
        cluster.up()
    except ClusterError as exc:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start a topology for the roles tests: {exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def stranger() -> Iterator[LocalCluster]:
    """A one-node cluster of its own: another system identifier."""
    with scratch_cluster(replicas=0) as cluster:
        yield cluster


@pytest.fixture
def lab() -> Iterator[LocalCluster]:
    with scratch_cluster(replicas=2) as cluster:
        migrate = subprocess.run(
            [sys.executable, "-m", "service.cli", "migrate"],
            env={**os.environ, **cluster.env(MODE)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, f"switchyard migrate failed:\n{migrate.stderr}"
        yield cluster


def lab_settings(env: dict[str, str]) -> Settings:
    settings = load_settings(env)
    health = msgspec.structs.replace(settings.health, interval=PROBE_INTERVAL, timeout=0.5)
    return msgspec.structs.replace(settings, health=health)


@pytest.fixture
async def client(lab: LocalCluster) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=create_app(lab_settings(lab.env(MODE)))) as test_client:
        yield test_client
