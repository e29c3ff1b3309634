"""The customer write API: concurrent upserts, bulk upsert, and bad input on every write route.

Every bad request must be a 4xx problem+json that names what is wrong and writes nothing:
the tables are counted on the primary, directly, before and after.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from service.cluster import Topology
from tests.integration.helpers import Client, primary_fetch, table_counts, unique_email


async def names_on_primary(cluster: Topology, emails: list[str]) -> dict[str, str]:
    rows = await primary_fetch(
        cluster, "SELECT email, name FROM customers WHERE email = ANY($1::text[])", emails
    )
    return {row["email"]: row["name"] for row in rows}


async def test_concurrent_puts_of_one_email_make_one_row(client: Client, cluster: Topology) -> None:
    email = unique_email("race")
    names = [f"name-{i}" for i in range(50)]
    # Mixed case on purpose: the key is the lower-cased email, so these are all one customer.
    spellings = [email.upper() if i % 2 else email for i in range(50)]
    responses = await asyncio.gather(
        *(
            client.put(f"/customers/{spelling}", json={"name": name})
            for spelling, name in zip(spellings, names, strict=True)
        )
    )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 201}, [r.text for r in responses if r.status_code >= 300]
    assert statuses.count(201) == 1
    assert len({r.json()["id"] for r in responses}) == 1
    stored = await names_on_primary(cluster, [email.lower()])
    assert list(stored) == [email.lower()]
    assert stored[email.lower()] in names


async def test_batch_upsert_counts_new_and_existing_and_last_wins(
    client: Client, cluster: Topology
) -> None:
    tag = uuid.uuid4().hex[:8]
    existing = [f"old-{tag}-{i}@example.com" for i in range(250)]
    fresh = [f"new-{tag}-{i}@example.com" for i in range(600)]
    seeded = await client.post(
        "/customers/batch",
        json={"customers": [{"email": e, "name": "before"} for e in existing]},
    )
    assert seeded.status_code == 200, seeded.text
    assert seeded.json() == {"inserted": 250, "updated": 0}

    batch = [{"email": e.upper(), "name": "after"} for e in existing]
    batch += [{"email": e, "name": "first"} for e in fresh]
    # 150 repeats of new emails, in another spelling: the last entry for an email wins.
    batch += [{"email": e.title(), "name": "last"} for e in fresh[:150]]
    assert len(batch) == 1000
    response = await client.post("/customers/batch", json={"customers": batch})
    assert response.status_code == 200, response.text
    assert response.headers["X-DB-Node"] == "primary"
    assert response.headers["X-DB-LSN"]
    assert response.json() == {"inserted": 600, "updated": 250}

    stored = await names_on_primary(cluster, existing + fresh)
    assert len(stored) == 850
    assert {stored[e] for e in existing} == {"after"}
    assert {stored[e] for e in fresh[:150]} == {"last"}
    assert {stored[e] for e in fresh[150:]} == {"first"}


async def test_a_batch_over_the_limit_is_413_and_writes_nothing(
    client: Client, cluster: Topology
) -> None:
    tag = uuid.uuid4().hex[:8]
    emails = [f"big-{tag}-{i}@example.com" for i in range(1001)]
    response = await client.post(
        "/customers/batch", json={"customers": [{"email": e, "name": "x"} for e in emails]}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "1000" in response.json()["detail"]
    assert await names_on_primary(cluster, emails) == {}
    # The opposite case: at the limit the same request goes through.
    at_limit = await client.post(
        "/customers/batch",
        json={"customers": [{"email": e, "name": "x"} for e in emails[:1000]]},
    )
    assert at_limit.json() == {"inserted": 1000, "updated": 0}


def _order(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": f"bad-{uuid.uuid4().hex}",
        "customer_email": "{email}",
        "status": "pending",
        "total_amount": "19.99",
        "currency": "EUR",
    }
    return {**body, **overrides}


_GOOD_ITEM = {"email": "{email}", "name": "ok"}


def _batch(*items: dict[str, Any]) -> dict[str, Any]:
    """A batch whose first entry is valid: a later bad one must still stop the whole batch."""
    return {"customers": [_GOOD_ITEM, *items]}


# (method, path, JSON body or raw bytes, expected status, field the problem names)
BAD_INPUTS: list[tuple[str, str, Any, int, str | None]] = [
    ("PUT", "/customers/{email}", {"name": "x" * 201}, 400, "name"),
    ("PUT", "/customers/{email}", {"name": "nul\x00byte"}, 400, "name"),
    ("PUT", "/customers/{email}", {"name": 42}, 400, "name"),
    ("PUT", "/customers/nul%00{email}", {"name": "x"}, 400, "email"),
    ("PUT", "/customers/{email}", b"{bad json", 400, None),
    ("PUT", "/customers/{email}", b"", 400, None),
    ("POST", "/customers/batch", {"customers": []}, 400, "customers"),
    ("POST", "/customers/batch", {"customers": [_GOOD_ITEM] * 1001}, 413, "customers"),
    ("POST", "/customers/batch", _batch({"email": "nope", "name": "x"}), 400, "customers[1].email"),
    ("POST", "/customers/batch", _batch({"email": "a@b.co", "name": ""}), 400, "customers[1].name"),
    ("POST", "/customers/batch", _batch({"email": "a@b.co"}), 400, "customers[1]"),
    ("POST", "/customers/batch", {"people": [_GOOD_ITEM]}, 400, None),
    ("POST", "/orders", _order(total_amount="-1.00"), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount=1.005), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount="1.005"), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount=0.30000000000000004), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount=1e20), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount="NaN"), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount=True), 400, "total_amount"),
    ("POST", "/orders", _order(total_amount=None), 400, "total_amount"),
    ("POST", "/orders", _order(status="shipped"), 400, "status"),
    ("POST", "/orders", _order(currency="EURO"), 400, "currency"),
    ("POST", "/orders", _order(currency="E1R"), 400, "currency"),
    ("POST", "/orders", _order(currency="€ur"), 400, "currency"),
    ("POST", "/orders", _order(external_id=""), 400, "external_id"),
    ("POST", "/orders", _order(external_id="x" * 101), 400, "external_id"),
    ("POST", "/orders", _order(external_id=7), 400, "external_id"),
    ("POST", "/orders", _order(external_id="nul\x00"), 400, "external_id"),
    ("POST", "/orders", _order(customer_email="not-an-email"), 400, "customer_email"),
    ("POST", "/orders", _order(note="extra"), 400, None),
    ("POST", "/orders", _order(customer_email="nobody-{email}"), 422, "customer_email"),
    ("POST", "/orders", b"[1, 2", 400, None),
    ("POST", "/orders", None, 400, None),
    ("PATCH", "/orders/1", {"status": "shipped"}, 400, "status"),
    ("PATCH", "/orders/1", {"status": "pending", "why": 1}, 400, None),
    ("GET", "/customers?cursor=not-a-cursor", None, 400, "cursor"),
    ("GET", "/customers?cursor=eyJrIjoib3JkZXJzIiwiaWQiOjF9", None, 400, "cursor"),  # orders'
    ("GET", "/customers?limit=0", None, 400, "limit"),
    ("GET", "/customers?limit=501", None, 400, "limit"),
    ("GET", "/customers/{email}/orders?cursor=%%%", None, 400, "cursor"),
]


def _fill(value: Any, email: str) -> Any:
    if isinstance(value, str):
        return value.replace("{email}", email)
    if isinstance(value, dict):
        return {k: _fill(v, email) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, email) for v in value]
    return value


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), BAD_INPUTS)
async def test_bad_input_is_a_problem_and_writes_nothing(
    client: Client,
    cluster: Topology,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str | None,
) -> None:
    email = unique_email("bad").lower()
    # A real customer, so the only thing wrong with each request is the thing under test.
    assert (await client.put(f"/customers/{email}", json={"name": "ok"})).status_code == 201
    before = await table_counts(cluster)
    kwargs: dict[str, Any] = {"headers": {"X-DB-Consistency": "strong"}}
    if isinstance(body, bytes):
        kwargs["content"] = body
        kwargs["headers"]["content-type"] = "application/json"
    elif body is not None:
        kwargs["json"] = _fill(body, email)
    response = await client.request(method, path.format(email=email), **kwargs)

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("urn:switchyard:problem:")
    assert problem["title"]
    assert problem["detail"]
    if field is not None:
        assert problem["field"] == field
        assert field in problem["detail"]
    assert await table_counts(cluster) == before
