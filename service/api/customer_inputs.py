"""What the customer routes accept, checked before any database work (see service.api.validated).

Each function is one route's `valid` dependency: Litestar hands it the path, query or body
values, applies their declared constraints, and a failure here is a 4xx before a session opens.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

from litestar.params import FromQuery, JSONBody, Parameter

from service.api.emails import normalise_email
from service.api.pagination import DEFAULT_LIMIT, Limit, decode_cursor
from service.api.schemas import MAX_BATCH, CustomerBatchIn, CustomerIn
from service.problems import problem

# The email in the path. normalise_email does the real check; NUL is refused here because
# PostgreSQL text cannot hold it, so it would otherwise fail in the database as a 500.
EmailPath = Annotated[str, Parameter(pattern=r"^[^\x00]*$", description="customer email")]
Cursor = FromQuery[str | None]


class EmailKey(NamedTuple):
    given: str  # as the client wrote it, for messages
    key: str  # normalised: what the table holds


class Page(NamedTuple):
    after: int
    limit: int


class OrdersPage(NamedTuple):
    email: EmailKey
    page: Page


def email_key(email: EmailPath) -> EmailKey:
    return EmailKey(email, normalise_email(email))


def customer_upsert(email: EmailPath, data: JSONBody[CustomerIn]) -> dict[str, str]:
    return {"email": normalise_email(email), "name": data.name}


def customers_page(limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> Page:
    return Page(decode_cursor("customers", cursor), limit)


def orders_page(
    email: EmailPath, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
) -> OrdersPage:
    return OrdersPage(email_key(email), Page(decode_cursor("orders", cursor), limit))


def customer_batch(data: JSONBody[CustomerBatchIn]) -> dict[str, list[str]]:
    """The bulk upsert's two arrays: normalised emails, sorted, and their names.

    The last entry for an email wins, as a loop of PUTs would. Sorted keys: concurrent batches
    lock shared rows in the same order, so they queue instead of deadlocking.
    """
    if len(data.customers) > MAX_BATCH:
        raise problem(
            413,
            "batch-too-large",
            "Batch too large",
            f"customers: at most {MAX_BATCH} per batch, got {len(data.customers)}; "
            "split it into several requests",
            field="customers",
            limit=MAX_BATCH,
        )
    latest: dict[str, str] = {}
    for index, item in enumerate(data.customers):
        latest[normalise_email(item.email, f"customers[{index}].email")] = item.name
    emails = sorted(latest)
    return {"emails": emails, "names": [latest[email] for email in emails]}
