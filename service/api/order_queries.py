"""Order statements, built once at import: a request only binds parameters.

Every statement returns the order's columns plus its customer's email, so each endpoint
answers from what the database holds (never from the request echoed back).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, Numeric, String, Text, any_, bindparam, func, select
from sqlalchemy import true as sql_true
from sqlalchemy.dialects.postgresql import ARRAY, insert

from service.api.money import format_amount
from service.api.order_schemas import Order
from service.api.tables import customers, orders

_ORDER_COLUMNS = (
    orders.c.id,
    orders.c.external_id,
    orders.c.status,
    orders.c.total_amount,
    orders.c.currency,
    orders.c.created_at,
    orders.c.updated_at,
)
_WITH_EMAIL = (*_ORDER_COLUMNS, customers.c.email.label("customer_email"))
_JOINED = orders.join(customers, orders.c.customer_id == customers.c.id)

# INSERT ... SELECT from customers: no row when the customer is unknown, and ON CONFLICT DO
# NOTHING also gives no row when the external_id exists (it waits for a concurrent insert of
# the same key to commit first). The handler tells the two apart with SELECT_BY_EXTERNAL_ID,
# a separate statement so that, in READ COMMITTED, it sees the row that concurrent insert
# committed (a CTE would share the first statement's older snapshot and miss it).
INSERT = (
    insert(orders)
    .from_select(
        ["external_id", "customer_id", "status", "total_amount", "currency"],
        select(
            bindparam("external_id", type_=Text),
            customers.c.id,
            bindparam("status", type_=Text),
            bindparam("total_amount", type_=Numeric(12, 2, asdecimal=True)),
            bindparam("currency", type_=String(3)),
        ).where(customers.c.email == bindparam("customer_email")),
    )
    .on_conflict_do_nothing(index_elements=[orders.c.external_id])
    .returning(*_ORDER_COLUMNS)
)

SELECT_BY_EXTERNAL_ID = (
    select(*_WITH_EMAIL)
    .select_from(_JOINED)
    .where(orders.c.external_id == bindparam("external_id"))
)

SELECT_BY_ID = select(*_WITH_EMAIL).select_from(_JOINED).where(orders.c.id == bindparam("order_id"))

# A conditional UPDATE is the whole race guard: of two concurrent PATCHes the second waits on
# the row lock, re-checks `status = ANY(:sources)` against the committed row and matches
# nothing, and the handler then reports the status it finds. One round trip when it works.
UPDATE_STATUS = (
    orders.update()
    .where(
        orders.c.id == bindparam("order_id"),
        orders.c.status == any_(bindparam("sources", type_=ARRAY(Text))),
        orders.c.customer_id == customers.c.id,
    )
    .values(status=bindparam("new_status"), updated_at=func.now())
    .returning(*_WITH_EMAIL)
)

# A customer's orders, keyset-paginated by order id. Customer LEFT JOIN LATERAL orders: one
# round trip tells "unknown customer" (no row) from "no orders (left)" (one all-NULL row).
_page = (
    select(*_ORDER_COLUMNS)
    .where(
        orders.c.customer_id == customers.c.id, orders.c.id > bindparam("after", type_=BigInteger)
    )
    .order_by(orders.c.id)
    .limit(bindparam("fetch", type_=Integer))
    .lateral("page")
)
LIST_FOR_CUSTOMER = (
    select(customers.c.email.label("customer_email"), *_page.c)
    .select_from(customers.outerjoin(_page, sql_true()))
    .where(customers.c.email == bindparam("email"))
    .order_by(_page.c.id)
)


def to_order(row: Any, customer_email: str | None = None) -> Order:
    return Order(
        id=row.id,
        external_id=row.external_id,
        customer_email=customer_email or row.customer_email,
        status=row.status,
        total_amount=format_amount(row.total_amount),
        currency=row.currency,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
