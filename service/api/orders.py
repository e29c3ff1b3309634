"""Orders: idempotent creation by external_id, status transitions, reads on replicas."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from service.api import order_queries as q
from service.api.emails import normalise_email
from service.api.money import parse_amount, parse_currency
from service.api.order_schemas import Order, OrderIn, OrderStatusIn
from service.api.order_status import SOURCES, describe_next
from service.api.validated import DEPENDENCIES, validator
from service.db import Db
from service.problems import invalid_field, not_found, problem

_MAX_ID = 2**63 - 1


def _order_id(value: int) -> int:
    """Ids are positive bigints: another integer names no order (404) and must not reach
    asyncpg, where it would be an overflow error instead of an answer."""
    if not 0 < value <= _MAX_ID:
        raise not_found(f"order {value}")
    return value


def _as_stored(data: OrderIn) -> dict[str, Any]:
    """The order's fields as the database holds them: what a replay is compared against."""
    return {
        "customer_email": normalise_email(data.customer_email, "customer_email"),
        "status": data.status,
        "total_amount": parse_amount(data.total_amount),
        "currency": parse_currency(data.currency),
    }


# The routes' `valid` dependencies: checked before the database is touched.
def _new_order(data: JSONBody[OrderIn]) -> dict[str, Any]:
    return _as_stored(data)


def _status_change(order_id: FromPath[int], data: JSONBody[OrderStatusIn]) -> dict[str, Any]:
    return {
        "order_id": _order_id(order_id),
        "new_status": data.status,
        "sources": SOURCES[data.status],
    }


def _existing_order(order_id: FromPath[int]) -> int:
    return _order_id(order_id)


class OrderController(Controller):
    path = "/orders"
    dependencies = DEPENDENCIES

    @post("/", dependencies=validator(_new_order, body=True))
    async def create_order(
        self,
        data: JSONBody[OrderIn],
        valid: NamedDependency[dict[str, Any]],
        db: Db,
    ) -> Response[Order]:
        """201 on the first request, 200 with the same body on an identical replay, else 409."""
        wanted = valid
        params = {"external_id": data.external_id, **wanted}
        created = (await db.execute(q.INSERT, params)).first()
        if created is not None:
            order = q.to_order(created, wanted["customer_email"])
            return Response(order, status_code=HTTP_201_CREATED)

        existing = (await db.execute(q.SELECT_BY_EXTERNAL_ID, params)).first()
        if existing is None:
            # Nothing inserted and no order with this key: the customer is what is missing.
            raise invalid_field(
                "customer_email",
                f"no customer {wanted['customer_email']!r}; create it first",
                status=422,
            )
        # Decimal equality is numeric, so "19.9" and 19.90 are the same amount.
        differs = [field for field, value in wanted.items() if getattr(existing, field) != value]
        if differs:
            raise problem(
                409,
                "idempotency-conflict",
                "Conflicting order",
                f"external_id {data.external_id!r} already names order {existing.id} that "
                f"differs in {', '.join(differs)}; use a new external_id for a new order",
                field="external_id",
                differs=differs,
                order_id=existing.id,
            )
        return Response(q.to_order(existing), status_code=HTTP_200_OK)

    @patch("/{order_id:int}", dependencies=validator(_status_change, body=True))
    async def change_status(
        self, data: JSONBody[OrderStatusIn], valid: NamedDependency[dict[str, Any]], db: Db
    ) -> Order:
        params = valid
        order_id, status = params["order_id"], params["new_status"]
        changed = (await db.execute(q.UPDATE_STATUS, params)).first()
        if changed is not None:
            return q.to_order(changed)
        current = (await db.execute(q.SELECT_BY_ID, params)).first()
        if current is None:
            raise not_found(f"order {order_id}")
        if current.status == status:
            return q.to_order(current)  # re-applying the current status: a safe no-op
        raise problem(
            409,
            "invalid-transition",
            "Invalid status transition",
            f"order {order_id} is {current.status!r} and cannot become {status!r}; "
            f"from {current.status!r} it can become {describe_next(current.status)}",
            field="status",
            current_status=current.status,
        )

    @get("/{order_id:int}", dependencies=validator(_existing_order))
    async def get_order(self, valid: NamedDependency[int], db: Db) -> Order:
        order_id = valid
        row = (await db.execute(q.SELECT_BY_ID, {"order_id": order_id})).first()
        if row is None:
            raise not_found(f"order {order_id}")
        return q.to_order(row)
