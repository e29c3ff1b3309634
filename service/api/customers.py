"""Customers: upserts (one or a batch) on the primary, reads and lists on a replica."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, get, post, put
from litestar.params import FromQuery, JSONBody, Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from service.api import customer_queries as cq
from service.api import order_queries as oq
from service.api.emails import normalise_email
from service.api.order_schemas import OrderPage
from service.api.pagination import DEFAULT_LIMIT, Limit, decode_cursor, next_cursor
from service.api.schemas import (
    MAX_BATCH,
    BatchResult,
    Customer,
    CustomerBatchIn,
    CustomerIn,
    CustomerPage,
)
from service.db import Db
from service.problems import not_found, problem

# The email in the path. normalise_email does the real check; NUL is refused here because
# PostgreSQL text cannot hold it, so it would otherwise fail in the database as a 500.
EmailPath = Annotated[str, Parameter(pattern=r"^[^\x00]*$", description="customer email")]

# Kept under its old name: test probes read a customer exactly as the API does.
_SELECT_BY_EMAIL = cq.SELECT_BY_EMAIL


def _latest_by_email(batch: CustomerBatchIn) -> dict[str, str]:
    """Normalised email -> name, the last entry for an email winning, as a loop of PUTs would."""
    if len(batch.customers) > MAX_BATCH:
        raise problem(
            413,
            "batch-too-large",
            "Batch too large",
            f"customers: at most {MAX_BATCH} per batch, got {len(batch.customers)}; "
            "split it into several requests",
            field="customers",
            limit=MAX_BATCH,
        )
    latest: dict[str, str] = {}
    for index, item in enumerate(batch.customers):
        latest[normalise_email(item.email, f"customers[{index}].email")] = item.name
    return latest


class CustomerController(Controller):
    path = "/customers"

    @put("/{email:str}")
    async def upsert_customer(
        self, email: EmailPath, data: JSONBody[CustomerIn], db: Db
    ) -> Response[Customer]:
        """201 when this request created the customer, 200 when it updated it."""
        params = {"email": normalise_email(email), "name": data.name}
        row = (await db.execute(cq.UPSERT, params)).one()
        status = HTTP_201_CREATED if row.inserted else HTTP_200_OK
        return Response(cq.to_customer(row._mapping), status_code=status)

    @post("/batch", status_code=HTTP_200_OK)
    async def upsert_batch(self, data: JSONBody[CustomerBatchIn], db: Db) -> BatchResult:
        latest = _latest_by_email(data)
        # Sorted keys: concurrent batches lock shared rows in the same order, so they queue
        # instead of deadlocking.
        emails = sorted(latest)
        params = {"emails": emails, "names": [latest[email] for email in emails]}
        row = (await db.execute(cq.BULK_UPSERT, params)).one()
        return BatchResult(inserted=row.inserted, updated=row.updated)

    @get("/")
    async def list_customers(
        self, db: Db, limit: Limit = DEFAULT_LIMIT, cursor: FromQuery[str | None] = None
    ) -> CustomerPage:
        params = {"after": decode_cursor("customers", cursor), "fetch": limit + 1}
        rows = (await db.execute(cq.LIST, params)).all()
        return CustomerPage(
            items=[cq.to_customer(row._mapping) for row in rows[:limit]],
            next_cursor=next_cursor("customers", rows, limit),
        )

    @get("/{email:str}")
    async def get_customer(self, email: EmailPath, db: Db) -> Customer:
        row = await db.fetch_one(cq.GET_BY_EMAIL, {"email": normalise_email(email)})
        if row is None:
            raise not_found(f"customer {email!r}")
        return cq.to_customer(row)

    @get("/{email:str}/orders")
    async def list_orders(
        self,
        email: EmailPath,
        db: Db,
        limit: Limit = DEFAULT_LIMIT,
        cursor: FromQuery[str | None] = None,
    ) -> OrderPage:
        """A customer's orders by id; an unknown customer is a 404, like GET /customers/{email}."""
        params = {
            "email": normalise_email(email),
            "after": decode_cursor("orders", cursor),
            "fetch": limit + 1,
        }
        rows = (await db.execute(oq.LIST_FOR_CUSTOMER, params)).all()
        if not rows:
            raise not_found(f"customer {email!r}")
        found = [row for row in rows if row.id is not None]  # the LEFT JOIN's NULL row: none
        return OrderPage(
            items=[oq.to_order(row) for row in found[:limit]],
            next_cursor=next_cursor("orders", found, limit),
        )
