"""A real Patroni cluster (3 members + etcd on loopback) per test, with the service on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from service.cluster import ClusterError
from service.cluster.ha import PatroniCluster
from tests.fixtures.topology import migrate_or_fail, scratch_dir


@pytest.fixture
def patroni() -> Iterator[PatroniCluster]:
    cluster = PatroniCluster(scratch_dir("switchyard-patroni-"), replicas=2)
    try:
        try:
            cluster.up()
        except ClusterError as exc:
            pytest.fail(f"could not start the Patroni cluster: {exc}", pytrace=False)
        migrate_or_fail(cluster.env("direct"))
        yield cluster
    finally:
        cluster.destroy()
