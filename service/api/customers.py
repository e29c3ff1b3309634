"""Customers: upserts (one or a batch) on the primary, reads and lists on a replica.

Every route's input is checked by its `valid` dependency (service.api.customer_inputs) before
the database is touched.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from service.api import customer_inputs as inputs
from service.api import customer_queries as cq
from service.api import order_queries as oq
from service.api.order_schemas import OrderPage
from service.api.pagination import next_cursor
from service.api.schemas import BatchResult, Customer, CustomerBatchIn, CustomerIn, CustomerPage
from service.api.validated import DEPENDENCIES, validator
from service.db import Db
from service.problems import not_found

# Kept under its old name: test probes read a customer exactly as the API does.
_SELECT_BY_EMAIL = cq.SELECT_BY_EMAIL


class CustomerController(Controller):
    path = "/customers"
    dependencies = DEPENDENCIES

    @put("/{email:str}", dependencies=validator(inputs.customer_upsert, body=True))
    async def upsert_customer(
        self, data: JSONBody[CustomerIn], valid: NamedDependency[dict[str, str]], db: Db
    ) -> Response[Customer]:
        """201 when this request created the customer, 200 when it updated it."""
        row = (await db.execute(cq.UPSERT, valid)).one()
        status = HTTP_201_CREATED if row.inserted else HTTP_200_OK
        return Response(cq.to_customer(row._mapping), status_code=status)

    @post(
        "/batch", status_code=HTTP_200_OK, dependencies=validator(inputs.customer_batch, body=True)
    )
    async def upsert_batch(
        self, data: JSONBody[CustomerBatchIn], valid: NamedDependency[dict[str, list[str]]], db: Db
    ) -> BatchResult:
        row = (await db.execute(cq.BULK_UPSERT, valid)).one()
        return BatchResult(inserted=row.inserted, updated=row.updated)

    @get("/", dependencies=validator(inputs.customers_page))
    async def list_customers(self, valid: NamedDependency[inputs.Page], db: Db) -> CustomerPage:
        params = {"after": valid.after, "fetch": valid.limit + 1}
        rows = (await db.execute(cq.LIST, params)).all()
        return CustomerPage(
            items=[cq.to_customer(row._mapping) for row in rows[: valid.limit]],
            next_cursor=next_cursor("customers", rows, valid.limit),
        )

    @get("/{email:str}", dependencies=validator(inputs.email_key))
    async def get_customer(self, valid: NamedDependency[inputs.EmailKey], db: Db) -> Customer:
        row = await db.fetch_one(cq.GET_BY_EMAIL, {"email": valid.key})
        if row is None:
            raise not_found(f"customer {valid.given!r}")
        return cq.to_customer(row)

    @get("/{email:str}/orders", dependencies=validator(inputs.orders_page))
    async def list_orders(self, valid: NamedDependency[inputs.OrdersPage], db: Db) -> OrderPage:
        """A customer's orders by id; an unknown customer is a 404, like GET /customers/{email}."""
        email, page = valid
        params: dict[str, Any] = {
            "email": email.key,
            "after": page.after,
            "fetch": page.limit + 1,
        }
        rows = (await db.execute(oq.LIST_FOR_CUSTOMER, params)).all()
        if not rows:
            raise not_found(f"customer {email.given!r}")
        found = [row for row in rows if row.id is not None]  # the LEFT JOIN's NULL row: none
        return OrderPage(
            items=[oq.to_order(row) for row in found[: page.limit]],
            next_cursor=next_cursor("orders", found, page.limit),
        )
