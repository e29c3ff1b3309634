"""The real topology, migrated once, and the service built on it for this run's mode.

`SWITCHYARD_TEST_MODE=direct|pgbouncer` picks how the service reaches the nodes; `make test`
runs this whole suite once per mode. A test marked `mode_independent` proves something the
mode cannot change, so it runs in the direct-mode run only.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from service.app import create_app
from service.cluster import Topology
from service.settings import Settings, load_settings
from tests.fixtures.topology import (  # noqa: F401  (the session-wide topology)
    TOPOLOGY_ENV,
    cluster,
    migrate_or_fail,
)
from tests.integration.probes import ProbeController

MODE = os.environ.get("SWITCHYARD_TEST_MODE", "direct")


# Tests that build labs of their own from local binaries whatever SWITCHYARD_TOPOLOGY says,
# and why; they are marked local_only and a containers run lists them at its end.
LOCAL_ONLY = {
    "tests/integration/isolated/": "a fresh lab per test (about 1 s from local binaries, about "
    "20 s in containers), promoted and re-pointed at 127.0.0.1:<host port>, which inside a "
    "container names no server; pg_rewind on its data dirs",
    "tests/integration/check/": "changes a local lab's files on disk (TLS material, PgBouncer's "
    "ini) and restarts its servers; the container lab has no such files on the host",
    "tests/integration/ha/": "Patroni and etcd run as local processes; there is no container lab "
    "of them",
    "tests/integration/test_cluster_lab_ha.py": "promotion, failover and pg_rewind are verbs of "
    "the local and Patroni labs only",
}
_LOCAL_ONLY: list[tuple[str, str]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        path = item.path.as_posix()
        if "tests/integration/" in path:
            item.add_marker(pytest.mark.integration)
        for where, reason in LOCAL_ONLY.items():
            if where in path:
                item.add_marker(pytest.mark.local_only(reason))
        if (marker := item.get_closest_marker("local_only")) is not None:
            _LOCAL_ONLY.append((item.nodeid, str(marker.args[0])))
        if MODE != "direct" and item.get_closest_marker("mode_independent"):
            dropped.append(item)
            continue
        kept.append(item)
    if dropped:
        # Deselected, not skipped: the direct-mode run is where they ran.
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header() -> str:
    chosen = os.environ.get(TOPOLOGY_ENV, "") or "auto (containers where Docker answers)"
    return f"topology: {chosen}; mode: {MODE}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """A containers run says which tests it ran on local binaries instead, and why."""
    if os.environ.get(TOPOLOGY_ENV, "").strip().lower() != "containers" or not _LOCAL_ONLY:
        return
    terminalreporter.section("ran on the local topology, not in containers")
    for nodeid, reason in _LOCAL_ONLY:
        terminalreporter.write_line(f"{nodeid}: {reason}")


@pytest.fixture(scope="session")
def db_env(cluster: Topology) -> dict[str, str]:  # noqa: F811
    return cluster.env(MODE)


@pytest.fixture(scope="session")
def migrated(db_env: dict[str, str]) -> None:
    """The schema comes from the migrations, applied the way operators apply them."""
    migrate_or_fail(db_env)


@pytest.fixture(scope="session")
def settings(db_env: dict[str, str], migrated: None) -> Settings:
    return load_settings(db_env)


def build_app(settings: Settings) -> Litestar:
    app = create_app(settings)
    app.register(ProbeController)
    return app


@asynccontextmanager
async def serving(
    settings: Settings,
    *,
    database: dict[str, Any] | None = None,
    health: dict[str, Any] | None = None,
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A service of its own on `settings` with some database / health settings changed."""
    changed = msgspec.structs.replace(
        settings,
        database=msgspec.structs.replace(settings.database, **(database or {})),
        health=msgspec.structs.replace(settings.health, **(health or {})),
    )
    async with AsyncTestClient(app=build_app(changed)) as client:
        yield client


@pytest.fixture(scope="session")
async def client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=build_app(settings)) as test_client:
        yield test_client


@pytest.fixture
async def own_client(settings: Settings) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A service of its own for a test that changes the app's view of the nodes (bans,
    back-off): the session-wide `client` never inherits it."""
    async with AsyncTestClient(app=build_app(settings)) as test_client:
        yield test_client
