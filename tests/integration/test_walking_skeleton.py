"""The first slice end to end: writes on the primary, reads on a replica, errors as problems."""

from __future__ import annotations

import asyncio

import pytest

from service.cluster import Topology
from tests.integration.helpers import (
    Client,
    primary_fetch,
    server_identities,
    unique_email,
    wait_until_replicated,
)


async def count_rows(cluster: Topology, email: str) -> int:
    rows = await primary_fetch(cluster, "SELECT count(*) FROM customers WHERE email = $1", email)
    return int(rows[0][0])


async def test_put_goes_to_primary_and_get_to_a_replica(client: Client, cluster: Topology) -> None:
    email = unique_email()
    created = await client.put(f"/customers/{email}", json={"name": "Ada"})
    assert created.status_code == 201, created.text
    assert created.headers["X-DB-Node"] == "primary"
    assert created.json()["email"] == email.lower()
    assert created.headers["X-DB-LSN"].count("/") == 1

    updated = await client.put(f"/customers/{email}", json={"name": "Ada L."})
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]

    await wait_until_replicated(client, email)
    read = await client.get(f"/customers/{email}")
    assert read.status_code == 200
    assert read.headers["X-DB-Node"].startswith("replica-")
    assert "X-DB-LSN" not in read.headers

    # The database's side: the routed read connection is on a standby, that node's server.
    servers = await server_identities(cluster)
    seen = await client.get(f"/_probe/customers/{email.lower()}")
    body = seen.json()
    assert body["found"] is True
    assert body["standby"] is True
    assert body["node"] == seen.headers["X-DB-Node"] != "primary"
    assert body["server"] == servers[body["node"]]  # PgBouncer or not, the backend itself


async def test_reads_spread_over_both_replicas(client: Client) -> None:
    email = unique_email()
    await client.put(f"/customers/{email}", json={"name": "Spread"})
    await wait_until_replicated(client, email)
    await asyncio.sleep(0.2)  # the other replica too
    nodes = {(await client.get(f"/customers/{email}")).headers["X-DB-Node"] for _ in range(6)}
    assert nodes == {"replica-1", "replica-2"}


async def test_strong_consistency_header_sends_a_get_to_the_primary(client: Client) -> None:
    email = unique_email()
    await client.put(f"/customers/{email}", json={"name": "Strong"})
    strong = await client.get(
        f"/_probe/customers/{email.lower()}", headers={"X-DB-Consistency": "strong"}
    )
    assert strong.headers["X-DB-Node"] == "primary"
    assert strong.json()["standby"] is False
    eventual = await client.get(
        f"/_probe/customers/{email.lower()}", headers={"X-DB-Consistency": "eventual"}
    )
    assert eventual.json()["standby"] is True


async def test_a_header_cannot_move_a_write_off_the_primary(client: Client) -> None:
    email = unique_email()
    response = await client.put(
        f"/customers/{email}", json={"name": "W"}, headers={"X-DB-Consistency": "eventual"}
    )
    assert response.status_code == 201
    assert response.headers["X-DB-Node"] == "primary"


@pytest.mark.parametrize("consistency", [None, "strong"])
async def test_write_inside_a_read_session_fails_loudly_and_changes_nothing(
    client: Client, cluster: Topology, consistency: str | None
) -> None:
    """Read-only is enforced on whichever node serves the read, the primary included."""
    email = unique_email("sneaky").lower()
    headers = {"X-DB-Consistency": consistency} if consistency else {}
    response = await client.get(f"/_probe/write-in-read/{email}", headers=headers)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("write-in-read-session")
    node = response.headers["X-DB-Node"]
    assert node == "primary" if consistency else node.startswith("replica-")
    assert await count_rows(cluster, email) == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"),
    [
        ("PUT", "/customers/not-an-email", {"name": "x"}, {}),
        ("GET", "/customers/no-at-sign.example.com", None, {}),
        ("PUT", "/customers/{email}", None, {}),  # empty body
        ("PUT", "/customers/{email}", {"name": 42}, {}),  # wrong type
        ("PUT", "/customers/{email}", {"name": ""}, {}),
        ("PUT", "/customers/{email}", {"name": "x" * 201}, {}),
        ("PUT", "/customers/{email}", {"name": "x", "extra": 1}, {}),
        ("GET", "/customers/{email}", None, {"X-DB-Consistency": "sometimes"}),
        ("GET", "/customers/{email}", None, {"X-DB-Min-LSN": "yesterday"}),
    ],
)
async def test_bad_input_is_a_problem_never_a_500(
    client: Client,
    cluster: Topology,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
) -> None:
    email = unique_email("bad").lower()
    response = await client.request(method, path.format(email=email), json=body, headers=headers)
    # The README promises 400 for every one of these (validation, headers), naming the field.
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 400
    assert problem["type"].startswith("urn:switchyard:problem:")
    assert problem["title"]
    assert problem["detail"]
    assert await count_rows(cluster, email) == 0


async def test_unknown_customer_is_404(client: Client) -> None:
    response = await client.get(f"/customers/{unique_email('nobody')}")
    assert response.status_code == 404
    assert response.json()["type"].endswith("not-found")


async def test_health_endpoints(client: Client) -> None:
    assert (await client.get("/health/live")).json() == {"status": "ok"}
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["primary_up"] is True
    nodes = (await client.get("/health/db")).json()["nodes"]
    assert [n["name"] for n in nodes] == ["primary", "replica-1", "replica-2"]
    assert all(n["state"] == "up" for n in nodes)
