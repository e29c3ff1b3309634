"""Order request and response bodies. Money travels as a decimal string, never a float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from service.api.customer_schemas import EmailText, ExternalId
from service.table_values import OrderStatus


class OrderIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    external_id: ExternalId
    customer_email: EmailText
    status: OrderStatus
    # A JSON number or a decimal string; both are decoded from their text straight into
    # Decimal. Places, sign and range are checked by service.api.money.parse_amount.
    total_amount: Decimal
    # Three ASCII letters, either case; service.api.money.parse_currency upper-cases it.
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]


class OrderStatusIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: OrderStatus


class Order(msgspec.Struct, kw_only=True):
    id: int
    external_id: str
    customer_email: str
    status: OrderStatus
    total_amount: str  # "19.99"
    currency: str
    created_at: datetime
    updated_at: datetime


class OrderPage(msgspec.Struct, kw_only=True):
    items: list[Order]
    next_cursor: str | None
