"""A topology of its own, made with `cluster up --tls`: a local CA, a certificate per node
and PgBouncer, and URLs that say `sslmode=verify-full`. One replica keeps it quick."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from service.cluster import ClusterError, LocalCluster
from tests.fixtures.topology import migrate_or_fail, scratch_dir


@pytest.fixture(scope="session")
def tls_cluster() -> Iterator[LocalCluster]:
    cluster = LocalCluster(scratch_dir(), replicas=1, tls=True)
    try:
        cluster.up()
    except ClusterError as exc:
        with contextlib.suppress(ClusterError):
            cluster.destroy()
        pytest.fail(f"could not start the TLS topology (local binaries): {exc}", pytrace=False)
    try:
        # Migrations over the verify-full URL, the way operators run them.
        migrate_or_fail(cluster.env("direct"))
        yield cluster
    finally:
        cluster.destroy()
