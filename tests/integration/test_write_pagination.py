"""Keyset pagination on replicas: every row exactly once, in id order, and a null cursor last."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from service.cluster import Topology
from tests.integration.helpers import Client, primary_fetch, unique_email, wait_for_replicas


async def walk(client: Client, path: str, limit: int | None) -> list[list[dict[str, Any]]]:
    """Every page of a list, following next_cursor until it is null (bounded)."""
    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {} if limit is None else {"limit": limit}
    for _ in range(1000):
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        assert response.headers["X-DB-Node"].startswith("replica-")
        body = response.json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            return pages
        params["cursor"] = body["next_cursor"]
    raise AssertionError(f"{path} never reached its last page")


async def seed_customers(client: Client, count: int) -> None:
    tag = uuid.uuid4().hex[:8]
    batch = [{"email": f"page-{tag}-{i}@example.com", "name": "p"} for i in range(count)]
    assert (await client.post("/customers/batch", json={"customers": batch})).status_code == 200


@pytest.mark.parametrize("limit", [None, 500, 37])
async def test_customer_pages_cover_the_table_once_in_order(
    client: Client, cluster: Topology, limit: int | None
) -> None:
    await seed_customers(client, 120)
    await wait_for_replicas(cluster)
    pages = await walk(client, "/customers", limit)
    page_size = limit or 50
    assert all(len(page) == page_size for page in pages[:-1])
    assert 1 <= len(pages[-1]) <= page_size
    ids = [item["id"] for page in pages for item in page]
    assert ids == sorted(set(ids))  # ascending, no duplicates
    on_primary = await primary_fetch(cluster, "SELECT id FROM customers ORDER BY id")
    assert ids == [row["id"] for row in on_primary]  # and no gaps


@pytest.mark.parametrize(("orders", "limit", "sizes"), [(23, 5, [5, 5, 5, 5, 3]), (10, 5, [5, 5])])
async def test_a_customers_orders_page_by_id(
    client: Client, cluster: Topology, orders: int, limit: int, sizes: list[int]
) -> None:
    email = unique_email("pages").lower()
    await client.put(f"/customers/{email}", json={"name": "Pages"})
    created = []
    for i in range(orders):
        body = {
            "external_id": f"page-{uuid.uuid4().hex}",
            "customer_email": email,
            "status": "pending",
            "total_amount": f"{i}.50",
            "currency": "USD",
        }
        created.append((await client.post("/orders", json=body)).json())
    await wait_for_replicas(cluster)
    pages = await walk(client, f"/customers/{email}/orders", limit)
    assert [len(page) for page in pages] == sizes  # exactly full: no trailing empty page
    assert [item for page in pages for item in page] == created


async def test_orders_of_unknown_and_orderless_customers(client: Client, cluster: Topology) -> None:
    unknown = await client.get(f"/customers/{unique_email('nobody')}/orders")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"

    email = unique_email("idle").lower()
    await client.put(f"/customers/{email}", json={"name": "Idle"})
    await wait_for_replicas(cluster)
    empty = await client.get(f"/customers/{email}/orders")
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "next_cursor": None}


async def test_a_cursor_only_works_on_the_list_that_issued_it(
    client: Client, cluster: Topology
) -> None:
    await seed_customers(client, 3)
    await wait_for_replicas(cluster)
    cursor = (await client.get("/customers", params={"limit": 1})).json()["next_cursor"]
    assert (await client.get("/customers", params={"cursor": cursor})).status_code == 200
    email = unique_email("x").lower()
    await client.put(f"/customers/{email}", json={"name": "X"})
    await wait_for_replicas(cluster)
    misused = await client.get(f"/customers/{email}/orders", params={"cursor": cursor})
    assert misused.status_code == 400
    assert misused.json()["field"] == "cursor"
