"""Orders: idempotent creation, exact money, status transitions, and their races."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import pytest

from service.api.order_status import STATUSES, can_become
from service.cluster import Topology
from service.table_values import OrderStatus
from tests.integration.helpers import Client, primary_fetch, unique_email, wait_for_replicas

STRONG = {"X-DB-Consistency": "strong"}


async def new_customer(client: Client) -> str:
    email = unique_email("buyer").lower()
    assert (await client.put(f"/customers/{email}", json={"name": "Buyer"})).status_code == 201
    return email


def order_body(email: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": f"ext-{uuid.uuid4().hex}",
        "customer_email": email,
        "status": "pending",
        "total_amount": "19.99",
        "currency": "EUR",
    }
    return {**body, **overrides}


async def stored(cluster: Topology, external_id: str) -> list[Any]:
    return await primary_fetch(
        cluster, "SELECT id, status, total_amount FROM orders WHERE external_id = $1", external_id
    )


async def test_create_replay_and_conflict(client: Client, cluster: Topology) -> None:
    email = await new_customer(client)
    body = order_body(email, total_amount="19.9", currency="eur")
    created = await client.post("/orders", json=body)
    assert created.status_code == 201, created.text
    assert created.headers["X-DB-Node"] == "primary"
    order = created.json()
    assert set(order) == {
        "id", "external_id", "customer_email", "status",
        "total_amount", "currency", "created_at", "updated_at",
    }  # fmt: skip
    assert order["total_amount"] == "19.90"
    assert order["currency"] == "EUR"
    assert order["customer_email"] == email

    # The same order said differently (number vs string, case) is still the same order.
    same = {**body, "total_amount": 19.90, "customer_email": email.upper(), "currency": "EUR"}
    for replay_body in (body, same):
        replay = await client.post("/orders", json=replay_body)
        assert replay.status_code == 200, replay.text
        assert replay.json() == order
        assert replay.headers["X-DB-LSN"]

    other = await new_customer(client)
    for change in ({"total_amount": "19.91"}, {"customer_email": other}, {"status": "completed"}):
        conflict = await client.post("/orders", json={**body, **change})
        assert conflict.status_code == 409, conflict.text
        assert conflict.headers["content-type"] == "application/problem+json"
        assert conflict.json()["differs"] == list(change)
    assert [r["total_amount"] for r in await stored(cluster, body["external_id"])] == [
        Decimal("19.90")
    ]


async def test_fifty_concurrent_identical_posts_make_one_order(
    client: Client, cluster: Topology
) -> None:
    body = order_body(await new_customer(client))
    responses = await asyncio.gather(*(client.post("/orders", json=body) for _ in range(50)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(200) == 49, statuses
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.text for r in responses}) == 1  # identical bodies, byte for byte
    assert len(await stored(cluster, body["external_id"])) == 1


async def test_unknown_customer_is_422_naming_the_field(client: Client, cluster: Topology) -> None:
    body = order_body(unique_email("ghost"))
    response = await client.post("/orders", json=body)
    assert response.status_code == 422
    assert response.json()["field"] == "customer_email"
    assert await stored(cluster, body["external_id"]) == []


async def test_money_is_exact(client: Client, cluster: Topology) -> None:
    email = await new_customer(client)
    for amount in (0.1, "0.20"):  # a JSON number and a string; neither goes through a float
        response = await client.post("/orders", json=order_body(email, total_amount=amount))
        assert response.status_code == 201, response.text
    rows = await primary_fetch(
        cluster,
        "SELECT sum(o.total_amount) AS total, array_agg(o.total_amount::text ORDER BY o.id) AS each"
        " FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.email = $1",
        email,
    )
    assert rows[0]["each"] == ["0.10", "0.20"]
    assert rows[0]["total"] == Decimal("0.30")
    assert 0.1 + 0.2 != 0.3  # what the sum would be had either amount passed through a float

    big = await client.post("/orders", json=order_body(email, total_amount=9999999999.99))
    assert big.json()["total_amount"] == "9999999999.99"


async def test_get_order_reads_a_replica_and_unknown_ids_are_404(
    client: Client, cluster: Topology
) -> None:
    created = (await client.post("/orders", json=order_body(await new_customer(client)))).json()
    await wait_for_replicas(cluster)
    read = await client.get(f"/orders/{created['id']}")
    assert read.status_code == 200
    assert read.headers["X-DB-Node"].startswith("replica-")
    assert read.json() == created
    for order_id in (created["id"] + 10**9, 0, 2**63, 10**30):
        missing = await client.get(f"/orders/{order_id}", headers=STRONG)
        assert missing.status_code == 404, (order_id, missing.text)
        assert missing.headers["content-type"] == "application/problem+json"
        patched = await client.patch(f"/orders/{order_id}", json={"status": "completed"})
        assert patched.status_code == 404, (order_id, patched.text)


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
async def test_status_transitions(
    client: Client, cluster: Topology, current: OrderStatus, target: OrderStatus
) -> None:
    body = order_body(await new_customer(client), status=current)
    order = (await client.post("/orders", json=body)).json()
    response = await client.patch(f"/orders/{order['id']}", json={"status": target})
    allowed = target == current or can_become(current, target)
    if target == current:
        assert response.status_code == 200
        assert response.json() == order  # a no-op: not even updated_at moves
    elif allowed:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
        assert response.json()["updated_at"] > order["updated_at"]
    else:
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["current_status"] == current
        assert repr(current) in problem["detail"]
    expected = target if allowed else current
    assert [r["status"] for r in await stored(cluster, body["external_id"])] == [expected]


async def test_concurrent_transitions_have_one_winner(client: Client, cluster: Topology) -> None:
    body = order_body(await new_customer(client))
    order_id = (await client.post("/orders", json=body)).json()["id"]
    targets = ["completed", "cancelled"] * 20
    responses = await asyncio.gather(
        *(client.patch(f"/orders/{order_id}", json={"status": t}) for t in targets)
    )
    final = (await stored(cluster, body["external_id"]))[0]["status"]
    assert final in ("completed", "cancelled")
    for target, response in zip(targets, responses, strict=True):
        # The winner's status is then a no-op for its twins; the other target is refused.
        assert response.status_code == (200 if target == final else 409), response.text
        if target != final:
            assert response.json()["current_status"] == final
