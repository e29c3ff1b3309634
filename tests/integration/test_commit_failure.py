"""A failure at COMMIT is a problem response, never a 500, and nothing is written."""

from __future__ import annotations

import random

import asyncpg

from service.cluster import Topology
from tests.integration.helpers import Client, primary_fetch


async def test_a_write_refused_at_commit_is_a_409_problem_and_writes_nothing(
    client: Client, cluster: Topology
) -> None:
    conn = await asyncpg.connect(cluster.direct_url("primary"))
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS probe_deferred (k int, "
            "CONSTRAINT probe_deferred_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)"
        )
    finally:
        await conn.close()
    key = random.randrange(1, 2**31)

    response = await client.post(f"/_probe/deferred/{key}")

    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("commit-failed")
    assert "COMMIT" in problem["detail"]
    assert "X-DB-LSN" not in response.headers
    rows = await primary_fetch(cluster, "SELECT count(*) FROM probe_deferred WHERE k = $1", key)
    assert rows[0][0] == 0
