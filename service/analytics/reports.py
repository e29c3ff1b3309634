"""The built-in reports over customers and orders.

Money is never summed across currencies, so every money row carries its currency. Days are
UTC calendar days. Time ranges are half-open: `from` inclusive, `to` exclusive.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import msgspec
from sqlalchemy import text

from service.analytics.params import Currency, ReportParams, Status, Timestamp
from service.analytics.registry import Registry, Report


class _Range(ReportParams, frozen=True):
    from_: Timestamp = msgspec.field(name="from")
    to: Timestamp

    def __post_init__(self) -> None:
        if self.to <= self.from_:
            raise ValueError("to: must be later than `from`")


class DailyRevenueParams(ReportParams, frozen=True):
    days: Annotated[
        int, msgspec.Meta(ge=1, le=366, description="UTC calendar days, today included")
    ] = 30
    status: Status = "completed"
    currency: Currency | None = None


class DailyRevenueRow(msgspec.Struct, frozen=True):
    day: dt.date
    currency: str
    order_count: int
    revenue: Decimal


DAILY_REVENUE = Report(
    name="daily-revenue",
    description="Orders and revenue per UTC day and currency over the last `days` days "
    "(today included), for one status; days without orders are absent.",
    sql=text(
        """
        SELECT CAST(o.created_at AT TIME ZONE 'UTC' AS date) AS day,
               o.currency,
               count(*) AS order_count,
               sum(o.total_amount) AS revenue
        FROM orders AS o
        WHERE o.status = :status
          AND o.created_at >= (date_trunc('day', now() AT TIME ZONE 'UTC')
                               - make_interval(days => :days - 1)) AT TIME ZONE 'UTC'
          AND (CAST(:currency AS text) IS NULL OR o.currency = :currency)
        GROUP BY 1, 2
        ORDER BY day, currency
        LIMIT :row_limit
        """
    ),
    params=DailyRevenueParams,
    row=DailyRevenueRow,
    timeout=5.0,
    max_rows=5000,
)


class TopCustomersParams(ReportParams, frozen=True):
    since: Annotated[dt.date, msgspec.Meta(description="UTC day, inclusive")]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100, description="customers per currency")] = 10
    status: Status = "completed"
    currency: Currency | None = None
    email_prefix: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class TopCustomersRow(msgspec.Struct, frozen=True):
    currency: str
    rank: int
    customer_id: int
    email: str
    name: str
    order_count: int
    revenue: Decimal


TOP_CUSTOMERS = Report(
    name="top-customers",
    description="Customers ranked by revenue since a UTC day, per currency (ties by customer "
    "id), for one status; optionally only emails starting with `email_prefix`.",
    sql=text(
        """
        WITH per_customer AS (
            SELECT c.id AS customer_id, c.email, c.name, o.currency,
                   count(*) AS order_count, sum(o.total_amount) AS revenue
            FROM orders AS o
            JOIN customers AS c ON c.id = o.customer_id
            WHERE o.status = :status
              AND o.created_at >= CAST(CAST(:since AS date) AS timestamp) AT TIME ZONE 'UTC'
              AND (CAST(:currency AS text) IS NULL OR o.currency = :currency)
              AND (CAST(:email_prefix AS text) IS NULL
                   OR starts_with(c.email, lower(:email_prefix)))
            GROUP BY c.id, o.currency
        ), ranked AS (
            SELECT p.*, row_number() OVER (
                       PARTITION BY p.currency ORDER BY p.revenue DESC, p.customer_id
                   ) AS rank
            FROM per_customer AS p
        )
        SELECT currency, rank, customer_id, email, name, order_count, revenue
        FROM ranked
        WHERE rank <= :limit
        ORDER BY currency, rank
        LIMIT :row_limit
        """
    ),
    params=TopCustomersParams,
    row=TopCustomersRow,
    timeout=5.0,
    max_rows=2000,
)


class StatusBreakdownParams(_Range, frozen=True):
    currency: Currency | None = None


class StatusBreakdownRow(msgspec.Struct, frozen=True):
    status: str
    currency: str
    order_count: int
    amount: Decimal


ORDER_STATUS_BREAKDOWN = Report(
    name="order-status-breakdown",
    description="Orders and amount per status and currency created in [from, to).",
    sql=text(
        """
        SELECT o.status, o.currency, count(*) AS order_count, sum(o.total_amount) AS amount
        FROM orders AS o
        WHERE o.created_at >= :from_ AND o.created_at < :to
          AND (CAST(:currency AS text) IS NULL OR o.currency = :currency)
        GROUP BY o.status, o.currency
        ORDER BY o.status, o.currency
        LIMIT :row_limit
        """
    ),
    params=StatusBreakdownParams,
    row=StatusBreakdownRow,
    timeout=5.0,
    max_rows=1000,
)


class CurrencyRevenueParams(_Range, frozen=True):
    status: Status = "completed"


class CurrencyRevenueRow(msgspec.Struct, frozen=True):
    currency: str
    order_count: int
    revenue: Decimal


REVENUE_BY_CURRENCY = Report(
    name="revenue-by-currency",
    description="Orders and revenue per currency created in [from, to), for one status.",
    sql=text(
        """
        SELECT o.currency, count(*) AS order_count, sum(o.total_amount) AS revenue
        FROM orders AS o
        WHERE o.status = :status AND o.created_at >= :from_ AND o.created_at < :to
        GROUP BY o.currency
        ORDER BY o.currency
        LIMIT :row_limit
        """
    ),
    params=CurrencyRevenueParams,
    row=CurrencyRevenueRow,
    timeout=5.0,
    max_rows=1000,
)

REPORTS = Registry()
for _report in (DAILY_REVENUE, TOP_CUSTOMERS, ORDER_STATUS_BREAKDOWN, REVENUE_BY_CURRENCY):
    REPORTS.register(_report)
