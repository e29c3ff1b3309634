"""A real Patroni cluster (3 members + etcd on loopback) per test, with the service on it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from service.cluster.ha import PatroniCluster

from service.cluster import ClusterError
from tests.fixtures.topology import scratch_dir


@pytest.fixture
def patroni() -> Iterator[PatroniCluster]:
    cluster = PatroniCluster(scratch_dir("switchyard-patroni-"), replicas=2)
    try:
        try:
            cluster.up()
        except ClusterError as exc:
            pytest.fail(f"could not start the Patroni cluster: {exc}", pytrace=False)
        migrate = subprocess.run(
            [sys.executable, "-m", "service.cli", "migrate"],
            env={**os.environ, **cluster.env("direct")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, f"switchyard migrate failed:\n{migrate.stderr}"
        yield cluster
    finally:
        cluster.destroy()
