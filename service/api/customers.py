"""Customers: upsert by email on the primary, point reads on a replica."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, put
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy import Boolean, bindparam, literal_column, select
from sqlalchemy.dialects.postgresql import insert

from service.api.emails import normalise_email
from service.api.schemas import Customer, CustomerIn
from service.api.tables import customers
from service.db import Db
from service.problems import not_found

_COLUMNS = (
    customers.c.id,
    customers.c.email,
    customers.c.name,
    customers.c.created_at,
    customers.c.updated_at,
)

# Built once: SQLAlchemy caches the compiled form, so a request only binds parameters.
_SELECT_BY_EMAIL = select(*_COLUMNS).where(customers.c.email == bindparam("email"))

_UPSERT = (
    insert(customers)
    .values(email=bindparam("email"), name=bindparam("name"))
    .on_conflict_do_update(
        index_elements=[customers.c.email],
        set_={"name": bindparam("name"), "updated_at": literal_column("now()")},
    )
    # xmax is 0 only on a freshly inserted row version: created (201) vs updated (200).
    .returning(*_COLUMNS, literal_column("xmax = 0", Boolean).label("inserted"))
)


def _customer(row: Any) -> Customer:
    return Customer(
        id=row.id,
        email=row.email,
        name=row.name,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class CustomerController(Controller):
    path = "/customers"

    @put("/{email:str}")
    async def upsert_customer(
        self, email: FromPath[str], data: JSONBody[CustomerIn], db: Db
    ) -> Response[Customer]:
        result = await db.execute(_UPSERT, {"email": normalise_email(email), "name": data.name})
        row = result.one()
        return Response(
            _customer(row), status_code=HTTP_201_CREATED if row.inserted else HTTP_200_OK
        )

    @get("/{email:str}")
    async def get_customer(self, email: FromPath[str], db: Db) -> Customer:
        result = await db.execute(_SELECT_BY_EMAIL, {"email": normalise_email(email)})
        row = result.first()
        if row is None:
            raise not_found(f"customer {email!r}")
        return _customer(row)
