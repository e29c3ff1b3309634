"""compose.yaml, run: `docker compose up -d --wait`, requests through the published port,
`docker compose down -v`.

Needs a Docker engine with the images (`make compose-test` starts one and builds them); without
one this fails, saying so. Each run is its own Compose project on a free loopback port with a
fresh password, so it never meets a user's `docker compose up` or another run.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.cluster.proc import free_ports

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 240  # --wait covers every healthcheck; a loaded 2-core machine is slow


def _compose(project: str, env: dict[str, str], *args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        ["docker", "compose", "-p", project, "-f", str(ROOT / "compose.yaml"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"docker compose {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def _engine_answers() -> str:
    result = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    return "" if result.returncode else result.stdout.strip()


class Stack:
    def __init__(self, project: str, env: dict[str, str], base: str) -> None:
        self.project, self.env, self.base = project, env, base

    def compose(self, *args: str) -> str:
        return _compose(self.project, self.env, *args)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not _engine_answers():
        pytest.fail(
            f"no Docker engine answers at {os.environ.get('DOCKER_HOST', 'the default socket')}:"
            " `make compose-test` starts one and builds the images",
            pytrace=False,
        )
    (port,) = free_ports(1)
    project = f"switchyard-smoke-{os.getpid()}"
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "SWITCHYARD_PORT": str(port),
    }
    try:
        # --no-build: the images come from `make images` (or a registry elsewhere).
        _compose(project, env, "up", "-d", "--wait", "--no-build", timeout=UP_TIMEOUT)
        yield Stack(project, env, f"http://127.0.0.1:{port}")
    except AssertionError:
        logs = subprocess.run(
            ["docker", "compose", "-p", project, "logs", "--tail", "20"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        ).stdout  # fmt: skip
        raise AssertionError(f"compose stack failed; last logs:\n{logs}") from None
    finally:
        _compose(project, env, "down", "-v", "--remove-orphans")
        label = f"label=com.docker.compose.project={project}"
        volumes = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", label],
            env=env, capture_output=True, text=True, timeout=30, check=True,
        ).stdout.split()  # fmt: skip
        assert volumes == [], f"down -v left volumes: {volumes}"


def test_only_the_service_is_published_and_only_on_loopback(stack: Stack) -> None:
    rows = [json.loads(line) for line in stack.compose("ps", "--format", "json").splitlines()]
    published = {
        row["Service"]: sorted(
            (p["URL"], p["PublishedPort"], p["TargetPort"])
            for p in row.get("Publishers") or []
            if p.get("PublishedPort")
        )
        for row in rows
    }
    port = int(stack.base.rsplit(":", 1)[1])
    # migrate has exited and is no longer listed
    assert published == {
        "primary": [],
        "replica": [],
        "pgbouncer": [],
        "service": [("127.0.0.1", port, 8000)],
    }


def test_health_shows_every_node_up_through_pgbouncer(stack: Stack) -> None:
    nodes = httpx.get(f"{stack.base}/health/db", timeout=5).json()["nodes"]
    assert {n["name"]: (n["role"], n["state"], n["mode"]) for n in nodes} == {
        "primary": ("primary", "up", "pgbouncer"),
        "replica-1": ("replica", "up", "pgbouncer"),
    }
    replica = next(n for n in nodes if n["name"] == "replica-1")
    assert replica["in_recovery"] is True


def test_a_put_lands_on_the_primary_and_the_get_after_it_on_the_replica(stack: Stack) -> None:
    email = f"smoke-{secrets.token_hex(6)}@example.com"
    with httpx.Client(base_url=stack.base, timeout=5) as client:
        put = client.put(f"/customers/{email}", json={"name": "Ada"})
        assert put.status_code == 201, put.text
        assert put.headers["X-DB-Node"] == "primary"
        assert put.headers["X-DB-LSN"]
        deadline = time.monotonic() + 10
        while (get := client.get(f"/customers/{email}")).status_code == 404:
            assert time.monotonic() < deadline, "the write never reached the replica"
            time.sleep(0.05)
        assert get.status_code == 200, get.text
        assert get.headers["X-DB-Node"] == "replica-1"
        assert get.json()["name"] == "Ada"


def test_writes_go_through_pgbouncer_they_fail_while_it_is_stopped(stack: Stack) -> None:
    """The opposite case: were writes reaching the primary another way, they would go on."""
    email = f"smoke-{secrets.token_hex(6)}@example.com"
    stack.compose("stop", "pgbouncer")
    try:
        put = httpx.put(f"{stack.base}/customers/{email}", json={"name": "B"}, timeout=10)
        assert put.status_code == 503, put.text
        assert put.headers["content-type"] == "application/problem+json"
    finally:
        stack.compose("start", "pgbouncer")
    deadline = time.monotonic() + 20
    while httpx.put(f"{stack.base}/customers/{email}", json={"name": "B"}).status_code >= 500:
        assert time.monotonic() < deadline, "writes did not come back after PgBouncer did"
        time.sleep(0.2)
