"""What an operator sees: settings ignored under NullPool, no password anywhere in the health
output or the logs, and `--workers` really running that many processes, each with its pools."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from litestar.testing import AsyncTestClient

from service.cluster import Topology
from service.cluster.proc import free_ports
from service.settings import load_settings
from tests.integration.conftest import build_app
from tests.integration.helpers import unique_email
from tests.integration.pgbouncer.servers import running_service
from tests.integration.procnet import connections_to, spawned_children

# Each test builds its own environment for the mode it needs.
pytestmark = pytest.mark.mode_independent

POOL_OVERRIDES = {
    "SWITCHYARD_DATABASE__POOL__POOL_SIZE": "3",
    "SWITCHYARD_DATABASE__POOL__POOL_TIMEOUT": "1.5",
}
IGNORED = "pool settings pool_size, pool_timeout are ignored under NullPool"


def with_password(env: dict[str, str], secret: str) -> dict[str, str]:
    """The same URLs carrying a password (the lab trusts loopback, so it is never checked)."""
    user = "switchyard@"
    return {
        key: value.replace(user, f"switchyard:{secret}@") if "URL" in key else value
        for key, value in env.items()
    }


@pytest.mark.parametrize(("mode", "ignored"), [("pgbouncer", [IGNORED]), ("direct", [])])
async def test_health_lists_ignored_pool_settings_and_no_password_reaches_output_or_logs(
    cluster: Topology,
    migrated: None,
    capfd: pytest.CaptureFixture[str],
    mode: str,
    ignored: list[str],
) -> None:
    secret = f"pw-{uuid.uuid4().hex}"
    env = with_password({**cluster.env(mode), **POOL_OVERRIDES}, secret)
    # And a replica that is never there, so failures get logged and shown too.
    dead = f"postgresql://switchyard:{secret}@127.0.0.1:{free_ports(1)[0]}/switchyard"
    env["DATABASE_REPLICA_URLS"] += f",replica-dead={dead}"
    settings = load_settings(env)
    assert secret in settings.database.primary.url  # the premise: there is a password to leak

    async with AsyncTestClient(app=build_app(settings)) as client:
        email = unique_email("secret")
        assert (await client.put(f"/customers/{email}", json={"name": "S"})).status_code == 201
        for _ in range(3):
            assert (await client.get(f"/customers/{email}")).status_code in (200, 404)
        health = await client.get("/health/db")
        ready = await client.get("/health/ready")
        metrics = await client.get("/metrics")

    nodes = {n["name"]: n for n in health.json()["nodes"]}
    assert nodes["replica-dead"]["state"] in ("down", "banned")
    for name in ("primary", "replica-1", "replica-2", "replica-dead"):
        assert nodes[name]["ignored_settings"] == ignored, nodes[name]
    for shown in (health.text, ready.text, metrics.text, repr(settings)):
        assert secret not in shown
    # Litestar's logging config replaces the root handlers (so caplog sees nothing): read
    # what reached the process's stdout and stderr instead.
    out, err = capfd.readouterr()
    logged = (out + err).splitlines()
    assert any("replica-dead" in line for line in logged), "no failure logged: proves nothing"
    assert not [line for line in logged if secret in line]
    # Warned once per node at start-up, only where the settings really are ignored.
    assert sum(IGNORED in line for line in logged) == len(ignored) * len(nodes)


async def test_workers_flag_runs_that_many_processes_each_with_warm_pools(
    cluster: Topology, migrated: None
) -> None:
    env = {**cluster.env("direct"), "SWITCHYARD_DATABASE__POOL__POOL_SIZE": "3"}
    primary_port = cluster.nodes[0].port
    with running_service(env, "--workers", "2") as service:
        workers = spawned_children(service.pid)
        assert len(workers) == 2, workers
        # Each worker warms a pool of its own (ready means one worker answered: wait for both).
        async with asyncio.timeout(10):
            while min(connections_to(pid, primary_port) for pid in workers) < 3:
                await asyncio.sleep(0.1)
        # Three pooled, plus at most the monitor's probe of the moment.
        held = [connections_to(pid, primary_port) for pid in workers]
        assert [3 <= n <= 4 for n in held] == [True, True], held
        async with httpx.AsyncClient(base_url=service.base, timeout=10) as client:
            statuses = {(await client.get("/health/live")).status_code for _ in range(20)}
        assert statuses == {200}
