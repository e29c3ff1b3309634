"""Customer statements, built once at import: a request only binds parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Boolean, Integer, Text, bindparam, func, literal_column, not_, select
from sqlalchemy.dialects.postgresql import ARRAY, insert

from service.api.schemas import Customer
from service.api.tables import customers
from service.db import ReadQuery

_COLUMNS = (
    customers.c.id,
    customers.c.email,
    customers.c.name,
    customers.c.created_at,
    customers.c.updated_at,
)
# xmax is 0 only on a freshly inserted row version: created vs updated, without a second query.
_INSERTED = literal_column("xmax = 0", Boolean).label("inserted")

SELECT_BY_EMAIL = select(*_COLUMNS).where(customers.c.email == bindparam("email"))
# The hot read: compiled once for the replica fast path.
GET_BY_EMAIL = ReadQuery(SELECT_BY_EMAIL)

_upsert = insert(customers).values(email=bindparam("email"), name=bindparam("name"))
UPSERT = _upsert.on_conflict_do_update(
    index_elements=[customers.c.email],
    set_={"name": _upsert.excluded.name, "updated_at": func.now()},
).returning(*_COLUMNS, _INSERTED)

# Bulk upsert in one statement: the batch travels as two arrays (two parameters, whatever the
# batch size, so the statement stays one cached plan) and unnest() zips them back into rows.
# The handler deduplicates first, so no key appears twice and ON CONFLICT never hits
# "cannot affect row a second time". Only the two counts come back, not a row per customer.
_rows = (
    func.unnest(bindparam("emails", type_=ARRAY(Text)), bindparam("names", type_=ARRAY(Text)))
    .table_valued("email", "name")
    .render_derived()
)
_bulk = insert(customers).from_select(["email", "name"], select(_rows.c.email, _rows.c.name))
_upserted = (
    _bulk.on_conflict_do_update(
        index_elements=[customers.c.email],
        set_={"name": _bulk.excluded.name, "updated_at": func.now()},
    )
    .returning(_INSERTED)
    .cte("upserted")
)
BULK_UPSERT = select(
    func.count().filter(_upserted.c.inserted).label("inserted"),
    func.count().filter(not_(_upserted.c.inserted)).label("updated"),
)

# Keyset pagination by id: `id > :after` walks the primary key index, however deep the page.
LIST = (
    select(*_COLUMNS)
    .where(customers.c.id > bindparam("after"))
    .order_by(customers.c.id)
    .limit(bindparam("fetch", type_=Integer))
)


def to_customer(row: Mapping[Any, Any]) -> Customer:
    """From a SQLAlchemy row mapping or an asyncpg record alike."""
    return Customer(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )
