"""A topology of this package's own for the tests that change servers (an apply delay, a
slot, TLS, max_connections, PgBouncer's pooling), so the rest of the suite never sees them;
every test puts back what it changed."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from service.cluster import LocalCluster
from service.cluster.postgres import psql
from tests.integration.check.support import port_of, started_lab, streaming


@pytest.fixture(scope="package")
def lab() -> Iterator[LocalCluster]:
    with started_lab("switchyard-check-") as topology:
        yield topology


@pytest.fixture
async def reset_after(lab: LocalCluster) -> AsyncIterator[list[tuple[str, str]]]:
    """Settings a test changes with ALTER SYSTEM, as (node, name): reset and reloaded after,
    and the replicas streaming again before the next test looks."""
    changed: list[tuple[str, str]] = []
    yield changed
    for node, setting in changed:
        psql(port_of(lab, node), [f"ALTER SYSTEM RESET {setting}", "SELECT pg_reload_conf()"])
    await streaming(lab)


@pytest.fixture
def bouncer(lab: LocalCluster) -> Iterator[Callable[[str], None]]:
    """Change the lab PgBouncer at run time (its admin console); put back after."""

    def change(statement: str) -> None:
        psql(lab.pgbouncer_port, [statement], database="pgbouncer")

    yield change
    change("SET server_round_robin = 0")
    change("SET pool_mode = 'transaction'")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A certificate and its key, signed by nobody a client trusts."""
    keys = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=switchyard-check", "-keyout", keys / "k", "-out", keys / "c"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return (keys / "c").read_text(), (keys / "k").read_text()
